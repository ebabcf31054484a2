#!/usr/bin/env bash
# CoreDNS queries per second with acmg's entries (issue #15): a standalone CoreDNS (the harness's
# binary, its kubernetes plugin on the local control plane) per Corefile, dnsperf against it.
# Vanilla, then 10,000 and 30,000 entries with the hosts mechanism, 10,000 with acmg's server
# block. 30,000 entries (1.5 MB) are more than one ConfigMap holds, so acmg refuses to write them
# (README, Limits); this measures whether CoreDNS itself would keep up. Needs dnsperf.
#   DISTINCT=1  ask each of the 10,000 names in turn (as acmg's DNS wait does), not 100 of them
#   CONFIGS="hosts 10000 hosts;server-block 10000 server-blocks"  only these Corefiles
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh
bash hack/cluster-up.sh >/dev/null
command -v dnsperf >/dev/null || { echo "dnsperf not installed (apt-get install dnsperf)"; exit 1; }
OUT=.cache/bench-qps && mkdir -p "$OUT"
PORT=${QPS_PORT:-10153}
COREDNS="$(bin_path coredns "$COREDNS_KEY")"
npx esbuild bench/gen-qps-corefile.ts --bundle --platform=node --format=esm --outfile=.cache/gen-qps-corefile.mjs --log-level=error \
  --banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"
# Half the queries are migrated names spread over the entries, half a real Service.
if [ -n "${DISTINCT:-}" ]; then
  { for i in $(seq 0 9999); do echo "svc-$i.bench-$((i % 100)).svc.cluster.local A"; echo "kube-dns.kube-system.svc.cluster.local A"; done; } > "$OUT/queries.txt"
else
  { for i in $(seq 0 99); do echo "svc-$((i * 97)).bench-$(((i * 97) % 100)).svc.cluster.local A"; echo "kube-dns.kube-system.svc.cluster.local A"; done; } > "$OUT/queries.txt"
fi
declare -A R
IFS=';' read -r -a CFGS <<< "${CONFIGS:-vanilla 0 hosts;hosts 10000 hosts;hosts 30000 hosts;server-block 10000 server-blocks}"
for cfg in "${CFGS[@]}"; do
  set -- $cfg
  node .cache/gen-qps-corefile.mjs "$2" "$3" "$PORT" "$ACMG_CLUSTER_DIR/coredns.kubeconfig" > "$OUT/Corefile.$1.$2"
  "$COREDNS" -conf "$OUT/Corefile.$1.$2" > "$OUT/coredns.$1.$2.log" 2>&1 &
  pid=$!
  # Ready when a Service answers and, with entries, the last migrated name answers acmg's address:
  # dnsperf counts NXDOMAIN as an answer too, so a Corefile that does not serve the names would
  # still show a rate.
  probe="kube-dns.kube-system.svc.cluster.local 10.96.0.10"
  [ "$2" = 0 ] || probe="svc-$(($2 - 1)).bench-$((($2 - 1) % 100)).svc.cluster.local 10.96.200.1"
  ready=
  for _ in $(seq 1 300); do
    node -e 'const r = new (require("dns").promises.Resolver)({ timeout: 500, tries: 1 }); r.setServers([`127.0.0.1:${process.argv[1]}`]); r.resolve4(process.argv[2]).then((a) => process.exit(a[0] === process.argv[3] ? 0 : 1), () => process.exit(1))' "$PORT" $probe && { ready=1; break; }
    sleep 0.2
  done
  [ -n "$ready" ] || { echo "  $1 $2: CoreDNS does not answer ${probe% *} with ${probe#* } (see $OUT/coredns.$1.$2.log)"; kill "$pid"; exit 1; }
  R["$1 $2"]=$(dnsperf -s 127.0.0.1 -p "$PORT" -d "$OUT/queries.txt" -l "${BENCH_SECONDS:-10}" -c 8 -T 1 -q 200 2>/dev/null | awk '/Queries per second/ {print $4}')
  rss=$(awk '/VmRSS/ {printf "%d", $2/1024}' /proc/$pid/status)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '  %-26s %10s qps  %4s MiB RSS  Corefile %s bytes\n' "$1 $2 entries" "${R["$1 $2"]}" "$rss" "$(wc -c < "$OUT/Corefile.$1.$2")"
done
[ -n "${R["vanilla 0"]:-}" ] || exit 0
v=${R["vanilla 0"]}
for cfg in "${CFGS[@]}"; do
  set -- $cfg
  [ "$1" = vanilla ] || printf '  %-26s %sx vanilla\n' "$1 $2" "$(echo "scale=2; ${R["$1 $2"]} / $v" | bc)"
done
