#!/usr/bin/env bash
# Stops every process cluster-up started (by the PIDs it recorded) and removes the cluster's state.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ ! -d "$ACMG_CLUSTER_DIR" ]; then log "no cluster in $ACMG_CLUSTER_DIR"; exit 0; fi
# istiod's webhooks first, while the API server still answers: with istiod gone they would make
# every pod and Istio object write fail (failurePolicy Fail) for anything that outlives this.
if pid_alive kube-apiserver; then
  kubectl_local delete mutatingwebhookconfigurations,validatingwebhookconfigurations --all --timeout=10s >/dev/null 2>&1 || true
fi
# Ask everything to stop at once (reverse start order), then wait, then force what is left.
pids=()
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  f="$PID_DIR/${COMPONENTS[i]}.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid:${COMPONENTS[i]}")
  fi
done
for _ in $(seq 1 50); do
  alive=0
  for p in "${pids[@]}"; do kill -0 "${p%%:*}" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
  sleep 0.1
done
for p in "${pids[@]}"; do
  kill -KILL -- "-${p%%:*}" 2>/dev/null || kill -KILL "${p%%:*}" 2>/dev/null || true
  log "stopped ${p#*:} (pid ${p%%:*})"
done
rm -rf "$ACMG_CLUSTER_DIR"
log "removed $ACMG_CLUSTER_DIR"
