#!/usr/bin/env bash
# Installs real Istio into the running local control plane: Istio's CRDs and istiod's objects as
# `istioctl manifest generate` renders them (profile minimal), then istiod (pilot-discovery) as a
# process on loopback, serving xDS on $ISTIOD_XDS_PORT and its webhooks (sidecar injector,
# config validation) on https://127.0.0.1:$ISTIOD_WEBHOOK_PORT. Run by cluster-up.sh; returns
# when the injector injects and the validator rejects an invalid object.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ISTIO_DIR="$ACMG_CLUSTER_DIR/istio"
mkdir -p "$ISTIO_DIR/work" "$PID_DIR" "$LOG_DIR"
ISTIOCTL="$(bin_path istioctl "$ISTIO_KEY")"
DOMAIN="$(layout_domain "$(cat "$ACMG_CLUSTER_DIR/layout" 2>/dev/null || echo kubeadm)")"

log "rendering Istio $ISTIO_RELEASE with istioctl (profile minimal, domain $DOMAIN)"
# defaultRevision renders istiod-default-validator, which validates objects without an istio.io/rev
# label (as `istioctl install` leaves a cluster); without it only labelled objects are validated.
"$ISTIOCTL" manifest generate --set profile=minimal --set values.defaultRevision=default \
  --set values.global.hub=docker.io/istio --set "values.global.tag=$ISTIO_RELEASE" \
  --set "values.global.proxy.clusterDomain=$DOMAIN" \
  > "$ISTIO_DIR/rendered.yaml" 2> "$LOG_DIR/istioctl-manifest.log" \
  || die "istioctl manifest generate failed; see $LOG_DIR/istioctl-manifest.log"
ISTIOD_WEBHOOK_PORT="$ISTIOD_WEBHOOK_PORT" node "$HACK_DIR/istio-manifest.mjs" "$ISTIO_DIR/rendered.yaml" "$ISTIO_DIR" 2>> "$LOG_DIR/istioctl-manifest.log" \
  || die "translating Istio's manifest failed; see $LOG_DIR/istioctl-manifest.log"

kubectl_local apply --server-side --field-manager=acmg-harness -f "$ISTIO_DIR/crds.json" >/dev/null
kubectl_local wait --for condition=established --timeout=60s -f "$ISTIO_DIR/crds.json" >/dev/null
kubectl_local apply --server-side --field-manager=acmg-harness --force-conflicts -f "$ISTIO_DIR/objects.json" >/dev/null
# The Gateway API CRDs before istiod starts, so it serves them from its first push (its Gateway API
# support is on by default; it creates the GatewayClass "istio" itself).
GATEWAY_API_CRDS="$(bash "$HACK_DIR/gateway-api-crds.sh")"
kubectl_local apply --server-side --field-manager=acmg-harness -f "$GATEWAY_API_CRDS" >/dev/null
kubectl_local wait --for condition=established --timeout=60s -f "$GATEWAY_API_CRDS" >/dev/null

# istiod as the chart's Deployment runs it, with the fieldRef values a pod would get and every
# listener on loopback. Its working directory has no ./var/lib/istio/inject and no
# ./etc/istio/config/mesh, so it reads the injector and mesh ConfigMaps, as `istioctl` left them.
log "starting istiod (xDS 127.0.0.1:$ISTIOD_XDS_PORT, webhooks https://127.0.0.1:$ISTIOD_WEBHOOK_PORT)"
mapfile -t chart_env < "$ISTIO_DIR/istiod.env"
mapfile -t chart_args < "$ISTIO_DIR/istiod.args"
(
  cd "$ISTIO_DIR/work"
  setsid env "${chart_env[@]}" \
    POD_NAME=istiod-local POD_NAMESPACE=istio-system SERVICE_ACCOUNT=istiod KUBECONFIG="$KUBECONFIG_PATH" \
    ISTIOD_CUSTOM_HOST=127.0.0.1 PILOT_CERT_PROVIDER=istiod GOMAXPROCS=2 \
    "$(bin_path pilot-discovery "$ISTIO_KEY")" "${chart_args[@]}" \
    --kubeconfig "$KUBECONFIG_PATH" --domain "$DOMAIN" \
    --grpcAddr "127.0.0.1:$ISTIOD_XDS_PORT" --secureGRPCAddr "127.0.0.1:$ISTIOD_SECURE_XDS_PORT" \
    --httpsAddr "127.0.0.1:$ISTIOD_WEBHOOK_PORT" --httpAddr "127.0.0.1:$ISTIOD_HTTP_PORT" \
    --monitoringAddr "127.0.0.1:$ISTIOD_MONITORING_PORT" --ctrlz_address 127.0.0.1 --ctrlz_port "$ISTIOD_CTRLZ_PORT" \
    >"$LOG_DIR/istiod.log" 2>&1 < /dev/null &
  echo $! > "$PID_DIR/istiod.pid"
)

# Ready means: istiod says so, the injector injects, and the validator rejects what it must.
probe_pod='{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"acmg-harness-probe-","namespace":"default"},"spec":{"containers":[{"name":"app","image":"busybox"}]}}'
# A Gateway without servers, the object istiod itself checks its validation with.
bad_gw='{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"acmg-harness-probe","namespace":"default"},"spec":{}}'
# (istio-proxy is a native sidecar, an init container, where Istio enables them; a container otherwise)
# (Output captured before matching: under pipefail, `kubectl | grep -q` would carry kubectl's exit.)
injects() { local out; out=$(kubectl_local create --dry-run=server -o 'jsonpath={.spec.containers[*].name} {.spec.initContainers[*].name}' -f - <<< "$probe_pod" 2>/dev/null) || return 1; [[ " $out " == *" istio-proxy "* ]]; }
validates() { local out; out=$(kubectl_local create --dry-run=server -f - <<< "$bad_gw" 2>&1) && return 1; [[ $out == *'denied the request'* ]]; }
deadline=$((SECONDS + 120))
# istiod's GatewayClass "istio" says its Gateway API controller runs.
has_gateway_class() { kubectl_local get gatewayclass istio >/dev/null 2>&1; }
until curl -sf "http://127.0.0.1:$ISTIOD_HTTP_PORT/ready" >/dev/null 2>&1 && injects && validates && has_gateway_class; do
  pid_alive istiod || die "istiod exited; see $LOG_DIR/istiod.log"
  [ $SECONDS -lt $deadline ] || die "istiod's webhooks did not work within 120s; see $LOG_DIR/istiod.log"
  sleep 0.5
done
log "istiod ready: injector injects, validator rejects, GatewayClass istio exists"
