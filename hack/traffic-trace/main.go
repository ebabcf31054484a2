// traffic-trace follows calls through one proxy as istiod configures it. It connects to istiod's
// plaintext xDS as a given proxy (a sidecar or a router-mode gateway: the node identity and metadata
// the pod's istio-agent would send), fetches what istiod gives that proxy (CDS, EDS, LDS and the
// RDS route configurations the listeners name), and runs each call read as JSON from stdin through
// Istio's own traffic simulator (istio.io/istio/pilot/pkg/simulation): listener, filter chain,
// virtual host. The simulator matches routes by path only, so the route is picked here as Envoy
// does (path, headers and query parameters, first match wins), and the matched route's policy
// (timeout, retries, fault, mirrors, rewrites, CORS, header changes) is printed for the caller to
// compare, with the endpoints istiod sends for the cluster it reaches. The local control plane's
// pods are simulated (kwok) and run no Envoy: this is what stands in for one.
//
//	echo '[{"address":"10.96.0.20","port":9080,"host":"reviews:9080","path":"/reviews/0","headers":{"end-user":"jason"}}]' |
//	  traffic-trace --type sidecar --pod productpage-x --namespace bookinfo --ip 10.244.0.9 --labels app=productpage
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnet "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"istio.io/istio/pilot/pkg/simulation"
	istiolog "istio.io/istio/pkg/log"
)

const (
	clusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	endpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	listenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	routeType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

	faultFilter = "envoy.filters.http.fault"
	corsFilter  = "envoy.filters.http.cors"
)

// callIn is one call as the caller describes it (stdin).
type callIn struct {
	Name     string            `json:"name,omitempty"`
	Address  string            `json:"address"`
	Port     int               `json:"port"`
	Protocol string            `json:"protocol,omitempty"` // http (default), http2, tcp
	Host     string            `json:"host,omitempty"`     // the Host header as the client sends it
	Path     string            `json:"path,omitempty"`
	Method   string            `json:"method,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Mode     string            `json:"mode,omitempty"` // outbound (sidecar default), gateway (router default), inbound
}

type virtualHostOut struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
}

type clusterRef struct {
	Name   string `json:"name"`
	Weight uint32 `json:"weight,omitempty"`
}

type retryOut struct {
	NumRetries           *uint32  `json:"numRetries,omitempty"`
	PerTryTimeout        string   `json:"perTryTimeout,omitempty"`
	RetryOn              string   `json:"retryOn,omitempty"`
	RetriableStatusCodes []uint32 `json:"retriableStatusCodes,omitempty"`
	From                 string   `json:"from"` // route or virtualHost
}

type routeOut struct {
	Name string `json:"name,omitempty"`
	// Match: the route's whole match (path specifier, headers, query parameters) as Envoy got it.
	Match            any          `json:"match"`
	MatchDescription string       `json:"matchDescription"`
	Headers          []any        `json:"headers,omitempty"`
	QueryParameters  []any        `json:"queryParameters,omitempty"`
	Cluster          string       `json:"cluster,omitempty"`
	WeightedClusters []clusterRef `json:"weightedClusters,omitempty"`
	ClusterHeader    string       `json:"clusterHeader,omitempty"`
	DirectResponse   uint32       `json:"directResponse,omitempty"`
	Redirect         any          `json:"redirect,omitempty"`
	Timeout          *string      `json:"timeout,omitempty"` // nil: not set (Envoy's default 15s); "0s": disabled
	IdleTimeout      string       `json:"idleTimeout,omitempty"`
	Retry            *retryOut    `json:"retry,omitempty"`
	RetryPolicy      any          `json:"retryPolicy,omitempty"`
	Fault            any          `json:"fault,omitempty"`
	Mirrors          []any        `json:"mirrors,omitempty"`
	PrefixRewrite    string       `json:"prefixRewrite,omitempty"`
	RegexRewrite     any          `json:"regexRewrite,omitempty"`
	HostRewrite      string       `json:"hostRewrite,omitempty"`
	AutoHostRewrite  bool         `json:"autoHostRewrite,omitempty"`
	Cors             any          `json:"cors,omitempty"`
	HeadersToAdd     []any        `json:"requestHeadersToAdd,omitempty"`
	HeadersToRemove  []string     `json:"requestHeadersToRemove,omitempty"`
	RespHeadersAdd   []any        `json:"responseHeadersToAdd,omitempty"`
	RespHeadersRem   []string     `json:"responseHeadersToRemove,omitempty"`
	HashPolicy       []any        `json:"hashPolicy,omitempty"`
	// Unevaluated names match fields this program does not evaluate (a route with one may match less than it says).
	Unevaluated []string `json:"unevaluated,omitempty"`
}

type endpointOut struct {
	Address  string `json:"address"`
	Health   string `json:"health,omitempty"`
	Locality string `json:"locality,omitempty"`
}

type result struct {
	Name           string          `json:"name,omitempty"`
	Call           callIn          `json:"call"`
	Listener       string          `json:"listener,omitempty"`
	FilterChain    string          `json:"filterChain,omitempty"`
	RouteConfig    string          `json:"routeConfig,omitempty"`
	VirtualHost    *virtualHostOut `json:"virtualHost,omitempty"`
	SimulatorRoute string          `json:"simulatorRoute,omitempty"` // the route the simulator picked (path only)
	Route          *routeOut       `json:"route,omitempty"`
	RouteIndex     *int            `json:"routeIndex,omitempty"`
	Cluster        string          `json:"cluster,omitempty"`
	ClusterType    string          `json:"clusterType,omitempty"`
	TCPWeighted    []clusterRef    `json:"tcpWeightedClusters,omitempty"`
	Endpoints      []endpointOut   `json:"endpoints,omitempty"`
	// Failure is one of: no-listener, no-filter-chain, protocol-error, tls-error, no-virtual-host,
	// tls-redirect, no-route, direct-response, redirect, no-cluster, no-endpoints, blackhole, error.
	// passthrough is not a failure (the call leaves for its original destination) and has Passthrough set.
	Failure     string `json:"failure,omitempty"`
	Status      int    `json:"status,omitempty"` // the HTTP status a client would see for a failure, where one applies
	Error       string `json:"error,omitempty"`
	Passthrough bool   `json:"passthrough,omitempty"`
}

type output struct {
	Proxy struct {
		ID        string `json:"id"`
		Type      string `json:"type"`
		Listeners int    `json:"listeners"`
		Routes    int    `json:"routeConfigurations"`
		Clusters  int    `json:"clusters"`
		Endpoints int    `json:"clusterLoadAssignments"`
		// The RBAC policies (Istio's AuthorizationPolicies, "ns[NS]-policy[NAME]-rule[N]") the
		// proxy's listeners enforce, HTTP and network filters; shadow (dry-run) rules prefixed "shadow:".
		RBACPolicies []string `json:"rbacPolicies"`
	} `json:"proxy"`
	Results []result `json:"results"`
}

type xdsState struct {
	listeners []*listener.Listener
	routes    map[string]*route.RouteConfiguration
	clusters  map[string]*cluster.Cluster
	cla       map[string]*endpoint.ClusterLoadAssignment
}

func main() {
	// Istio's log writes to stdout by default: keep stdout for the JSON.
	lo := istiolog.DefaultOptions()
	lo.OutputPaths = []string{"stderr"}
	lo.ErrorOutputPaths = []string{"stderr"}
	_ = istiolog.Configure(lo)

	// A flag set of our own: Istio's test helpers, linked in with the simulator, may register theirs.
	fs := flag.NewFlagSet("traffic-trace", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:15010", "istiod's plaintext xDS address")
	typ := fs.String("type", "sidecar", "the proxy's type: sidecar or router")
	pod := fs.String("pod", "", "the pod's name")
	ns := fs.String("namespace", "", "the pod's namespace")
	ip := fs.String("ip", "", "the pod's IP")
	labels := fs.String("labels", "", "the pod's labels, k=v,k=v")
	sa := fs.String("service-account", "default", "the pod's service account")
	domain := fs.String("domain", "cluster.local", "the cluster's DNS domain")
	clusterID := fs.String("cluster-id", "Kubernetes", "istiod's cluster ID")
	version := fs.String("istio-version", "", "ISTIO_VERSION the proxy claims (default: none)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	_ = fs.Parse(os.Args[1:])
	if *pod == "" || *ns == "" || *ip == "" {
		fail("--pod, --namespace and --ip are required")
	}
	if *typ != "sidecar" && *typ != "router" {
		fail("--type must be sidecar or router")
	}
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading the calls from stdin: " + err.Error())
	}
	calls, err := parseCalls(raw)
	if err != nil {
		fail(err.Error())
	}
	node, err := proxyNode(*typ, *pod, *ns, *ip, *labels, *sa, *domain, *clusterID, *version)
	if err != nil {
		fail(err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	st, err := fetch(ctx, *addr, node)
	if err != nil {
		fail(err.Error())
	}
	out := output{Results: []result{}}
	out.Proxy.ID, out.Proxy.Type = node.Id, *typ
	out.Proxy.Listeners, out.Proxy.Routes, out.Proxy.Clusters, out.Proxy.Endpoints = len(st.listeners), len(st.routes), len(st.clusters), len(st.cla)
	out.Proxy.RBACPolicies = st.rbacPolicies()
	for _, c := range calls {
		if c.Mode == "" {
			c.Mode = map[string]string{"sidecar": "outbound", "router": "gateway"}[*typ]
		}
		out.Results = append(out.Results, st.trace(c))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "traffic-trace: "+msg)
	os.Exit(1)
}

// parseCalls reads one call object or an array of them.
func parseCalls(raw []byte) ([]callIn, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return nil, errors.New("no calls on stdin (a JSON object or array of {address, port, host, path, headers})")
	}
	var calls []callIn
	if strings.HasPrefix(s, "{") {
		var c callIn
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
		calls = []callIn{c}
	} else if err := json.Unmarshal([]byte(s), &calls); err != nil {
		return nil, fmt.Errorf("stdin: %w", err)
	}
	for i, c := range calls {
		if c.Port <= 0 || c.Port > 65535 {
			return nil, fmt.Errorf("call %d: port %d is not a port", i, c.Port)
		}
		switch c.Protocol {
		case "", "http", "http2", "tcp":
		default:
			return nil, fmt.Errorf("call %d: protocol %q: use http, http2 or tcp", i, c.Protocol)
		}
		switch c.Mode {
		case "", "outbound", "gateway", "inbound":
		default:
			return nil, fmt.Errorf("call %d: mode %q: use outbound, gateway or inbound", i, c.Mode)
		}
	}
	return calls, nil
}

// proxyNode builds the identity the pod's istio-agent sends: id TYPE~IP~pod.ns~ns.svc.<domain> and
// the metadata istiod reads to find the pod, its labels (workload selectors, Gateways) and version.
func proxyNode(typ, pod, ns, ip, labelList, sa, domain, clusterID, version string) (*core.Node, error) {
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
		"NAMESPACE":         ns,
		"NAME":              pod,
		"LABELS":            labels,
		"CLUSTER_ID":        clusterID,
		"INSTANCE_IPS":      ip,
		"SERVICE_ACCOUNT":   sa,
		"DNS_DOMAIN":        ns + ".svc." + domain,
		"INTERCEPTION_MODE": "REDIRECT",
	}
	if version != "" {
		meta["ISTIO_VERSION"] = version
	}
	st, err := structpb.NewStruct(meta)
	if err != nil {
		return nil, err
	}
	return &core.Node{Id: fmt.Sprintf("%s~%s~%s.%s~%s.svc.%s", typ, ip, pod, ns, ns, domain), Metadata: st}, nil
}

// fetch opens an ADS stream and asks in Envoy's order: clusters, their endpoints, listeners, and the
// route configurations the listeners name, ACKing each answer as Envoy would.
func fetch(ctx context.Context, addr string, node *core.Node) (*xdsState, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening the ADS stream to %s: %w", addr, err)
	}
	st := &xdsState{routes: map[string]*route.RouteConfiguration{}, clusters: map[string]*cluster.Cluster{}, cla: map[string]*endpoint.ClusterLoadAssignment{}}

	cres, err := request(stream, node, clusterType, nil)
	if err != nil {
		return nil, err
	}
	edsNames := []string{}
	for _, a := range cres.Resources {
		c := &cluster.Cluster{}
		if err := a.UnmarshalTo(c); err != nil {
			return nil, fmt.Errorf("decoding a cluster: %w", err)
		}
		st.clusters[c.Name] = c
		if c.GetType() == cluster.Cluster_EDS {
			edsNames = append(edsNames, edsName(c))
		}
	}
	sort.Strings(edsNames)
	last := cres
	if len(edsNames) > 0 {
		eres, err := request(stream, node, endpointType, edsNames, cres)
		if err != nil {
			return nil, err
		}
		for _, a := range eres.Resources {
			cla := &endpoint.ClusterLoadAssignment{}
			if err := a.UnmarshalTo(cla); err != nil {
				return nil, fmt.Errorf("decoding endpoints: %w", err)
			}
			st.cla[cla.ClusterName] = cla
		}
		last = eres
	}
	lres, err := request(stream, node, listenerType, nil, last)
	if err != nil {
		return nil, err
	}
	routeNames := map[string]bool{}
	for _, a := range lres.Resources {
		l := &listener.Listener{}
		if err := a.UnmarshalTo(l); err != nil {
			return nil, fmt.Errorf("decoding a listener: %w", err)
		}
		st.listeners = append(st.listeners, l)
		for _, fc := range append(append([]*listener.FilterChain{}, l.FilterChains...), l.DefaultFilterChain) {
			if m := httpManager(fc); m != nil {
				if n := m.GetRds().GetRouteConfigName(); n != "" {
					routeNames[n] = true
				}
			}
		}
	}
	sort.Slice(st.listeners, func(i, j int) bool { return st.listeners[i].Name < st.listeners[j].Name })
	if len(routeNames) > 0 {
		names := make([]string, 0, len(routeNames))
		for n := range routeNames {
			names = append(names, n)
		}
		sort.Strings(names)
		rres, err := request(stream, node, routeType, names, lres)
		if err != nil {
			return nil, err
		}
		for _, a := range rres.Resources {
			rc := &route.RouteConfiguration{}
			if err := a.UnmarshalTo(rc); err != nil {
				return nil, fmt.Errorf("decoding a route configuration: %w", err)
			}
			st.routes[rc.Name] = rc
		}
	}
	return st, nil
}

func edsName(c *cluster.Cluster) string {
	if n := c.GetEdsClusterConfig().GetServiceName(); n != "" {
		return n
	}
	return c.Name
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

func short(typeURL string) string { return typeURL[strings.LastIndex(typeURL, ".")+1:] }

// rbacPolicies lists the RBAC policy names of every listener's filter chains (sorted, once each).
func (st *xdsState) rbacPolicies() []string {
	seen := map[string]bool{}
	add := func(prefix string, policies map[string]bool) {
		for n := range policies {
			seen[prefix+n] = true
		}
	}
	for _, l := range st.listeners {
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				if f.GetTypedConfig() == nil {
					continue
				}
				n := &rbacnet.RBAC{}
				if f.GetTypedConfig().UnmarshalTo(n) == nil {
					add("", keys(n.GetRules().GetPolicies()))
					add("shadow:", keys(n.GetShadowRules().GetPolicies()))
					continue
				}
				m := &hcm.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(m) != nil {
					continue
				}
				for _, hf := range m.HttpFilters {
					h := &rbachttp.RBAC{}
					if hf.GetTypedConfig() == nil || hf.GetTypedConfig().UnmarshalTo(h) != nil {
						continue
					}
					add("", keys(h.GetRules().GetPolicies()))
					add("shadow:", keys(h.GetShadowRules().GetPolicies()))
				}
			}
		}
	}
	return sortedKeys(seen)
}

func keys[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

func httpManager(fc *listener.FilterChain) *hcm.HttpConnectionManager {
	if fc == nil {
		return nil
	}
	for _, f := range fc.Filters {
		m := &hcm.HttpConnectionManager{}
		if f.GetTypedConfig() != nil && f.GetTypedConfig().MessageIs(m) && f.GetTypedConfig().UnmarshalTo(m) == nil {
			return m
		}
	}
	return nil
}

func tcpProxy(fc *listener.FilterChain) *tcpproxy.TcpProxy {
	if fc == nil {
		return nil
	}
	for _, f := range fc.Filters {
		p := &tcpproxy.TcpProxy{}
		if f.GetTypedConfig() != nil && f.GetTypedConfig().MessageIs(p) && f.GetTypedConfig().UnmarshalTo(p) == nil {
			return p
		}
	}
	return nil
}

// simulate runs the simulator. Its test handle is nil outside a test: the paths that succeed never
// touch it, but a failing lookup (t.Fatal) would dereference it; that panic becomes an error.
func (st *xdsState) simulate(c simulation.Call) (res simulation.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the simulator could not evaluate this call: %v%s", r, st.missingRoutes())
		}
	}()
	routes := make([]*route.RouteConfiguration, 0, len(st.routes))
	for _, n := range sortedKeys(st.routes) {
		routes = append(routes, st.routes[n])
	}
	clusters := make([]*cluster.Cluster, 0, len(st.clusters))
	for _, n := range sortedKeys(st.clusters) {
		clusters = append(clusters, st.clusters[n])
	}
	sim := simulation.Simulation{Listeners: st.listeners, Clusters: clusters, Routes: routes}
	return sim.Run(c), nil
}

// missingRoutes names the route configurations listeners refer to that istiod did not send (the
// usual reason the simulator fails a lookup), as a suffix for an error message.
func (st *xdsState) missingRoutes() string {
	missing := map[string]bool{}
	for _, l := range st.listeners {
		for _, fc := range append(append([]*listener.FilterChain{}, l.FilterChains...), l.DefaultFilterChain) {
			if n := httpManager(fc).GetRds().GetRouteConfigName(); n != "" && st.routes[n] == nil {
				missing[n] = true
			}
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf(" (route configurations named by listeners but not sent by istiod: %s)", strings.Join(sortedKeys(missing), ", "))
}

func (st *xdsState) trace(c callIn) result {
	out := result{Name: c.Name, Call: c}
	protocol := simulation.Protocol(c.Protocol)
	if c.Protocol == "" {
		protocol = simulation.HTTP
	}
	headers := http.Header{}
	for k, v := range c.Headers {
		headers.Set(k, v)
	}
	host := strings.ToLower(c.Host) // Envoy matches domains case-insensitively
	sc := simulation.Call{
		Address: c.Address, Port: c.Port, Path: c.Path, Protocol: protocol, HostHeader: host, Headers: headers,
		CallMode: simulation.CallMode(c.Mode),
	}
	res, err := st.simulate(sc)
	if err != nil {
		out.Failure, out.Error = "error", err.Error()
		return out
	}
	out.Listener, out.FilterChain, out.RouteConfig, out.SimulatorRoute = res.ListenerMatched, res.FilterChainMatched, res.RouteConfigMatched, res.RouteMatched
	if res.Error != nil {
		out.Error = res.Error.Error()
		switch {
		case errors.Is(res.Error, simulation.ErrNoListener):
			out.Failure = "no-listener"
		case errors.Is(res.Error, simulation.ErrNoFilterChain), errors.Is(res.Error, simulation.ErrMultipleFilterChain):
			out.Failure = "no-filter-chain"
		case errors.Is(res.Error, simulation.ErrProtocolError):
			out.Failure = "protocol-error"
		case errors.Is(res.Error, simulation.ErrTLSError), errors.Is(res.Error, simulation.ErrMTLSError):
			out.Failure = "tls-error"
		case errors.Is(res.Error, simulation.ErrNoVirtualHost):
			out.Failure, out.Status = "no-virtual-host", 404
		case errors.Is(res.Error, simulation.ErrTLSRedirect):
			out.Failure, out.Status = "tls-redirect", 301
		case errors.Is(res.Error, simulation.ErrNoRoute):
			out.Failure, out.Status = "no-route", 404
		default:
			out.Failure = "error"
		}
		// A virtual host was found even when no route was: say which, and what it held.
		if vh := st.virtualHost(res); vh != nil {
			out.VirtualHost = &virtualHostOut{Name: vh.Name, Domains: sortedCopy(vh.Domains)}
		}
		return out
	}
	fc := st.filterChain(res)
	if res.VirtualHostMatched == "" {
		// A TCP filter chain: the simulator read the cluster from the TCP proxy.
		out.Cluster = res.ClusterMatched
		if p := tcpProxy(fc); p != nil && out.Cluster == "" {
			for _, w := range p.GetWeightedClusters().GetClusters() {
				out.TCPWeighted = append(out.TCPWeighted, clusterRef{Name: w.Name, Weight: w.Weight})
			}
		}
		st.finish(&out)
		return out
	}
	vh := st.virtualHost(res)
	if vh == nil {
		out.Failure, out.Error = "error", fmt.Sprintf("virtual host %q matched but not found again in route configuration %q", res.VirtualHostMatched, res.RouteConfigMatched)
		return out
	}
	out.VirtualHost = &virtualHostOut{Name: vh.Name, Domains: sortedCopy(vh.Domains)}
	path := c.Path
	if path == "" {
		path = "/"
	}
	idx, r := matchRoute(vh, path, headers, host, c.Method)
	if r == nil {
		out.Failure, out.Status, out.Error = "no-route", 404, "no route matched (path and headers)"
		return out
	}
	out.RouteIndex = &idx
	out.Route = describeRoute(vh, r)
	switch {
	case r.GetDirectResponse() != nil:
		out.Failure, out.Status = "direct-response", int(r.GetDirectResponse().GetStatus())
		return out
	case r.GetRedirect() != nil:
		out.Failure, out.Status = "redirect", 301
		return out
	}
	out.Cluster = out.Route.Cluster
	st.finish(&out)
	return out
}

// finish looks the cluster up in CDS and its endpoints in EDS, and names the outcome.
func (st *xdsState) finish(out *result) {
	name := out.Cluster
	if name == "" {
		if out.Route != nil && len(out.Route.WeightedClusters) > 0 || len(out.TCPWeighted) > 0 {
			return // weighted: the caller reads each cluster from the route
		}
		if out.Route != nil && out.Route.ClusterHeader != "" {
			return
		}
		out.Failure, out.Status, out.Error = "no-cluster", 503, "the route names no cluster"
		return
	}
	switch name {
	case "BlackHoleCluster", "block_all":
		out.Failure, out.Status = "blackhole", 502
		out.ClusterType = "STATIC"
		return
	case "PassthroughCluster", "InboundPassthroughCluster":
		out.Passthrough, out.ClusterType = true, "ORIGINAL_DST"
		return
	}
	c, ok := st.clusters[name]
	if !ok {
		out.Failure, out.Status, out.Error = "no-cluster", 503, fmt.Sprintf("cluster %q is not in CDS", name)
		return
	}
	out.ClusterType = c.GetType().String()
	if c.GetType() == cluster.Cluster_ORIGINAL_DST {
		out.Passthrough = true
		return
	}
	var cla *endpoint.ClusterLoadAssignment
	if c.GetType() == cluster.Cluster_EDS {
		cla = st.cla[edsName(c)]
	} else {
		cla = c.GetLoadAssignment()
	}
	for _, lle := range cla.GetEndpoints() {
		loc := strings.Trim(strings.Join([]string{lle.GetLocality().GetRegion(), lle.GetLocality().GetZone(), lle.GetLocality().GetSubZone()}, "/"), "/")
		for _, e := range lle.GetLbEndpoints() {
			a := e.GetEndpoint().GetAddress()
			s := ""
			switch {
			case a.GetSocketAddress() != nil:
				s = fmt.Sprintf("%s:%d", a.GetSocketAddress().GetAddress(), a.GetSocketAddress().GetPortValue())
			case a.GetEnvoyInternalAddress() != nil:
				s = "internal:" + a.GetEnvoyInternalAddress().GetServerListenerName()
				if id := a.GetEnvoyInternalAddress().GetEndpointId(); id != "" {
					s += "/" + id
				}
			case a.GetPipe() != nil:
				s = "unix:" + a.GetPipe().GetPath()
			}
			h := ""
			if hs := e.GetHealthStatus(); hs != core.HealthStatus_UNKNOWN && hs != core.HealthStatus_HEALTHY {
				h = hs.String()
			}
			out.Endpoints = append(out.Endpoints, endpointOut{Address: s, Health: h, Locality: loc})
		}
	}
	sort.Slice(out.Endpoints, func(i, j int) bool { return out.Endpoints[i].Address < out.Endpoints[j].Address })
	healthy := 0
	for _, e := range out.Endpoints {
		if e.Health == "" {
			healthy++
		}
	}
	if healthy == 0 {
		out.Failure, out.Status, out.Error = "no-endpoints", 503, fmt.Sprintf("cluster %q has no healthy endpoints", name)
	}
}

func (st *xdsState) listener(name string) *listener.Listener {
	for _, l := range st.listeners {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// filterChain finds the chain the simulator matched, by name (Istio names its chains; where a name
// repeats, the first chain of that name is taken).
func (st *xdsState) filterChain(res simulation.Result) *listener.FilterChain {
	l := st.listener(res.ListenerMatched)
	if l == nil {
		return nil
	}
	var found []*listener.FilterChain
	for _, fc := range append(append([]*listener.FilterChain{}, l.FilterChains...), l.DefaultFilterChain) {
		if fc != nil && fc.Name == res.FilterChainMatched {
			found = append(found, fc)
		}
	}
	if len(found) == 0 {
		return nil
	}
	return found[0]
}

// virtualHost finds the virtual host the simulator matched: in the RDS configuration it named, or
// inline in the matched chain's HTTP connection manager.
func (st *xdsState) virtualHost(res simulation.Result) *route.VirtualHost {
	var rc *route.RouteConfiguration
	if res.RouteConfigMatched != "" {
		rc = st.routes[res.RouteConfigMatched]
	} else if m := httpManager(st.filterChain(res)); m != nil {
		rc = m.GetRouteConfig()
	}
	if res.VirtualHostMatched == "" {
		return nil
	}
	for _, vh := range rc.GetVirtualHosts() {
		if vh.Name == res.VirtualHostMatched {
			return vh
		}
	}
	return nil
}

// matchRoute picks the first route whose path, headers and query parameters all match, as Envoy does.
func matchRoute(vh *route.VirtualHost, path string, headers http.Header, host, method string) (int, *route.Route) {
	for i, r := range vh.Routes {
		if routeMatches(r.GetMatch(), path, headers, host, method) {
			return i, r
		}
	}
	return -1, nil
}

func routeMatches(m *route.RouteMatch, fullPath string, headers http.Header, host, method string) bool {
	pathOnly, rawQuery, _ := strings.Cut(fullPath, "?")
	caseSensitive := m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()
	eq := func(a, b string) bool {
		if caseSensitive {
			return a == b
		}
		return strings.EqualFold(a, b)
	}
	hasPrefix := func(s, p string) bool {
		if caseSensitive {
			return strings.HasPrefix(s, p)
		}
		return strings.HasPrefix(strings.ToLower(s), strings.ToLower(p))
	}
	switch ps := m.GetPathSpecifier().(type) {
	case *route.RouteMatch_Prefix:
		if !hasPrefix(fullPath, ps.Prefix) {
			return false
		}
	case *route.RouteMatch_Path:
		if !eq(pathOnly, ps.Path) {
			return false
		}
	case *route.RouteMatch_SafeRegex:
		re, err := regexp.Compile("^(?:" + ps.SafeRegex.GetRegex() + ")$")
		if err != nil || !re.MatchString(pathOnly) {
			return false
		}
	case *route.RouteMatch_PathSeparatedPrefix:
		p := ps.PathSeparatedPrefix
		if !hasPrefix(pathOnly, p) || (len(pathOnly) > len(p) && pathOnly[len(p)] != '/') {
			return false
		}
	default:
		return false // connect matchers and path match policies: not evaluated, never matched here
	}
	for _, h := range m.GetHeaders() {
		if !headerMatches(h, headers, host, method, fullPath) {
			return false
		}
	}
	if len(m.GetQueryParameters()) > 0 {
		q, _ := url.ParseQuery(rawQuery)
		for _, qm := range m.GetQueryParameters() {
			vals, present := q[qm.GetName()]
			switch {
			case qm.GetPresentMatch():
				if !present {
					return false
				}
			case qm.GetStringMatch() != nil:
				if !present || !stringMatches(qm.GetStringMatch(), vals[0]) {
					return false
				}
			default:
				if !present {
					return false
				}
			}
		}
	}
	return true
}

// headerMatches is Envoy's HeaderUtility::matchHeaders: values of a repeated header are joined by ",".
func headerMatches(h *route.HeaderMatcher, headers http.Header, host, method, path string) bool {
	name := strings.ToLower(h.GetName())
	var vals []string
	switch name {
	case ":authority", "host":
		vals = []string{host}
	case ":method":
		if method == "" {
			method = "GET"
		}
		vals = []string{method}
	case ":path":
		vals = []string{path}
	case ":scheme":
		vals = []string{"http"}
	default:
		vals = headers.Values(name)
	}
	present := len(vals) > 0
	_, isPresent := h.GetHeaderMatchSpecifier().(*route.HeaderMatcher_PresentMatch)
	if !present && !h.GetTreatMissingHeaderAsEmpty() {
		if h.GetInvertMatch() {
			return isPresent && h.GetPresentMatch()
		}
		return isPresent && !h.GetPresentMatch()
	}
	value := strings.Join(vals, ",")
	var match bool
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case nil:
		match = true
	case *route.HeaderMatcher_ExactMatch:
		match = s.ExactMatch == "" || value == s.ExactMatch
	case *route.HeaderMatcher_SafeRegexMatch:
		re, err := regexp.Compile("^(?:" + s.SafeRegexMatch.GetRegex() + ")$")
		match = err == nil && re.MatchString(value)
	case *route.HeaderMatcher_RangeMatch:
		n, err := strconv.ParseInt(value, 10, 64)
		match = err == nil && n >= s.RangeMatch.GetStart() && n < s.RangeMatch.GetEnd()
	case *route.HeaderMatcher_PresentMatch:
		match = s.PresentMatch == present
	case *route.HeaderMatcher_PrefixMatch:
		match = strings.HasPrefix(value, s.PrefixMatch)
	case *route.HeaderMatcher_SuffixMatch:
		match = strings.HasSuffix(value, s.SuffixMatch)
	case *route.HeaderMatcher_ContainsMatch:
		match = strings.Contains(value, s.ContainsMatch)
	case *route.HeaderMatcher_StringMatch:
		match = stringMatches(s.StringMatch, value)
	}
	return match != h.GetInvertMatch()
}

func stringMatches(m *matcher.StringMatcher, v string) bool {
	ic := m.GetIgnoreCase()
	norm := func(s string) string {
		if ic {
			return strings.ToLower(s)
		}
		return s
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return norm(v) == norm(p.Exact)
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(norm(v), norm(p.Prefix))
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(norm(v), norm(p.Suffix))
	case *matcher.StringMatcher_Contains:
		return strings.Contains(norm(v), norm(p.Contains))
	case *matcher.StringMatcher_SafeRegex:
		re, err := regexp.Compile("^(?:" + p.SafeRegex.GetRegex() + ")$")
		return err == nil && re.MatchString(v)
	}
	return false
}

func describeMatch(m *route.RouteMatch) string {
	var parts []string
	switch {
	case m == nil:
		return ""
	case m.GetPath() != "":
		parts = append(parts, "path:"+m.GetPath())
	case m.GetSafeRegex() != nil:
		parts = append(parts, "regex:"+m.GetSafeRegex().GetRegex())
	case m.GetPathSeparatedPrefix() != "":
		parts = append(parts, "prefix:"+m.GetPathSeparatedPrefix())
	default:
		parts = append(parts, "prefix:"+m.GetPrefix())
	}
	for _, h := range m.GetHeaders() {
		parts = append(parts, "header:"+h.GetName()+describeHeader(h))
	}
	for _, q := range m.GetQueryParameters() {
		if q.GetStringMatch() != nil {
			parts = append(parts, "query:"+q.GetName()+describeString(q.GetStringMatch()))
		} else {
			parts = append(parts, "query:"+q.GetName()+" present")
		}
	}
	return strings.Join(parts, " ")
}

func describeHeader(h *route.HeaderMatcher) string {
	s := ""
	switch x := h.GetHeaderMatchSpecifier().(type) {
	case *route.HeaderMatcher_ExactMatch:
		s = "=" + x.ExactMatch
	case *route.HeaderMatcher_SafeRegexMatch:
		s = "~" + x.SafeRegexMatch.GetRegex()
	case *route.HeaderMatcher_PresentMatch:
		s = " present"
	case *route.HeaderMatcher_PrefixMatch:
		s = "^=" + x.PrefixMatch
	case *route.HeaderMatcher_SuffixMatch:
		s = "$=" + x.SuffixMatch
	case *route.HeaderMatcher_ContainsMatch:
		s = "*=" + x.ContainsMatch
	case *route.HeaderMatcher_StringMatch:
		s = describeString(x.StringMatch)
	case *route.HeaderMatcher_RangeMatch:
		s = fmt.Sprintf(" in [%d,%d)", x.RangeMatch.GetStart(), x.RangeMatch.GetEnd())
	}
	if h.GetInvertMatch() {
		s = " not" + s
	}
	return s
}

func describeString(m *matcher.StringMatcher) string {
	s := ""
	switch p := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		s = "=" + p.Exact
	case *matcher.StringMatcher_Prefix:
		s = "^=" + p.Prefix
	case *matcher.StringMatcher_Suffix:
		s = "$=" + p.Suffix
	case *matcher.StringMatcher_Contains:
		s = "*=" + p.Contains
	case *matcher.StringMatcher_SafeRegex:
		s = "~" + p.SafeRegex.GetRegex()
	}
	if m.GetIgnoreCase() {
		s += " (ignore case)"
	}
	return s
}

// describeRoute reads the fields of a route that the simulator does not evaluate.
func describeRoute(vh *route.VirtualHost, r *route.Route) *routeOut {
	m := r.GetMatch()
	o := &routeOut{Name: r.Name, Match: toJSON(m), MatchDescription: describeMatch(m)}
	for _, h := range m.GetHeaders() {
		o.Headers = append(o.Headers, toJSON(h))
	}
	for _, q := range m.GetQueryParameters() {
		o.QueryParameters = append(o.QueryParameters, toJSON(q))
	}
	if m.GetRuntimeFraction() != nil {
		o.Unevaluated = append(o.Unevaluated, "runtimeFraction")
	}
	if m.GetGrpc() != nil {
		o.Unevaluated = append(o.Unevaluated, "grpc")
	}
	if m.GetTlsContext() != nil {
		o.Unevaluated = append(o.Unevaluated, "tlsContext")
	}
	if len(m.GetDynamicMetadata()) > 0 {
		o.Unevaluated = append(o.Unevaluated, "dynamicMetadata")
	}
	if len(m.GetCookies()) > 0 {
		o.Unevaluated = append(o.Unevaluated, "cookies")
	}
	if len(m.GetFilterState()) > 0 {
		o.Unevaluated = append(o.Unevaluated, "filterState")
	}
	if d := r.GetDirectResponse(); d != nil {
		o.DirectResponse = d.GetStatus()
	}
	if rd := r.GetRedirect(); rd != nil {
		o.Redirect = toJSON(rd)
	}
	for _, h := range r.GetRequestHeadersToAdd() {
		o.HeadersToAdd = append(o.HeadersToAdd, toJSON(h))
	}
	o.HeadersToRemove = r.GetRequestHeadersToRemove()
	for _, h := range r.GetResponseHeadersToAdd() {
		o.RespHeadersAdd = append(o.RespHeadersAdd, toJSON(h))
	}
	o.RespHeadersRem = r.GetResponseHeadersToRemove()
	if f, ok := r.GetTypedPerFilterConfig()[faultFilter]; ok {
		o.Fault = toJSON(f)
	}
	if c, ok := r.GetTypedPerFilterConfig()[corsFilter]; ok {
		o.Cors = toJSON(c)
	} else if c, ok := vh.GetTypedPerFilterConfig()[corsFilter]; ok {
		o.Cors = toJSON(c)
	}
	a := r.GetRoute()
	if a == nil {
		return o
	}
	o.Cluster = a.GetCluster()
	o.ClusterHeader = a.GetClusterHeader()
	for _, w := range a.GetWeightedClusters().GetClusters() {
		o.WeightedClusters = append(o.WeightedClusters, clusterRef{Name: w.Name, Weight: w.GetWeight().GetValue()})
	}
	if a.GetCors() != nil && o.Cors == nil {
		o.Cors = toJSON(a.GetCors())
	}
	if a.Timeout != nil {
		t := durationString(a.GetTimeout().AsDuration())
		o.Timeout = &t
	}
	if a.IdleTimeout != nil {
		o.IdleTimeout = durationString(a.GetIdleTimeout().AsDuration())
	}
	rp, from := a.GetRetryPolicy(), "route"
	if rp == nil && vh.GetRetryPolicy() != nil {
		rp, from = vh.GetRetryPolicy(), "virtualHost"
	}
	if rp != nil {
		ro := &retryOut{RetryOn: rp.GetRetryOn(), RetriableStatusCodes: rp.GetRetriableStatusCodes(), From: from}
		if rp.NumRetries != nil {
			n := rp.GetNumRetries().GetValue()
			ro.NumRetries = &n
		} else {
			one := uint32(1) // Envoy's default
			ro.NumRetries = &one
		}
		if rp.PerTryTimeout != nil {
			ro.PerTryTimeout = durationString(rp.GetPerTryTimeout().AsDuration())
		}
		o.Retry = ro
		o.RetryPolicy = toJSON(rp)
	}
	for _, mp := range a.GetRequestMirrorPolicies() {
		o.Mirrors = append(o.Mirrors, toJSON(mp))
	}
	o.PrefixRewrite = a.GetPrefixRewrite()
	if a.GetRegexRewrite() != nil {
		o.RegexRewrite = toJSON(a.GetRegexRewrite())
	}
	o.HostRewrite = a.GetHostRewriteLiteral()
	o.AutoHostRewrite = a.GetAutoHostRewrite().GetValue()
	for _, hp := range a.GetHashPolicy() {
		o.HashPolicy = append(o.HashPolicy, toJSON(hp))
	}
	return o
}

// durationString prints a duration as Go does ("2s", "500ms", "0s"): one spelling for comparisons.
func durationString(d time.Duration) string { return d.String() }

// toJSON renders a message as plain JSON values; encoding/json then sorts the keys (protojson's own
// output is deliberately unstable in its spacing). An Any of an unknown type keeps only its type.
func toJSON(m proto.Message) any {
	b, err := protojson.MarshalOptions{UseProtoNames: false}.Marshal(m)
	if err != nil {
		return map[string]any{"unrenderable": err.Error()}
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return map[string]any{"unrenderable": err.Error()}
	}
	return v
}

func sortedCopy(xs []string) []string {
	out := append([]string{}, xs...)
	sort.Strings(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
