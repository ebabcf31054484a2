#!/usr/bin/env bash
# The sync --watch controller against a burst of VirtualServices bound to the acmg Gateway (shared
# by bench/cluster.sh and bench/scale.sh). acmg must be installed; the caller cleans up.
#   bash bench/controller-burst.sh <count> <namespace> [<destination namespaces>]
# Destinations: dest-<i> in <namespace>, or with <destination namespaces> = M the Services
# svc-<i>.scale-<i % M> that bench/scale.sh creates. Prints: time until DNS has every name, CoreDNS
# writes and reconciles, the controller's peak RSS, and how many lists its informers needed.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh
export KUBECONFIG="$KUBECONFIG_PATH" NO_COLOR=1
N=$1 VSNS=$2 M=${3:-}
OUT=.cache/bench-controller && mkdir -p "$OUT"
secs() { echo "$2 - $1" | bc | awk '{printf "%.1f", $1}'; }
if [ -n "$M" ]; then PATTERN='svc-[0-9]*\.scale-[0-9]*\.svc'; else PATTERN="dest-[0-9]*\.$VSNS\.svc"; fi
# Names in cluster DNS, whichever ConfigMap the layout keeps them in (coredns, or coredns-custom).
dns_names() { kubectl_local -n kube-system get configmap -o json | grep -o "$PATTERN" | sort -u | wc -l; }

kubectl_local create namespace "$VSNS" >/dev/null
# The heap limit the Deployment sets for the default 256Mi memory limit (60%; render/controller.ts);
# HEAP_MIB=0 leaves Node's own default (sized from this machine's memory, so it collects lazily).
HEAP_MIB=${HEAP_MIB:-153}
NODE_OPTIONS=$([ "$HEAP_MIB" != 0 ] && echo "--max-old-space-size=$HEAP_MIB") node bin/acmg.js sync --watch --health-port 0 > "$OUT/controller.log" 2>&1 &
CTRL=$!
trap 'kill $CTRL 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q 'on :' "$OUT/controller.log" && break; sleep 0.2; done
PORT=$(grep -o 'on :[0-9]*' "$OUT/controller.log" | head -1 | cut -d: -f2)
node -e '
  const [n, ns, m] = process.argv.slice(1);
  const dest = (i) => (m ? `svc-${i}.scale-${i % Number(m)}.svc.cluster.local` : `dest-${i}`);
  const items = [];
  for (let i = 0; i < Number(n); i++) items.push({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: `vs-${i}`, namespace: ns }, spec: { hosts: [`vs-${i}.example`], gateways: ["istio-system/acmg-gateway"], http: [{ route: [{ destination: { host: dest(i), port: { number: 9000 } } }] }] } });
  const chunk = 2000;
  for (let k = 0; k * chunk < items.length; k++) require("fs").writeFileSync(`${process.argv[4]}/vs-${k}.json`, JSON.stringify({ apiVersion: "v1", kind: "List", items: items.slice(k * chunk, (k + 1) * chunk) }));
' "$N" "$VSNS" "$M" "$OUT"
t0=$(date +%s.%N)
for f in "$OUT"/vs-*.json; do kubectl_local apply --server-side -f "$f" >/dev/null; done
t1=$(date +%s.%N)
until [ "$(dns_names)" -ge "$N" ]; do sleep 1; done
t2=$(date +%s.%N)
sleep 5 # let a trailing reconcile finish before reading the counters
METRICS=$(curl -s "http://127.0.0.1:$PORT/metrics")
metric() { awk -v m="$1" '$1 == m {print $2}' <<<"$METRICS"; }
echo "  $N VirtualServices applied in $(secs "$t0" "$t1") s; DNS had all $N names $(secs "$t0" "$t2") s after the first ($(secs "$t1" "$t2") s after the last)"
echo "  CoreDNS writes: $(metric acmg_sync_dns_writes_total), reconciles: $(metric acmg_sync_reconciles_total), last reconcile: $(metric acmg_sync_last_reconcile_seconds) s, heap limit: ${HEAP_MIB/#0/Node default} MiB, controller peak RSS: $(awk '/VmHWM/ {printf "%d MiB", $2/1024}' /proc/$CTRL/status), API lists by the informers: $(metric acmg_sync_informer_lists_total)"
rm -f "$OUT"/vs-*.json
kill "$CTRL"; wait "$CTRL" 2>/dev/null || true
kubectl_local delete namespace "$VSNS" --timeout=10m >/dev/null
