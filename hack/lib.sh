# Shared helpers for hack/ scripts. Sourced, never run.
set -euo pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="$(cd "$HACK_DIR/.." && pwd)"
# shellcheck source=versions.env
source "$HACK_DIR/versions.env"

# Binaries live outside the repo, keyed by version, so a fresh clone reuses them.
ACMG_CACHE_DIR="${ACMG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/acmg}"
BIN_CACHE="$ACMG_CACHE_DIR/bin"
# Cluster state (pids, certs, etcd data, kubeconfig). One cluster per state dir.
ACMG_CLUSTER_DIR="${ACMG_CLUSTER_DIR:-${TMPDIR:-/tmp}/acmg-cluster}"

export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# bin_path NAME VERSION -> path of the cached binary
bin_path() { printf '%s/%s-%s/%s' "$BIN_CACHE" "$1" "$2" "$1"; }

# Loopback ports of the local cluster (override any of them in the environment).
ETCD_PORT="${ACMG_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${ACMG_ETCD_PEER_PORT:-23800}"
APISERVER_PORT="${ACMG_APISERVER_PORT:-16443}"
DNS_PORT="${ACMG_DNS_PORT:-10053}"
# CoreDNS's "upstream": a stub on loopback answering NXDOMAIN, so nothing leaves this machine.
DNS_UPSTREAM_PORT="${ACMG_DNS_UPSTREAM_PORT:-10054}"
DNS_HEALTH_PORT="${ACMG_DNS_HEALTH_PORT:-18080}"
DNS_READY_PORT="${ACMG_DNS_READY_PORT:-18181}"
DNS_METRICS_PORT="${ACMG_DNS_METRICS_PORT:-19153}"
KWOK_PORT="${ACMG_KWOK_PORT:-10247}"
# istiod (a process on loopback): plaintext xDS, xDS over TLS, webhooks, debug HTTP, metrics, ControlZ.
ISTIOD_XDS_PORT="${ACMG_ISTIOD_XDS_PORT:-15010}"
ISTIOD_SECURE_XDS_PORT="${ACMG_ISTIOD_SECURE_XDS_PORT:-15012}"
ISTIOD_WEBHOOK_PORT="${ACMG_ISTIOD_WEBHOOK_PORT:-15017}"
ISTIOD_HTTP_PORT="${ACMG_ISTIOD_HTTP_PORT:-15080}"
ISTIOD_MONITORING_PORT="${ACMG_ISTIOD_MONITORING_PORT:-15014}"
ISTIOD_CTRLZ_PORT="${ACMG_ISTIOD_CTRLZ_PORT:-19876}"

KUBECONFIG_PATH="$ACMG_CLUSTER_DIR/kubeconfig"
PID_DIR="$ACMG_CLUSTER_DIR/pids"
LOG_DIR="$ACMG_CLUSTER_DIR/logs"

COREDNS_KEY="$COREDNS_VERSION-$(sha256sum "$HACK_DIR/coredns/main.go" | cut -c1-8)"
ISTIO_KEY="$ISTIO_RELEASE-${ISTIO_VERSION##*-}"
XDS_PROBE_KEY="$ISTIO_KEY-$(sha256sum "$HACK_DIR/xds-probe/main.go" | cut -c1-8)"
kubectl_local() { "$(bin_path kubectl "$KUBERNETES_VERSION")" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

pid_alive() { [ -f "$PID_DIR/$1.pid" ] && kill -0 "$(cat "$PID_DIR/$1.pid")" 2>/dev/null; }

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok istiod coredns coredns-sync)

# layout_domain LAYOUT -> the cluster domain its Corefile serves (the kubernetes plugin's first zone)
layout_domain() { sed -n 's/^ *kubernetes \([a-z0-9.-]*\) .*/\1/p' "$HACK_DIR/layouts/$1.yaml" | head -1; }
