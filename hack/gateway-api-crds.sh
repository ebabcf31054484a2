#!/usr/bin/env bash
# Caches the Gateway API CRDs (standard channel: GatewayClass, Gateway, HTTPRoute, GRPCRoute,
# TCPRoute, TLSRoute, UDPRoute, ReferenceGrant, ListenerSet, BackendTLSPolicy) of
# sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION, taken from the Go module (the module proxy serves
# it), as one file, and prints its path. A second run finds the file and prints it at once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out="$BIN_CACHE/gateway-api-$GATEWAY_API_VERSION/crds.yaml"
if [ ! -s "$out" ]; then
  dir="$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [ -d "$dir/config/crd/standard" ] || die "could not download sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"
  mkdir -p "$(dirname "$out")"
  # The CRDs only: the safe-upgrades ValidatingAdmissionPolicy is for clusters upgrading across channels.
  for f in "$dir"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
    case $f in *_vap_*) continue ;; esac
    printf -- '---\n'; cat "$f"
  done > "$out.tmp"
  mv -f "$out.tmp" "$out"
  log "cached the Gateway API CRDs $GATEWAY_API_VERSION -> $out"
fi
printf '%s\n' "$out"
