#!/usr/bin/env bash
# Reruns the benchmarks and prints the figures (bench/README.md records the last ones).
#   npm run bench            # start-up, hostile input and Corefile computation (no cluster needed)
#   npm run bench -- cluster # also the cluster benchmarks (local control plane, dnsperf)
#   npm run bench -- scale   # 10,000 services over 100 namespaces (bench/scale.sh; SERVICES=, NAMESPACES=)
#   npm run bench -- floor   # acmg against the API server's own speed at 1,000 and 3,000 (bench/floor.sh; SIZES=, APPROACHES=)
#   npm run bench -- harness # the local control plane's warm start with istiod (bench/harness.sh;
#                            # `bash bench/harness.sh cold` adds the cold build)
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build
node bench/startup.mjs
node bench/hostile-input.mjs
npx esbuild bench/corefile.ts --bundle --platform=node --format=esm --outfile=.cache/bench-corefile.mjs --log-level=error \
  --banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"
node --expose-gc .cache/bench-corefile.mjs
if [ "${1:-}" = cluster ]; then bash bench/cluster.sh; fi
if [ "${1:-}" = harness ]; then bash bench/harness.sh; fi
if [ "${1:-}" = floor ]; then bash bench/floor.sh; fi
if [ "${1:-}" = scale ]; then bash bench/scale.sh && bash bench/coredns-qps.sh; fi
