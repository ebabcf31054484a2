#!/usr/bin/env bash
# Builds the local control plane's binaries from Go modules and caches them by version:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes),
#   etcd (go.etcd.io/etcd/server/v3), kwok (sigs.k8s.io/kwok), coredns (github.com/coredns/coredns),
#   pilot-discovery (istiod) and istioctl (istio.io/istio), and acmg's xDS probe (hack/xds-probe) and
#   traffic trace (hack/traffic-trace).
# A second run finds every binary in the cache and returns in well under a second.
#   hack/build.sh [kube|kwok|coredns|istio|gateway-api ...]   build only those groups (default: all)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need() { command -v "$1" >/dev/null || die "$1 is required: $2"; }
need go "install Go (https://go.dev/dl) - the control plane is built from Go modules"

WORK="$ACMG_CACHE_DIR/build"
mkdir -p "$WORK" "$BIN_CACHE"
LDFLAGS_STRIP="-s -w"

have() { [ -x "$(bin_path "$1" "$2")" ]; }

install_bin() { # name version built-file
  local dest; dest="$(bin_path "$1" "$2")"
  mkdir -p "$(dirname "$dest")"
  mv -f "$3" "$dest.tmp" && mv -f "$dest.tmp" "$dest"
  log "cached $1 $2 -> $dest"
}

# k8s.io/kubernetes pins its staging modules to v0.0.0 with replace lines into ./staging, so it
# cannot be `go install`ed. A wrapper module requires it and replaces each staging module with the
# matching published release (v1.X.Y -> v0.X.Y).
build_kube() {
  local names=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd) missing=() n
  for n in "${names[@]}"; do
    local v=$KUBERNETES_VERSION; [ "$n" = etcd ] && v=$ETCD_VERSION
    have "$n" "$v" || missing+=("$n")
  done
  [ ${#missing[@]} -eq 0 ] && { log "kube binaries $KUBERNETES_VERSION, etcd $ETCD_VERSION: cached"; return; }
  local dir="$WORK/kube-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  if [ ! -f "$dir/go.sum" ]; then
    log "resolving k8s.io/kubernetes@$KUBERNETES_VERSION (module download, a few minutes on a cold cache)"
    local modfile
    modfile="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    [ -f "$modfile" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
    {
      echo "module acmg.local/kube"
      echo
      grep -E '^go [0-9]' "$modfile"
      grep -E '^godebug ' "$modfile" || true
      echo
      echo "require ("
      echo "	k8s.io/kubernetes $KUBERNETES_VERSION"
      echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
      echo ")"
      echo
      echo "replace ("
      sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$KUBERNETES_STAGING_VERSION"'#p' "$modfile"
      echo ")"
    } > "$dir/go.mod"
    cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    (cd "$dir" && go mod tidy -e 2>&1 | grep -v '^go: finding\|^go: downloading' >&2 || true)
    [ -f "$dir/go.sum" ] || die "go mod tidy failed in $dir"
  fi
  local kv="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=$(echo "${KUBERNETES_VERSION#v}" | cut -d. -f1) -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
  for n in "${missing[@]}"; do
    local pkg v=$KUBERNETES_VERSION
    case $n in
      etcd) pkg=go.etcd.io/etcd/server/v3; v=$ETCD_VERSION ;;
      *) pkg=k8s.io/kubernetes/cmd/$n ;;
    esac
    log "building $n $v (cold: several minutes on 2 cores)"
    local t0=$SECONDS
    (cd "$dir" && go build -trimpath -ldflags "$LDFLAGS_STRIP $kv" -o "$dir/$n.out" "$pkg") || die "building $n failed"
    install_bin "$n" "$v" "$dir/$n.out"
    log "built $n in $((SECONDS - t0))s"
  done
}

build_kwok() {
  have kwok "$KWOK_VERSION" && { log "kwok $KWOK_VERSION: cached"; return; }
  log "building kwok $KWOK_VERSION"
  local t0=$SECONDS gobin="$WORK/kwok-$KWOK_VERSION"
  mkdir -p "$gobin"
  GOBIN="$gobin" go install -trimpath -ldflags "$LDFLAGS_STRIP" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" 2> >(grep -v '^go: downloading' >&2) || die "building kwok failed"
  install_bin kwok "$KWOK_VERSION" "$gobin/kwok"
  log "built kwok in $((SECONDS - t0))s"
}

# COREDNS_KEY (lib.sh) includes a hash of hack/coredns/main.go: a change to the plugin set rebuilds.
build_coredns() {
  have coredns "$COREDNS_KEY" && { log "coredns $COREDNS_KEY: cached"; return; }
  log "building coredns $COREDNS_VERSION (plugin subset: hack/coredns/main.go)"
  local t0=$SECONDS dir="$WORK/coredns-$COREDNS_VERSION"
  mkdir -p "$dir"
  cp "$HACK_DIR/coredns/main.go" "$dir/main.go"
  if [ ! -f "$dir/go.mod" ]; then
    (cd "$dir" && go mod init acmg.local/coredns >/dev/null 2>&1 && go get "github.com/coredns/coredns@$COREDNS_VERSION" >/dev/null 2>&1) || die "resolving coredns failed"
  fi
  (cd "$dir" && go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$dir" && go build -trimpath -ldflags "$LDFLAGS_STRIP" -o "$dir/coredns.out" .) || die "building coredns failed"
  install_bin coredns "$COREDNS_KEY" "$dir/coredns.out"
  log "built coredns in $((SECONDS - t0))s"
}

# Istio's module needs newer k8s.io modules than KUBERNETES_VERSION, so it gets a wrapper module of
# its own. The xDS probe (hack/xds-probe) and the traffic trace (hack/traffic-trace, which links
# Istio's traffic simulator, pilot/pkg/simulation, and with it Istio's test helpers: about 5 more
# minutes cold) live in the same module: they share Istio's go-control-plane and gRPC versions, and
# each one's cache key includes a hash of its source.
TRAFFIC_TRACE_KEY="$ISTIO_KEY-$(sha256sum "$HACK_DIR/traffic-trace/main.go" | cut -c1-8)"
build_istio() {
  local missing=() n
  for n in pilot-discovery istioctl; do have "$n" "$ISTIO_KEY" || missing+=("$n"); done
  have xds-probe "$XDS_PROBE_KEY" || missing+=(xds-probe)
  have traffic-trace "$TRAFFIC_TRACE_KEY" || missing+=(traffic-trace)
  [ ${#missing[@]} -eq 0 ] && { log "istio $ISTIO_RELEASE ($ISTIO_VERSION), xds-probe, traffic-trace: cached"; return; }
  local dir="$WORK/istio-$ISTIO_VERSION"
  mkdir -p "$dir/xds-probe" "$dir/traffic-trace"
  cp "$HACK_DIR/xds-probe/main.go" "$dir/xds-probe/main.go"
  cp "$HACK_DIR/traffic-trace/main.go" "$dir/traffic-trace/main.go"
  if [ ! -f "$dir/go.mod" ]; then
    log "resolving istio.io/istio@$ISTIO_VERSION (module download, a few minutes on a cold cache)"
    local modfile
    modfile="$(cd "$dir" && go mod download -json "istio.io/istio@$ISTIO_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    [ -f "$modfile" ] || die "could not download istio.io/istio@$ISTIO_VERSION"
    grep -q '^replace' "$modfile" && die "istio.io/istio@$ISTIO_VERSION has replace directives; the wrapper would need them too"
    { echo "module acmg.local/istio"; echo; grep -E '^go [0-9]' "$modfile"; echo
      echo "require istio.io/istio $ISTIO_VERSION"; } > "$dir/go.mod.tmp"
    cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "istio.io/istio/istioctl/cmd/istioctl"
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
GO
    mv "$dir/go.mod.tmp" "$dir/go.mod"
  fi
  (cd "$dir" && go mod tidy -e 2>&1 | grep -v '^go: finding\|^go: downloading' >&2 || true)
  [ -f "$dir/go.sum" ] || die "go mod tidy failed in $dir"
  local iv="-X istio.io/istio/pkg/version.buildVersion=$ISTIO_RELEASE -X istio.io/istio/pkg/version.buildGitRevision=${ISTIO_VERSION##*-} -X istio.io/istio/pkg/version.buildStatus=Clean -X istio.io/istio/pkg/version.buildTag=$ISTIO_RELEASE -X istio.io/istio/pkg/version.buildHub=docker.io/istio"
  for n in "${missing[@]}"; do
    local pkg key=$ISTIO_KEY
    case $n in
      pilot-discovery) pkg=istio.io/istio/pilot/cmd/pilot-discovery ;;
      istioctl) pkg=istio.io/istio/istioctl/cmd/istioctl ;;
      xds-probe) pkg=./xds-probe; key=$XDS_PROBE_KEY ;;
      traffic-trace) pkg=./traffic-trace; key=$TRAFFIC_TRACE_KEY ;;
    esac
    log "building $n $key (cold: several minutes on 2 cores)"
    local t0=$SECONDS
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$LDFLAGS_STRIP $iv" -o "$dir/$n.out" "$pkg") || die "building $n failed"
    install_bin "$n" "$key" "$dir/$n.out"
    log "built $n in $((SECONDS - t0))s"
  done
}

t0=$SECONDS
groups=("$@"); [ ${#groups[@]} -gt 0 ] || groups=(kube kwok coredns istio gateway-api)
for g in "${groups[@]}"; do
  case $g in
    kube|kwok|coredns|istio) "build_$g" ;;
    # Not built: the Gateway API CRDs, fetched from their Go module and cached beside the binaries.
    gateway-api) bash "$HACK_DIR/gateway-api-crds.sh" >/dev/null ;;
    *) die "unknown group \"$g\": use kube, kwok, coredns, istio or gateway-api" ;;
  esac
done
log "control plane binaries ready in $((SECONDS - t0))s (cache: $BIN_CACHE)"
