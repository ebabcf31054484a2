#!/usr/bin/env bash
# Switches the running cluster's CoreDNS layout: replaces the coredns ConfigMap with
# layouts/<name>.yaml and removes coredns-custom, then waits until CoreDNS serves the new config.
#   bash hack/cluster-layout.sh k3s
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LAYOUT="${1:-}"
[ -n "$LAYOUT" ] && [ -f "$HACK_DIR/layouts/$LAYOUT.yaml" ] || die "usage: cluster-layout.sh <$(ls "$HACK_DIR/layouts" | sed 's/\.yaml$//' | paste -sd'|')>"
kubectl_local -n kube-system delete configmap coredns-custom --ignore-not-found >/dev/null
kubectl_local replace --force -f "$HACK_DIR/layouts/$LAYOUT.yaml" >/dev/null
echo "$LAYOUT" > "$ACMG_CLUSTER_DIR/layout"
log "layout $LAYOUT applied; CoreDNS picks it up within a few seconds (sync loop + reload)"
