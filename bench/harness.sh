#!/usr/bin/env bash
# The local control plane's own cost, with real istiod:
#   bash bench/harness.sh        warm start: cluster-up from cached binaries, to istiod's webhooks working
#   bash bench/harness.sh cold   also the cold build: every binary from empty Go and binary caches
#                                (temporary GOCACHE, GOMODCACHE and ACMG_CACHE_DIR; ~40 min on 2 cores)
# Prints one line per figure; stops the cluster it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc | xargs printf '%.1f'; }

if [ "${1:-}" = cold ]; then
  tmp="$(mktemp -d)"
  trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
  echo "cold build (empty GOCACHE, GOMODCACHE, binary cache):"
  t0=$(now)
  ACMG_CACHE_DIR="$tmp/acmg" GOCACHE="$tmp/gocache" GOMODCACHE="$tmp/gomod" bash hack/build.sh 2> "$tmp/build.log"
  echo "  all binaries: $(secs "$t0" "$(now)") s"
  grep -E 'built [a-z-]+ in' "$tmp/build.log" | sed 's/^\[[0-9:]*\] /  /'
fi

bash hack/cluster-down.sh >/dev/null 2>&1 || true
echo "warm start (binaries cached):"
t0=$(now)
bash hack/cluster-up.sh > /dev/null 2> "${TMPDIR:-/tmp}/acmg-bench-up.log"
t1=$(now)
echo "  cluster-up, to istiod injecting and validating: $(secs "$t0" "$t1") s"
# Phases, from cluster-up's own timestamps.
awk '/starting etcd|rendering Istio|starting istiod|istiod ready|starting CoreDNS|cluster ready/ { print "    " $0 }' "${TMPDIR:-/tmp}/acmg-bench-up.log"
rss() { ps -o rss= -p "$(cat "$PID_DIR/$1.pid")" 2>/dev/null | awk '{ printf "%.0f MiB", $1 / 1024 }'; }
echo "  resident memory: istiod $(rss istiod), kube-apiserver $(rss kube-apiserver), etcd $(rss etcd), coredns $(rss coredns)"
t0=$(now)
bash hack/cluster-down.sh >/dev/null 2>&1
echo "  cluster-down: $(secs "$t0" "$(now)") s"
