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
