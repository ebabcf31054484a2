#!/usr/bin/env bash
# Scale (issue #15): SERVICES services over NAMESPACES namespaces on the local control plane
# (default 10,000 over 100), migrated with --keep-service
#  1. in one run: wall time, API requests, CoreDNS writes (target: 1), the largest state shard
#  2. verify-dns and status for all of them (wall time)
#  3. rollback of all of them
#  4. in 10 concurrent runs (a tenth of the namespaces each): total wall time, CoreDNS writes per run
#     (target: at most 1 each), and nothing lost (every service migrated once)
#  5. the sync --watch controller with N VirtualServices created in a burst: time until DNS has
#     every name, CoreDNS writes, peak RSS
# Pods are simulated (kwok); Services, VirtualServices (checked by istiod's webhook), ConfigMaps
# and CoreDNS are real.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh
bash hack/cluster-up.sh >/dev/null
export KUBECONFIG="$KUBECONFIG_PATH" NO_COLOR=1
N=${SERVICES:-10000} M=${NAMESPACES:-100}
NS="127.0.0.1:$DNS_PORT"
ACMG=(node bin/acmg.js)
OUT=.cache/bench-scale && mkdir -p "$OUT"
secs() { echo "$2 - $1" | bc | awk '{printf "%.1f", $1}'; }

"${ACMG[@]}" uninstall --purge -y --nameserver "$NS" >/dev/null 2>&1
"${ACMG[@]}" install --profile minimal -y >/dev/null 2>&1
node -e '
  const [n, m] = process.argv.slice(1).map(Number);
  const items = [];
  for (let j = 0; j < m; j++) items.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: `scale-${j}`, labels: { "acmg-scale-group": String(j % 10) } } });
  for (let i = 0; i < n; i++) items.push({ apiVersion: "v1", kind: "Service", metadata: { name: `svc-${i}`, namespace: `scale-${i % m}`, labels: { "acmg-scale": "true", "acmg-scale-group": String((i % m) % 10) } }, spec: { selector: { app: `svc-${i}` }, ports: [{ name: "http", port: 9000 }] } });
  const chunk = 2000;
  for (let k = 0; k * chunk < items.length; k++) require("fs").writeFileSync(`${process.argv[3]}/objects-${k}.json`, JSON.stringify({ apiVersion: "v1", kind: "List", items: items.slice(k * chunk, (k + 1) * chunk) }));
' "$N" "$M" "$OUT"
t0=$(date +%s.%N)
for f in "$OUT"/objects-*.json; do kubectl_local apply --server-side -f "$f" >/dev/null; done
echo "created $N Services in $M namespaces in $(secs "$t0" "$(date +%s.%N)") s"

report() { # migrate json files...
  node -e '
    const fs = require("fs");
    const rs = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
    const writes = rs.map((r) => r.dnsWrites);
    console.log(`  services ${rs.reduce((n, r) => n + r.migrated.length, 0)}, API requests ${rs.reduce((n, r) => n + r.apiRequests, 0)}, CoreDNS writes per run ${[...new Set(writes)].join("/")} (target <= 1: ${writes.every((w) => w <= 1) ? "met" : "MISSED"})`);
  ' "$@"
}
shards() {
  kubectl_local -n istio-system get configmap -l app.kubernetes.io/component=state-shard -o json |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const items=JSON.parse(s).items;const sizes=items.map(c=>Buffer.byteLength(c.data.migrations));const n=items.reduce((k,c)=>k+Object.keys(JSON.parse(c.data.migrations)).length,0);console.log(`  state: ${items.length} shards holding ${n} migrations, largest ${Math.max(0,...sizes)} bytes`)})'
}

echo "1. migrate $N services over $M namespaces in one run (--keep-service):"
t0=$(date +%s.%N)
"${ACMG[@]}" migrate -l acmg-scale=true --keep-service -y --nameserver "$NS" --dns-timeout 10m -o json > "$OUT/one.json" 2> "$OUT/one.log"
echo "  wall time $(secs "$t0" "$(date +%s.%N)") s"
report "$OUT/one.json"
shards
echo "  Corefile: $(kubectl_local -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}' | wc -c) bytes"

echo "2. verify-dns and status for all of them:"
t0=$(date +%s.%N)
"${ACMG[@]}" verify-dns --nameserver "$NS" -o json > "$OUT/verify.json" 2>/dev/null
echo "  verify-dns: $(secs "$t0" "$(date +%s.%N)") s, $(node -e 'const r=require(process.argv[1]);console.log(`${r.results.length} checks, passed: ${r.passed}`)' "$PWD/$OUT/verify.json")"
t0=$(date +%s.%N)
"${ACMG[@]}" status -o json > "$OUT/status.json"
echo "  status: $(secs "$t0" "$(date +%s.%N)") s, $(node -e 'const r=require(process.argv[1]);console.log(`${r.services.length} services, ${r.services.filter(s=>s.dns==="switched").length} switched`)' "$PWD/$OUT/status.json")"

echo "3. rollback of all of them:"
t0=$(date +%s.%N)
"${ACMG[@]}" rollback --all -y --nameserver "$NS" --dns-timeout 10m > /dev/null 2> "$OUT/rollback.log"
echo "  wall time $(secs "$t0" "$(date +%s.%N)") s"

echo "4. the same $N services in 10 concurrent runs:"
t0=$(date +%s.%N)
pids=()
for g in $(seq 0 9); do
  "${ACMG[@]}" migrate -l "acmg-scale-group=$g" --keep-service -y --nameserver "$NS" --dns-timeout 10m -o json > "$OUT/run-$g.json" 2> "$OUT/run-$g.log" &
  pids+=($!)
done
fail=0; for p in "${pids[@]}"; do wait "$p" || fail=1; done
echo "  wall time $(secs "$t0" "$(date +%s.%N)") s$( [ $fail = 1 ] && echo ' (a run FAILED: see .cache/bench-scale/run-*.log)')"
report "$OUT"/run-*.json
shards

"${ACMG[@]}" uninstall --purge -y --nameserver "$NS" --dns-timeout 10m >/dev/null 2>&1

echo "5. the sync --watch controller with $N VirtualServices bound to the acmg Gateway (one per Service):"
"${ACMG[@]}" install --profile minimal -y >/dev/null 2>&1
kubectl_local create namespace scale-vs >/dev/null
"${ACMG[@]}" sync --watch --health-port 0 > "$OUT/controller.log" 2>&1 &
CTRL=$!
for _ in $(seq 1 100); do grep -q 'on :' "$OUT/controller.log" && break; sleep 0.2; done
PORT=$(grep -o 'on :[0-9]*' "$OUT/controller.log" | head -1 | cut -d: -f2)
node -e '
  const [n, m] = process.argv.slice(1).map(Number);
  const items = [];
  for (let i = 0; i < n; i++) items.push({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: `vs-${i}`, namespace: "scale-vs" }, spec: { hosts: [`vs-${i}.example`], gateways: ["istio-system/acmg-gateway"], http: [{ route: [{ destination: { host: `svc-${i}.scale-${i % m}.svc.cluster.local`, port: { number: 9000 } } }] }] } });
  const chunk = 2000;
  for (let k = 0; k * chunk < items.length; k++) require("fs").writeFileSync(`${process.argv[3]}/vs-${k}.json`, JSON.stringify({ apiVersion: "v1", kind: "List", items: items.slice(k * chunk, (k + 1) * chunk) }));
' "$N" "$M" "$OUT"
t0=$(date +%s.%N)
for f in "$OUT"/vs-*.json; do kubectl_local apply --server-side -f "$f" >/dev/null; done
t1=$(date +%s.%N)
until [ "$(kubectl_local -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}' | grep -c ' svc-[0-9]*\.scale-')" -ge "$N" ]; do sleep 1; done
t2=$(date +%s.%N)
sleep 5 # let a trailing reconcile finish before reading the counters
METRICS=$(curl -s "http://127.0.0.1:$PORT/metrics")
echo "  created in $(secs "$t0" "$t1") s; DNS had all $N names $(secs "$t0" "$t2") s after the first was created"
echo "  CoreDNS writes: $(awk '/acmg_sync_dns_writes_total/ {print $2}' <<<"$METRICS"), reconciles: $(awk '/acmg_sync_reconciles_total/ {print $2}' <<<"$METRICS"), controller peak RSS: $(awk '/VmHWM/ {printf "%d MiB", $2/1024}' /proc/$CTRL/status)"
kill "$CTRL"; wait "$CTRL" 2>/dev/null || true
kubectl_local delete namespace scale-vs --wait=false >/dev/null
"${ACMG[@]}" uninstall --purge -y --nameserver "$NS" --dns-timeout 10m >/dev/null 2>&1
kubectl_local delete namespace $(seq -f 'scale-%g' 0 $((M - 1))) --wait=false >/dev/null
