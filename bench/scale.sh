#!/usr/bin/env bash
# Scale (issue #15): SERVICES services over NAMESPACES namespaces on the local control plane
# (default 10,000 over 100), migrated with APPROACH (keep-service | replace-service) on the CoreDNS
# LAYOUT (kubeadm: the hosts mechanism; k3s: the cluster block already uses hosts, so acmg's
# server block in coredns-custom). PARTS picks what runs (default all):
#  one        migrate all in one run: wall time, API requests, CoreDNS writes (target: 1), state shards
#  verify     verify-dns and status for all of them (wall time)
#  rollback   rollback of all of them
#  concurrent (after rollback, if one ran) migrate all in 10 concurrent runs (a tenth of the namespaces each): total wall time,
#             CoreDNS writes per run (target: at most 1 each), nothing lost (every service migrated once)
#  controller the sync --watch controller with SERVICES VirtualServices created in a burst
#             (bench/controller-burst.sh): time until DNS has every name, writes, peak RSS
#   SERVICES=5000 NAMESPACES=50 APPROACH=replace-service LAYOUT=k3s PARTS=one,rollback bash bench/scale.sh
#   VERIFY_BASE=/other/checkout/bin/acmg.js PARTS=one,verify bash bench/scale.sh   # verify-dns against another acmg
# KEEP_OBJECTS=1 keeps the Services (and namespaces) for the next run of the same size.
# Pods are simulated (kwok); Services, VirtualServices (checked by istiod's webhook), ConfigMaps
# and CoreDNS are real.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh
bash hack/cluster-up.sh >/dev/null
export KUBECONFIG="$KUBECONFIG_PATH" NO_COLOR=1
N=${SERVICES:-10000} M=${NAMESPACES:-100} APPROACH=${APPROACH:-keep-service} LAYOUT=${LAYOUT:-kubeadm}
PARTS=",${PARTS:-one,verify,rollback,concurrent,controller},"
part() { [[ $PARTS == *",$1,"* ]]; }
NS="127.0.0.1:$DNS_PORT"
ACMG=(node bin/acmg.js)
# BENCH_OUT: where the run writes its files (another bench on the same machine uses its own).
OUT=${BENCH_OUT:-.cache/bench-scale} && mkdir -p "$OUT"
source bench/population.sh

"${ACMG[@]}" uninstall --purge -y --nameserver "$NS" >/dev/null 2>&1
if [ "$LAYOUT" != kubeadm ]; then
  bash hack/cluster-layout.sh "$LAYOUT" >/dev/null
  trap 'bash hack/cluster-layout.sh kubeadm >/dev/null' EXIT
fi
"${ACMG[@]}" install --profile minimal -y >/dev/null 2>&1
echo "$N services over $M namespaces, --$APPROACH, CoreDNS layout $LAYOUT ($("${ACMG[@]}" status -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{console.log(JSON.parse(s).dns.layout)})'))"
populate "$N" "$M" "$OUT"

report() { # migrate json files...
  node -e '
    const fs = require("fs");
    // A run that failed printed no JSON (its log says why): counted, not parsed.
    const texts = process.argv.slice(1).map((f) => fs.readFileSync(f, "utf8"));
    const failed = texts.filter((t) => !t.trim()).length;
    if (failed) console.log(`  ${failed} run(s) failed and are left out below`);
    const rs = texts.filter((t) => t.trim()).map((t) => JSON.parse(t));
    const writes = rs.map((r) => r.dnsWrites);
    console.log(`  services ${rs.reduce((n, r) => n + r.migrated.length, 0)}, API requests ${rs.reduce((n, r) => n + r.apiRequests, 0)}, CoreDNS writes per run ${[...new Set(writes)].join("/")} (target <= 1: ${writes.every((w) => w <= 1) ? "met" : "MISSED"})`);
  ' "$@"
}
shards() {
  kubectl_local -n istio-system get configmap -l app.kubernetes.io/component=state-shard -o json |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const items=JSON.parse(s).items;const sizes=items.map(c=>Buffer.byteLength(c.data.migrations));const n=items.reduce((k,c)=>k+Object.keys(JSON.parse(c.data.migrations)).length,0);console.log(`  state: ${items.length} shards holding ${n} migrations, largest ${Math.max(0,...sizes)} bytes`)})'
}

# The bytes of cluster DNS configuration: the coredns ConfigMap and, on layouts that import it, coredns-custom.
dns_bytes() { kubectl_local -n kube-system get configmap coredns coredns-custom --ignore-not-found -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const cms=JSON.parse(s).items;console.log(cms.map(c=>`${c.metadata.name} ${Object.values(c.data??{}).reduce((n,v)=>n+Buffer.byteLength(v),0)} bytes`).join(", "))})'; }

if part one; then
echo "1. migrate $N services over $M namespaces in one run (--$APPROACH):"
t0=$(date +%s.%N)
"${ACMG[@]}" migrate -l acmg-scale=true "--$APPROACH" -y --nameserver "$NS" --dns-timeout 10m -o json > "$OUT/one.json" 2> "$OUT/one.log"
echo "  wall time $(secs "$t0" "$(date +%s.%N)") s"
report "$OUT/one.json"
shards
echo "  DNS configuration: $(dns_bytes)"
fi

if part verify; then
echo "2. verify-dns and status for all of them:"
# VERIFY_BASE=/other/checkout/bin/acmg.js: that acmg's verify-dns in the same run, interleaved
# with this one's (ROUNDS rounds, default 3), for a ratio that the machine's load does not skew.
verify_once() { # acmg-bin label
  local t0
  t0=$(date +%s.%N)
  node "$1" verify-dns --nameserver "$NS" -o json > "$OUT/verify-$2.json" 2>/dev/null || true
  echo "  verify-dns ($2): $(secs "$t0" "$(date +%s.%N)") s, $(node -e 'const r=require(process.argv[1]);console.log(`${r.results.length} checks, passed: ${r.passed}`)' "$PWD/$OUT/verify-$2.json")"
}
for _ in $(seq 1 "${ROUNDS:-$([ -n "${VERIFY_BASE:-}" ] && echo 3 || echo 1)}"); do
  verify_once bin/acmg.js this
  [ -z "${VERIFY_BASE:-}" ] || verify_once "$VERIFY_BASE" base
done
t0=$(date +%s.%N)
"${ACMG[@]}" status -o json > "$OUT/status.json"
echo "  status: $(secs "$t0" "$(date +%s.%N)") s, $(node -e 'const r=require(process.argv[1]);console.log(`${r.services.length} services, ${r.services.filter(s=>s.dns==="switched").length} switched`)' "$PWD/$OUT/status.json")"
fi

if part rollback; then
echo "3. rollback of all of them:"
t0=$(date +%s.%N)
"${ACMG[@]}" rollback --all -y --nameserver "$NS" --dns-timeout 10m > /dev/null 2> "$OUT/rollback.log"
echo "  wall time $(secs "$t0" "$(date +%s.%N)") s, $(kubectl_local get services -A -l acmg-scale=true --no-headers | wc -l) Services back"
fi

if part concurrent; then
echo "4. the same $N services in 10 concurrent runs:"
t0=$(date +%s.%N)
pids=()
for g in $(seq 0 9); do
  "${ACMG[@]}" migrate -l "acmg-scale-group=$g" "--$APPROACH" -y --nameserver "$NS" --dns-timeout 10m -o json > "$OUT/run-$g.json" 2> "$OUT/run-$g.log" &
  pids+=($!)
done
fail=0; for p in "${pids[@]}"; do wait "$p" || fail=1; done
echo "  wall time $(secs "$t0" "$(date +%s.%N)") s$( [ $fail = 1 ] && echo " (a run FAILED: see $OUT/run-*.log)")"
report "$OUT"/run-*.json
shards

fi

t0=$(date +%s.%N)
"${ACMG[@]}" uninstall --purge -y --nameserver "$NS" --dns-timeout 10m >/dev/null 2> "$OUT/uninstall.log"
echo "uninstall --purge: $(secs "$t0" "$(date +%s.%N)") s, $(kubectl_local get services -A -l acmg-scale=true --no-headers | wc -l) Services left as they were"

if part controller; then
  echo "5. the sync --watch controller with $N VirtualServices bound to the acmg Gateway (one per Service):"
  "${ACMG[@]}" install --profile minimal -y >/dev/null 2>&1
  bash bench/controller-burst.sh "$N" scale-vs "$M"
  "${ACMG[@]}" uninstall --purge -y --nameserver "$NS" --dns-timeout 10m >/dev/null 2>&1
fi
# Waits, so that a next run does not meet its namespaces still terminating (deleting 10,000
# Services takes the namespace controller minutes); KEEP_OBJECTS=1 leaves them for the next run.
[ -n "${KEEP_OBJECTS:-}" ] || kubectl_local delete namespace $(seq -f 'scale-%g' 0 $((M - 1))) --timeout=15m >/dev/null
