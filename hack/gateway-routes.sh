#!/usr/bin/env bash
# Prints the HTTP routes istiod gives the acmg gateway, as its proxy would receive them over xDS
# (hack/xds-probe speaks for the first gateway pod: the pods are simulated and run no Envoy):
# one line per route: route configuration (http.<listener port>), domain, match (acmg's routes match
# a service's names by :authority on its namespace's listener) -> clusters.
#   bash hack/gateway-routes.sh [namespace] [app-label]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NS="${1:-istio-system}" APP="${2:-acmg-gateway}"
read -r pod ip sa < <(kubectl_local -n "$NS" get pods -l "app=$APP" --field-selector status.phase=Running \
  -o jsonpath='{.items[0].metadata.name} {.items[0].status.podIP} {.items[0].spec.serviceAccountName}' 2>/dev/null) || true # no newline: read says EOF
[ -n "${ip:-}" ] || die "no running $APP pod in $NS"
labels="$(kubectl_local -n "$NS" get pod "$pod" -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(Object.entries(JSON.parse(s).metadata.labels).map(([k,v])=>`${k}=${v}`).join(",")))')"
"$(bin_path xds-probe "$XDS_PROBE_KEY")" --addr "127.0.0.1:$ISTIOD_XDS_PORT" --pod "$pod" --namespace "$NS" --ip "$ip" \
  --labels "$labels" --service-account "${sa:-default}" --istio-version "$ISTIO_RELEASE" \
| node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
    for (const rc of JSON.parse(s).routes) for (const vh of rc.virtualHosts) for (const r of vh.routes)
      console.log(`${rc.name.padEnd(11)} ${vh.domains.join(",").padEnd(4)} ${r.match.padEnd(60)} -> ${r.clusters.join(", ") || (r.directResponse ? `(${r.directResponse})` : "(404)")}`);
  })'
