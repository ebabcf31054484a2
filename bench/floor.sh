#!/usr/bin/env bash
# acmg against the floor (issue #25): for each size and approach, acmg's migrate and rollback of
# SIZES services (100 a namespace) on the local control plane, then in the same run the floor: the
# same writes made raw with the fewest requests (bench/floor.mjs: plain creates, deletes and PUTs,
# 8 at a time, no reads), shaped like the objects acmg wrote. Prints acmg / floor per phase and in all, with what
# acmg's requests were and what the API server spent on each kind (its own metrics).
#   SIZES="1000 3000" APPROACHES="keep-service replace-service" bash bench/floor.sh
#   ACMG_BIN=/path/to/other/bin/acmg.js LABEL=before bash bench/floor.sh   # another acmg, same floor
# Files go to BENCH_OUT (default .cache/bench-floor): per run PREFIX.log (stderr with milliseconds),
# PREFIX.phases.json and PREFIX.server.json; the tables to BENCH_OUT/report.md.
# Another cluster than the default one: ACMG_CLUSTER_DIR and the ACMG_*_PORT variables (hack/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh
bash hack/cluster-up.sh >/dev/null
export KUBECONFIG="$KUBECONFIG_PATH" NO_COLOR=1 PROBE_DNS="127.0.0.1:$DNS_PORT"
SIZES=${SIZES:-1000 3000} APPROACHES=${APPROACHES:-keep-service replace-service}
NS="127.0.0.1:$DNS_PORT"
ACMG=(node "${ACMG_BIN:-bin/acmg.js}")
OUT=${BENCH_OUT:-.cache/bench-floor} && mkdir -p "$OUT"
source bench/population.sh
: > "$OUT/report.md"

for N in $SIZES; do
  M=$(((N + 99) / 100))
  populate "$N" "$M" "$OUT"
  for A in $APPROACHES; do
    # LABEL (e.g. the acmg version run) names the run's files; the templates are shared by the runs of a size.
    P="$OUT/$N-$A${LABEL:+-$LABEL}" T="$OUT/$N-$A-templates.json"
    echo "== $N services over $M namespaces, --$A"
    "${ACMG[@]}" uninstall --purge -y --nameserver "$NS" >/dev/null 2>&1
    "${ACMG[@]}" install --profile minimal -y >/dev/null 2>&1
    F=(--approach "$A" --services "$N" --namespaces "$M" --templates "$T")
    # The floor runs before acmg (with the templates and state-write counts of an earlier run of the
    # same size, when there is one) and after it: the machine's load may drift between them.
    rm -f "$P"-*-floor-before.phases.json
    earlier=$(ls -t "$OUT/$N-$A"*-rollback.phases.json 2>/dev/null | grep -v floor | head -1 || true)
    if [ -f "$T" ] && [ -n "$earlier" ]; then
      node bench/floor.mjs floor migrate "$P-migrate-floor-before" "${F[@]}" --acmg "${earlier%-rollback.phases.json}-migrate"
      node bench/floor.mjs floor rollback "$P-rollback-floor-before" "${F[@]}" --acmg "${earlier%.phases.json}"
    fi
    node bench/floor.mjs acmg "$P-migrate" -- migrate -l acmg-scale=true "--$A" -y --nameserver "$NS" --dns-timeout 10m -o json
    node bench/floor.mjs templates "$T" --approach "$A"
    node bench/floor.mjs acmg "$P-rollback" -- rollback --all -y --nameserver "$NS" --dns-timeout 10m
    # The floor after acmg's rollback: its Services must not take the ClusterIPs the rollback gives back.
    node bench/floor.mjs floor migrate "$P-migrate-floor" "${F[@]}" --acmg "$P-migrate"
    node bench/floor.mjs floor rollback "$P-rollback-floor" "${F[@]}" --acmg "$P-rollback"
    {
      node bench/floor.mjs report "migrate, $N services, --$A" "$P-migrate" "$P-migrate-floor-before" "$P-migrate-floor"
      node bench/floor.mjs report "rollback, $N services, --$A" "$P-rollback" "$P-rollback-floor-before" "$P-rollback-floor"
    } | tee -a "$OUT/report.md"
  done
done
"${ACMG[@]}" uninstall --purge -y --nameserver "$NS" >/dev/null 2>&1 || true
echo "tables in $OUT/report.md"
