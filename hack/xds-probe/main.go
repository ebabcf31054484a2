// xds-probe asks istiod, over a raw ADS stream, for the listeners and routes it would give one
// gateway pod, and prints them as JSON (sorted, so tests can compare). The local control plane's
// pods are simulated (kwok) and run no Envoy, so this stands in for the gateway's Envoy: it
// presents the same node identity (type router, pod name, namespace, IP, labels) that the real
// proxy would, and reads what istiod answers.
//
//	xds-probe --pod acmg-gateway-x --namespace acmg-system --ip 10.244.0.7 --labels app=acmg-gateway
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	listenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	routeType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

type summary struct {
	Listeners []listenerSummary `json:"listeners"`
	Routes    []routeSummary    `json:"routes"`
}

type listenerSummary struct {
	Name       string   `json:"name"`
	Port       uint32   `json:"port"`
	RouteNames []string `json:"routeNames"`
}

type routeSummary struct {
	Name         string           `json:"name"`
	VirtualHosts []virtualHostSum `json:"virtualHosts"`
}

type virtualHostSum struct {
	Name    string     `json:"name"`
	Domains []string   `json:"domains"`
	Routes  []routeSum `json:"routes"`
}

type routeSum struct {
	Name     string   `json:"name,omitempty"`
	Match    string   `json:"match"`
	Clusters []string `json:"clusters"`
	Direct   uint32   `json:"directResponse,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:15010", "istiod's plaintext xDS address")
	pod := flag.String("pod", "", "the gateway pod's name")
	ns := flag.String("namespace", "", "the gateway pod's namespace")
	ip := flag.String("ip", "", "the gateway pod's IP")
	labels := flag.String("labels", "", "the gateway pod's labels, k=v,k=v")
	sa := flag.String("service-account", "default", "the gateway pod's service account")
	domain := flag.String("domain", "cluster.local", "the cluster's DNS domain")
	clusterID := flag.String("cluster-id", "Kubernetes", "istiod's cluster ID")
	version := flag.String("istio-version", "", "ISTIO_VERSION the proxy claims (default: none)")
	timeout := flag.Duration("timeout", 20*time.Second, "give up after this long")
	hold := flag.Bool("hold", false, "after printing, stay connected as the gateway's proxy (ACKing istiod's pushes) until killed or stdin closes, so istiod's debug endpoints (config_dump?proxyID=pod.ns) answer for it")
	flag.Parse()
	if *pod == "" || *ns == "" || *ip == "" {
		fail("--pod, --namespace and --ip are required")
	}
	// Held, the stream outlives the timeout, which then bounds only the first answer.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := time.AfterFunc(*timeout, cancel)
	node, err := proxyNode(*pod, *ns, *ip, *labels, *sa, *domain, *clusterID, *version)
	if err != nil {
		fail(err.Error())
	}
	out, stream, err := probe(ctx, *addr, node)
	if err != nil {
		fail(err.Error())
	}
	first.Stop()
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
	if !*hold {
		return
	}
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	holdStream(stream, node, out)
}

// holdStream keeps the stream as Envoy would: each push ACKed, and the route configurations the current
// listeners name kept subscribed (an RDS request without names would unsubscribe from every one).
func holdStream(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient, node *core.Node, first *summary) {
	routes := []string{}
	for _, l := range first.Listeners {
		routes = append(routes, l.RouteNames...)
	}
	send := func(typeURL, version, nonce string, names []string) error {
		return stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names})
	}
	var routeVersion, routeNonce string
	for {
		res, err := stream.Recv()
		if err != nil {
			return
		}
		switch res.TypeUrl {
		case listenerType:
			if err := send(res.TypeUrl, res.VersionInfo, res.Nonce, nil); err != nil {
				return
			}
			names := map[string]bool{}
			for _, a := range res.Resources {
				l := &listener.Listener{}
				if a.UnmarshalTo(l) != nil {
					continue
				}
				for _, n := range routeNamesOf(l) {
					names[n] = true
				}
			}
			routes = sortedNames(names)
			if err := send(routeType, routeVersion, routeNonce, routes); err != nil {
				return
			}
		case routeType:
			routeVersion, routeNonce = res.VersionInfo, res.Nonce
			if err := send(res.TypeUrl, res.VersionInfo, res.Nonce, routes); err != nil {
				return
			}
		default:
			if err := send(res.TypeUrl, res.VersionInfo, res.Nonce, nil); err != nil {
				return
			}
		}
	}
}

// routeNamesOf lists the route configurations a listener's HTTP connection managers name (RDS).
func routeNamesOf(l *listener.Listener) []string {
	names := []string{}
	for _, fc := range l.FilterChains {
		for _, f := range fc.Filters {
			m := &hcm.HttpConnectionManager{}
			if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(m) != nil {
				continue
			}
			if n := m.GetRds().GetRouteConfigName(); n != "" && !contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "xds-probe: "+msg)
	os.Exit(1)
}

// proxyNode builds the node identity a gateway's istio-agent sends: id router~IP~pod.ns~ns.svc.<domain>
// and the metadata istiod reads to find the pod and select Gateways by labels.
func proxyNode(pod, ns, ip, labelList, sa, domain, clusterID, version string) (*core.Node, error) {
	labels := map[string]any{}
	for _, kv := range strings.Split(labelList, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--labels: %q is not k=v", kv)
		}
		labels[k] = v
	}
	meta := map[string]any{
		"NAMESPACE":       ns,
		"NAME":            pod,
		"LABELS":          labels,
		"CLUSTER_ID":      clusterID,
		"INSTANCE_IPS":    ip,
		"SERVICE_ACCOUNT": sa,
		"DNS_DOMAIN":      ns + ".svc." + domain,
	}
	if version != "" {
		meta["ISTIO_VERSION"] = version
	}
	st, err := structpb.NewStruct(meta)
	if err != nil {
		return nil, err
	}
	return &core.Node{Id: fmt.Sprintf("router~%s~%s.%s~%s.svc.%s", ip, pod, ns, ns, domain), Metadata: st}, nil
}

// probe returns the summary and the open stream (closed with ctx).
func probe(ctx context.Context, addr string, node *core.Node) (*summary, discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	go func() { <-ctx.Done(); conn.Close() }()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the ADS stream to %s: %w", addr, err)
	}
	out, err := summarize(stream, node)
	return out, stream, err
}

func summarize(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient, node *core.Node) (*summary, error) {
	// Listeners first, as Envoy asks: the route configurations to request are named in them.
	lres, err := request(stream, node, listenerType, nil)
	if err != nil {
		return nil, err
	}
	out := &summary{Listeners: []listenerSummary{}, Routes: []routeSummary{}}
	routeNames := map[string]bool{}
	for _, a := range lres.Resources {
		l := &listener.Listener{}
		if err := a.UnmarshalTo(l); err != nil {
			return nil, fmt.Errorf("decoding a listener: %w", err)
		}
		ls := listenerSummary{Name: l.Name, Port: l.GetAddress().GetSocketAddress().GetPortValue(), RouteNames: routeNamesOf(l)}
		for _, n := range ls.RouteNames {
			routeNames[n] = true
		}
		sort.Strings(ls.RouteNames)
		out.Listeners = append(out.Listeners, ls)
	}
	sort.Slice(out.Listeners, func(i, j int) bool { return out.Listeners[i].Name < out.Listeners[j].Name })
	if len(routeNames) == 0 {
		return out, nil
	}
	names := make([]string, 0, len(routeNames))
	for n := range routeNames {
		names = append(names, n)
	}
	sort.Strings(names)
	// ACK the listeners (as Envoy would) while asking for the routes they name.
	rres, err := request(stream, node, routeType, names, lres)
	if err != nil {
		return nil, err
	}
	for _, a := range rres.Resources {
		rc := &route.RouteConfiguration{}
		if err := a.UnmarshalTo(rc); err != nil {
			return nil, fmt.Errorf("decoding a route configuration: %w", err)
		}
		out.Routes = append(out.Routes, summarizeRoutes(rc))
	}
	sort.Slice(out.Routes, func(i, j int) bool { return out.Routes[i].Name < out.Routes[j].Name })
	return out, nil
}

// request sends one DiscoveryRequest and returns the first response of that type (istiod may push
// other types on the same stream meanwhile; they are skipped). acks are responses to acknowledge.
func request(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient, node *core.Node,
	typeURL string, names []string, acks ...*discovery.DiscoveryResponse,
) (*discovery.DiscoveryResponse, error) {
	for _, a := range acks {
		if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: a.TypeUrl, VersionInfo: a.VersionInfo, ResponseNonce: a.Nonce}); err != nil {
			return nil, err
		}
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		return nil, fmt.Errorf("sending the %s request: %w", short(typeURL), err)
	}
	for {
		res, err := stream.Recv()
		if err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", short(typeURL), err)
		}
		if res.TypeUrl == typeURL {
			return res, nil
		}
	}
}

func summarizeRoutes(rc *route.RouteConfiguration) routeSummary {
	rs := routeSummary{Name: rc.Name, VirtualHosts: []virtualHostSum{}}
	for _, vh := range rc.VirtualHosts {
		v := virtualHostSum{Name: vh.Name, Domains: append([]string{}, vh.Domains...), Routes: []routeSum{}}
		sort.Strings(v.Domains)
		for _, r := range vh.Routes {
			s := routeSum{Name: r.Name, Match: describeMatch(r.GetMatch()), Clusters: []string{}}
			if a := r.GetRoute(); a != nil {
				if c := a.GetCluster(); c != "" {
					s.Clusters = append(s.Clusters, c)
				}
				for _, w := range a.GetWeightedClusters().GetClusters() {
					s.Clusters = append(s.Clusters, w.Name)
				}
			}
			if d := r.GetDirectResponse(); d != nil {
				s.Direct = d.Status
			}
			sort.Strings(s.Clusters)
			v.Routes = append(v.Routes, s)
		}
		rs.VirtualHosts = append(rs.VirtualHosts, v)
	}
	sort.Slice(rs.VirtualHosts, func(i, j int) bool { return rs.VirtualHosts[i].Name < rs.VirtualHosts[j].Name })
	return rs
}

func describeMatch(m *route.RouteMatch) string {
	if m == nil {
		return ""
	}
	var path string
	switch {
	case m.GetPrefix() != "":
		path = "prefix:" + m.GetPrefix()
	case m.GetPath() != "":
		path = "path:" + m.GetPath()
	case m.GetSafeRegex() != nil:
		path = "regex:" + m.GetSafeRegex().GetRegex()
	case m.GetPathSeparatedPrefix() != "":
		path = "prefix:" + m.GetPathSeparatedPrefix()
	default:
		path = "prefix:"
	}
	// Header matchers (acmg's routes match the service's names by :authority), sorted by name.
	var hs []string
	for _, h := range m.GetHeaders() {
		switch {
		case h.GetStringMatch().GetSafeRegex() != nil:
			hs = append(hs, h.GetName()+"~"+h.GetStringMatch().GetSafeRegex().GetRegex())
		case h.GetStringMatch().GetExact() != "":
			hs = append(hs, h.GetName()+"="+h.GetStringMatch().GetExact())
		case h.GetStringMatch().GetPrefix() != "":
			hs = append(hs, h.GetName()+"^"+h.GetStringMatch().GetPrefix())
		default:
			hs = append(hs, h.GetName())
		}
	}
	sort.Strings(hs)
	if len(hs) > 0 {
		path += " " + strings.Join(hs, " ")
	}
	return path
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func short(typeURL string) string { return typeURL[strings.LastIndex(typeURL, ".")+1:] }
