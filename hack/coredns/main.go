// A CoreDNS build with only the plugins acmg's tests and supported layouts use.
// Compiles in a fraction of the time of the full plugin set (no cloud SDKs).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/acl"
	_ "github.com/coredns/coredns/plugin/any"
	_ "github.com/coredns/coredns/plugin/autopath"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/chaos"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/header"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/k8s_external"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/local"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metadata"
	_ "github.com/coredns/coredns/plugin/minimal"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/whoami"
)

// keep is the set of directives compiled in; their order comes from CoreDNS's
// canonical list so plugin chaining behaves exactly as in an upstream build.
var keep = map[string]bool{
	"metadata": true, "reload": true, "bind": true, "debug": true, "ready": true,
	"health": true, "prometheus": true, "errors": true, "log": true, "local": true,
	"acl": true, "any": true, "chaos": true, "loadbalance": true, "cache": true,
	"rewrite": true, "header": true, "autopath": true, "minimal": true,
	"template": true, "hosts": true, "k8s_external": true, "kubernetes": true,
	"file": true, "loop": true, "forward": true, "whoami": true,
}

func main() {
	var ds []string
	for _, d := range dnsserver.Directives {
		if keep[d] {
			ds = append(ds, d)
		}
	}
	dnsserver.Directives = ds
	coremain.Run()
}
