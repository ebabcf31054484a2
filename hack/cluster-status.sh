#!/usr/bin/env bash
# Shows which harness processes run, and whether the API server and CoreDNS answer.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$PID_DIR" ] || { echo "no cluster (state dir $ACMG_CLUSTER_DIR not found); start one with: npm run cluster:up"; exit 1; }
rc=0
for name in "${COMPONENTS[@]}"; do
  if pid_alive "$name"; then printf '  %-24s running (pid %s)\n' "$name" "$(cat "$PID_DIR/$name.pid")"
  else printf '  %-24s NOT RUNNING (log: %s)\n' "$name" "$LOG_DIR/$name.log"; rc=1; fi
done
if kubectl_local get --raw /readyz >/dev/null 2>&1; then echo "  api server               ready at https://127.0.0.1:$APISERVER_PORT"; else echo "  api server               not ready"; rc=1; fi
if curl -sf "http://127.0.0.1:$DNS_READY_PORT/ready" >/dev/null; then echo "  cluster DNS              ready at 127.0.0.1:$DNS_PORT"; else echo "  cluster DNS              not ready"; rc=1; fi
if curl -sf "http://127.0.0.1:$ISTIOD_HTTP_PORT/ready" >/dev/null; then echo "  istiod                   ready, xDS at 127.0.0.1:$ISTIOD_XDS_PORT"; else echo "  istiod                   not ready"; rc=1; fi
echo "  layout                   $(cat "$ACMG_CLUSTER_DIR/layout" 2>/dev/null)"
echo "  kubeconfig               $KUBECONFIG_PATH"
exit $rc
