#!/usr/bin/env bash
# Cluster benchmarks on the local control plane (started if needed):
#  1. migrate 1,000 services across 20 namespaces in one run: wall time, API requests, CoreDNS
#     writes (targets: 1 write, <= 60 s)
#  2. verify-dns for those 1,000 services through the direct nameserver (target < 10 s)
#  3. dnsperf QPS against the real CoreDNS: vanilla vs acmg's region with 100/1,000/10,000 entries
#     vs one `rewrite` line per service (the original implementation); target at 10,000: >= 0.9x vanilla
# Needs dnsperf (Debian package dnsperf) for part 3.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh
bash hack/cluster-up.sh >/dev/null
export KUBECONFIG="$KUBECONFIG_PATH" NO_COLOR=1
NS="127.0.0.1:$DNS_PORT"
ACMG=(node bin/acmg.js)
OUT=.cache/bench && mkdir -p "$OUT"

"${ACMG[@]}" uninstall --purge -y --nameserver "$NS" >/dev/null 2>&1
"${ACMG[@]}" install --profile minimal -y >/dev/null 2>&1
node -e '
  const docs = [];
  for (let n = 0; n < 20; n++) docs.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: `bench-${n}` } });
  for (let i = 0; i < 1000; i++) docs.push({ apiVersion: "v1", kind: "Service", metadata: { name: `svc-${i}`, namespace: `bench-${i % 20}`, labels: { "acmg-bench": "true" } }, spec: { selector: { app: `svc-${i}` }, ports: [{ name: "http", port: 9000 }] } });
  console.log(JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }));
' > "$OUT/services.json"
kubectl_local apply --server-side -f "$OUT/services.json" >/dev/null

echo "migrate 1,000 services across 20 namespaces (one run):"
t0=$(date +%s.%N)
"${ACMG[@]}" migrate -l acmg-bench=true --keep-service -y --nameserver "$NS" -o json > "$OUT/migrate.json" 2> "$OUT/migrate.log"
t1=$(date +%s.%N)
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const wall = Number(process.argv[2]);
  console.log(`  wall time ${wall.toFixed(1)} s (target <= 60 s: ${wall <= 60 ? "met" : "MISSED"}), API requests ${r.apiRequests}, CoreDNS writes ${r.dnsWrites} (target 1: ${r.dnsWrites === 1 ? "met" : "MISSED"}), services ${r.migrated.length}`);
' "$OUT/migrate.json" "$(echo "$t1 - $t0" | bc)"

echo "verify-dns for 1,000 services (4,000 names, direct nameserver):"
t0=$(date +%s.%N)
"${ACMG[@]}" verify-dns --nameserver "$NS" -o json > "$OUT/verify.json" 2>/dev/null
t1=$(date +%s.%N)
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const wall = Number(process.argv[2]);
  console.log(`  wall time ${wall.toFixed(1)} s (target < 10 s: ${wall < 10 ? "met" : "MISSED"}), ${r.results.length} checks, passed: ${r.passed}`);
' "$OUT/verify.json" "$(echo "$t1 - $t0" | bc)"

"${ACMG[@]}" rollback --all -y --nameserver "$NS" >/dev/null 2>&1
"${ACMG[@]}" uninstall --purge -y --nameserver "$NS" >/dev/null 2>&1
kubectl_local delete namespace $(seq -f 'bench-%g' 0 19) --wait=false >/dev/null

echo "sync --watch: 1,000 VirtualServices created in a burst (target: < 10 CoreDNS writes):"
"${ACMG[@]}" install --profile minimal -y >/dev/null 2>&1
bash bench/controller-burst.sh 1000 bench-vs | tee "$OUT/controller.txt"
WRITES=$(grep -o 'CoreDNS writes: [0-9]*' "$OUT/controller.txt" | awk '{print $3}')
echo "  target < 10 writes: $( [ "$WRITES" -lt 10 ] && echo met || echo MISSED )"
"${ACMG[@]}" uninstall --purge -y --nameserver "$NS" >/dev/null 2>&1

if ! command -v dnsperf >/dev/null; then echo "dnsperf not installed (apt-get install dnsperf): skipping QPS"; exit 0; fi
echo "CoreDNS queries per second (dnsperf, 10 s each, half migrated names, half real Services):"
npx esbuild bench/gen-corefile.ts --bundle --platform=node --format=esm --outfile=.cache/gen-corefile.mjs --log-level=error \
  --banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"
ORIGINAL=$(kubectl_local -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}')
{ for i in $(seq 0 99); do echo "svc-$i.bench-$((i % 20)).svc.cluster.local A"; echo "kube-dns.kube-system.svc.cluster.local A"; done; } > "$OUT/queries.txt"
apply_corefile() { # file
  node -e 'console.log(JSON.stringify({ data: { Corefile: require("fs").readFileSync(process.argv[1], "utf8") } }))' "$1" > "$OUT/patch.json"
  kubectl_local -n kube-system patch configmap coredns --type merge --patch-file "$OUT/patch.json" >/dev/null
  # Wait until CoreDNS serves it: the SHA of the running config changes in its log.
  local want; want=$(grep -c "Running configuration SHA512" "$LOG_DIR/coredns.log" || true)
  for _ in $(seq 1 120); do
    [ "$(grep -c "Running configuration SHA512" "$LOG_DIR/coredns.log" || true)" -gt "$want" ] && break
    sleep 0.5
  done
  sleep 1
}
qps() { dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$OUT/queries.txt" -l "${BENCH_SECONDS:-10}" -c 8 -T 1 -q 200 2>/dev/null | awk '/Queries per second/ {print $4}'; }
declare -A R
for cfg in "vanilla 0 none" "acmg 100 acmg" "acmg 1000 acmg" "acmg 10000 acmg" "rewrite 100 rewrite" "rewrite 1000 rewrite" "rewrite 10000 rewrite"; do
  set -- $cfg
  node .cache/gen-corefile.mjs "$2" "$3" > "$OUT/Corefile.$1.$2"
  apply_corefile "$OUT/Corefile.$1.$2"
  R["$1 $2"]=$(qps)
done
printf '%s' "$ORIGINAL" > "$OUT/Corefile.original" && apply_corefile "$OUT/Corefile.original"
v=${R["vanilla 0"]}
for k in "vanilla 0" "acmg 100" "acmg 1000" "acmg 10000" "rewrite 100" "rewrite 1000" "rewrite 10000"; do
  printf '  %-22s %10s qps  %5sx vanilla\n' "$k entries" "${R[$k]}" "$(echo "scale=2; ${R[$k]} / $v" | bc)"
done
ratio=$(echo "scale=3; ${R["acmg 10000"]} / $v" | bc)
echo "  target at 10,000 entries >= 0.9x vanilla: $( [ "$(echo "$ratio >= 0.9" | bc)" = 1 ] && echo met || echo MISSED ) (${ratio}x)"
