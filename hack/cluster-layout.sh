#!/usr/bin/env bash
# Switches the running cluster's CoreDNS layout: replaces the coredns ConfigMap with
# layouts/<name>.yaml and removes coredns-custom, then waits until CoreDNS serves the new config.
#   bash hack/cluster-layout.sh k3s
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LAYOUT="${1:-}"
[ -n "$LAYOUT" ] && [ -f "$HACK_DIR/layouts/$LAYOUT.yaml" ] || die "usage: cluster-layout.sh <$(ls "$HACK_DIR/layouts" | sed 's/\.yaml$//' | paste -sd'|')>"
OLD_DOMAIN="$(layout_domain "$(cat "$ACMG_CLUSTER_DIR/layout" 2>/dev/null || echo kubeadm)")"
before="$(cat "$PID_DIR/coredns.pid")"
kubectl_local -n kube-system delete configmap coredns-custom --ignore-not-found >/dev/null
kubectl_local replace --force -f "$HACK_DIR/layouts/$LAYOUT.yaml" >/dev/null
echo "$LAYOUT" > "$ACMG_CLUSTER_DIR/layout"
# As an admin would after replacing the Corefile (a layout without reload needs it): new CoreDNS
# pods load it. The sync loop plays that with a new process, and records its PID once it serves.
kubectl_local -n kube-system rollout restart deployment coredns >/dev/null
deadline=$((SECONDS + 30))
until [ "$(cat "$PID_DIR/coredns.pid")" != "$before" ]; do
  [ $SECONDS -lt $deadline ] || die "CoreDNS did not load layout $LAYOUT within 30s; see $LOG_DIR/coredns.log"
  sleep 0.2
done
log "layout $LAYOUT loaded by CoreDNS"
# A new cluster domain is istiod's too (--domain, and the injector's clusterDomain): restart it.
if [ "$(layout_domain "$LAYOUT")" != "$OLD_DOMAIN" ]; then
  log "cluster domain $OLD_DOMAIN -> $(layout_domain "$LAYOUT"): restarting istiod"
  if pid_alive istiod; then
    pid=$(cat "$PID_DIR/istiod.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  bash "$HACK_DIR/istio-up.sh"
fi
