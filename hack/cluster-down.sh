#!/usr/bin/env bash
# Stops every process cluster-up started (by the PIDs it recorded) and removes the cluster's state.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ ! -d "$ACMG_CLUSTER_DIR" ]; then log "no cluster in $ACMG_CLUSTER_DIR"; exit 0; fi
# Reverse start order: clients before the API server, the API server before etcd.
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  name=${COMPONENTS[i]}
  f="$PID_DIR/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
done
rm -rf "$ACMG_CLUSTER_DIR"
log "removed $ACMG_CLUSTER_DIR"
