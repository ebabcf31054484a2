#!/usr/bin/env bash
# The one test command (README, .ci/run): build, type-check, unit tests, then the end-to-end tests
# against the local control plane (built from Go modules on first use, cached by version).
# Ends with one summary line: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
step() { printf '\n==> %s\n' "$*" >&2; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
step "building dist/, type-checking, lint and format check"
npm run -s build
npm run -s typecheck
npm run -s lint
npm run -s format:check

mkdir -p .cache
rm -f .cache/jest-unit.json .cache/jest-e2e.json
JEST=(node --experimental-vm-modules --no-warnings node_modules/jest/bin/jest.js)
rc=0
step "unit tests"
"${JEST[@]}" --selectProjects unit --json --outputFile=.cache/jest-unit.json || rc=1

step "control plane binaries, with istiod and istioctl (hack/build.sh; cold: ~26 min on 2 cores, warm: instant)"
bash hack/build.sh
step "end-to-end tests against the local control plane"
"${JEST[@]}" --selectProjects e2e --runInBand --json --outputFile=.cache/jest-e2e.json || rc=1

node -e '
  const fs = require("fs");
  let p = 0, f = 0, s = 0, suitesFailed = 0;
  for (const file of [".cache/jest-unit.json", ".cache/jest-e2e.json"]) {
    if (!fs.existsSync(file)) { suitesFailed++; continue; }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    p += r.numPassedTests; f += r.numFailedTests; s += r.numPendingTests + r.numTodoTests;
    suitesFailed += r.numFailedTestSuites + (r.numRuntimeErrorTestSuites || 0);
  }
  if (suitesFailed && !f) f = suitesFailed;  // a suite that failed to run counts as a failure
  console.log(`\ntests: ${p} passed, ${f} failed${s ? `, ${s} skipped` : ""}`);
'
printf 'total time: %ss\n' "$((SECONDS - t0))" >&2
exit $rc
