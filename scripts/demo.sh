#!/usr/bin/env bash
# The whole acmg flow on the local control plane (README's first command: npm run demo):
# cluster up (built from Go modules on first run) -> helloworld sample -> precheck -> install ->
# migrate --keep-service -> the gateway's routes from istiod -> verify-dns -> status -> Bookinfo's
# calls traced before and after migrating it. Re-running is safe: every step converges.
set -euo pipefail
cd "$(dirname "$0")/.."
bold() { if [ -t 1 ]; then printf '\n\033[1m==> %s\033[0m\n' "$*"; else printf '\n==> %s\n' "$*"; fi; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  bold "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run -s build

bold "local control plane with real istiod (first run builds it from Go modules: ~26 min on 2 cores; then seconds)"
bash hack/cluster-up.sh
source hack/lib.sh
export KUBECONFIG="$KUBECONFIG_PATH"
ACMG=(node bin/acmg.js)
NAMESERVER="127.0.0.1:$DNS_PORT"

bold "deploy the helloworld sample (Service on port 5000, Deployments v1 and v2)"
kubectl_local apply --server-side -f samples/helloworld/helloworld.yaml
kubectl_local -n default rollout status deployment/helloworld-v1 deployment/helloworld-v2 --timeout=120s

bold "acmg precheck"
"${ACMG[@]}" precheck

bold "acmg install --profile demo -y"
"${ACMG[@]}" install --profile demo -y

bold "before: helloworld resolves to its own ClusterIP"
"${ACMG[@]}" verify-dns helloworld -n default --nameserver "$NAMESERVER"

bold "acmg migrate helloworld -n default --keep-service -y"
"${ACMG[@]}" migrate helloworld -n default --keep-service -y

bold "the routes istiod gives the gateway for it (read over xDS: pods are simulated, istiod is real)"
bash hack/gateway-routes.sh

bold "acmg verify-dns (through the API server's port-forward to CoreDNS, as from a CI runner)"
"${ACMG[@]}" verify-dns

bold "acmg status"
"${ACMG[@]}" status

bold "deploy the Bookinfo sample (sidecars, the user's VirtualServices: jason -> reviews v2, ratings 2s timeout and 3 retries) and a clients namespace"
# Once: applied again it would take back the istio-injection label acmg set when it migrated bookinfo.
if kubectl_local get namespace bookinfo >/dev/null 2>&1; then
  echo "bookinfo is already deployed"
else
  kubectl_local apply --server-side -f samples/bookinfo/
fi
for ns in bookinfo clients; do kubectl_local -n "$ns" rollout status deployment --timeout=120s; done
node_modules/.bin/esbuild scripts/trace-bookinfo.ts --bundle --platform=node --format=esm --log-level=warning \
  --banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" --outfile=.cache/trace-bookinfo.mjs

bold "before: Bookinfo's calls, traced through CoreDNS and the xDS istiod gives each proxy (pods are simulated, istiod is real)"
node .cache/trace-bookinfo.mjs

bold "acmg migrate -n bookinfo --all --keep-service --restart -y (sidecars go; the user's rules move to the gateway)"
"${ACMG[@]}" migrate -n bookinfo --all --keep-service --restart -y

bold "after: the same calls, now through bookinfo's door on the gateway: the same destinations, subsets and policies"
node .cache/trace-bookinfo.mjs --through-gateway

cat <<INFO

Done: helloworld.default.svc.cluster.local and Bookinfo's services now resolve to the acmg gateway.
Explore:
  export KUBECONFIG=$KUBECONFIG_PATH
  $(bin_path kubectl "$KUBERNETES_VERSION") get virtualservices,gateways -A
  dig @127.0.0.1 -p $DNS_PORT helloworld.default.svc.cluster.local     (if dig is installed)
  node bin/acmg.js verify-dns --nameserver $NAMESERVER
  bash hack/gateway-routes.sh                                        (the gateway's routes, from istiod)
  node .cache/trace-bookinfo.mjs                                     (Bookinfo's calls, traced)
  node bin/acmg.js rollback helloworld -n default -y --nameserver $NAMESERVER
  node bin/acmg.js rollback -n bookinfo --restart -y --nameserver $NAMESERVER
  node bin/acmg.js uninstall --purge -y --nameserver $NAMESERVER
Stop the local cluster: npm run demo:down
INFO
