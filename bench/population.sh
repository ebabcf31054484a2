# The benchmarks' population, sourced by bench/scale.sh and bench/floor.sh (after hack/lib.sh):
#   populate N M OUT   N Services (svc-0 ... svc-N-1, label acmg-scale=true, one port 9000) over M
#                      namespaces scale-0 ... scale-M-1 (labelled acmg-scale-group=j%10), reused when
#                      a previous run left exactly that population; OUT holds the applied lists.
secs() { echo "$2 - $1" | bc | awk '{printf "%.1f", $1}'; }

populate() {
  local n=$1 m=$2 out=$3 t0 f
  mkdir -p "$out"
  # Namespaces of an earlier run that are still terminating would refuse this run's objects.
  while [ -n "$(kubectl_local get namespaces --no-headers | awk '$1 ~ /^scale-/ && $2 == "Terminating"')" ]; do sleep 5; done
  # The Services of a previous run with KEEP_OBJECTS=1 are reused when they are the same population.
  if [ "$(kubectl_local get services -A -l acmg-scale=true --no-headers 2>/dev/null | wc -l)" = "$n" ] &&
    [ "$(kubectl_local get namespaces -l acmg-scale-group --no-headers 2>/dev/null | wc -l)" = "$m" ]; then
    echo "reusing the $n Services in $m namespaces of the previous run"
    return
  fi
  # Another size was left: its namespaces go first (a namespace of the wrong size would keep extra Services).
  local stale
  stale=$(kubectl_local get namespaces -l acmg-scale-group -o name 2>/dev/null)
  if [ -n "$stale" ]; then
    echo "deleting the previous population ($(echo "$stale" | wc -l) namespaces)"
    # shellcheck disable=SC2086
    kubectl_local delete $stale --timeout=30m >/dev/null
  fi
  rm -f "$out"/objects-*.json
  node -e '
    const [n, m] = process.argv.slice(1).map(Number);
    const items = [];
    for (let j = 0; j < m; j++) items.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: `scale-${j}`, labels: { "acmg-scale-group": String(j % 10) } } });
    for (let i = 0; i < n; i++) items.push({ apiVersion: "v1", kind: "Service", metadata: { name: `svc-${i}`, namespace: `scale-${i % m}`, labels: { "acmg-scale": "true", "acmg-scale-group": String((i % m) % 10) } }, spec: { selector: { app: `svc-${i}` }, ports: [{ name: "http", port: 9000 }] } });
    const chunk = 2000;
    for (let k = 0; k * chunk < items.length; k++) require("fs").writeFileSync(`${process.argv[3]}/objects-${k}.json`, JSON.stringify({ apiVersion: "v1", kind: "List", items: items.slice(k * chunk, (k + 1) * chunk) }));
  ' "$n" "$m" "$out"
  t0=$(date +%s.%N)
  for f in "$out"/objects-*.json; do kubectl_local apply --server-side -f "$f" >/dev/null; done
  echo "created $n Services in $m namespaces in $(secs "$t0" "$(date +%s.%N)") s"
}
