#!/usr/bin/env bash
# Starts the local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kwok (simulated nodes and pods) and CoreDNS (with a sync loop playing the kubelet's part), all on
# loopback. Idempotent: if the cluster is already up, prints its details and returns.
#   ACMG_CLUSTER_LAYOUT=kubeadm|k3s|custom-domain   CoreDNS layout to seed (default kubeadm)
#   ACMG_CLUSTER_DIR=/tmp/acmg-cluster               state directory (pids, logs, certs, data)
# Istio is real (istiod on loopback, its CRDs and webhooks, see istio-up.sh); pods are simulated.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAYOUT="${ACMG_CLUSTER_LAYOUT:-kubeadm}"
[ -f "$HACK_DIR/layouts/$LAYOUT.yaml" ] || die "unknown layout \"$LAYOUT\": use one of $(ls "$HACK_DIR/layouts" | sed 's/\.yaml$//' | tr '\n' ' ')"

print_info() {
  cat <<INFO
cluster up (layout: $(cat "$ACMG_CLUSTER_DIR/layout" 2>/dev/null || echo "$LAYOUT"))
  kubeconfig:  $KUBECONFIG_PATH
  api server:  https://127.0.0.1:$APISERVER_PORT
  cluster DNS: 127.0.0.1:$DNS_PORT (CoreDNS; try: acmg verify-dns --nameserver 127.0.0.1:$DNS_PORT)
  istiod:      xDS 127.0.0.1:$ISTIOD_XDS_PORT, webhooks https://127.0.0.1:$ISTIOD_WEBHOOK_PORT (real istiod $ISTIO_RELEASE; pods are simulated)
  istioctl:    $(bin_path istioctl "$ISTIO_KEY") --kubeconfig $KUBECONFIG_PATH analyze -A
  kubectl:     $(bin_path kubectl "$KUBERNETES_VERSION") --kubeconfig $KUBECONFIG_PATH get nodes
  stop:        npm run cluster:down
INFO
}

healthy() { pid_alive kube-apiserver && pid_alive coredns && kubectl_local get --raw /readyz >/dev/null 2>&1; }

if healthy; then print_info; exit 0; fi
if [ -d "$PID_DIR" ]; then
  log "a previous cluster in $ACMG_CLUSTER_DIR is not healthy; stopping it first"
  bash "$HACK_DIR/cluster-down.sh"
fi

bash "$HACK_DIR/build.sh"
BIN() { bin_path "$1" "$2"; }
KUBE_BIN() { BIN "$1" "$KUBERNETES_VERSION"; }

for p in $ETCD_PORT $ETCD_PEER_PORT $APISERVER_PORT $DNS_PORT $DNS_UPSTREAM_PORT $DNS_HEALTH_PORT $DNS_READY_PORT $DNS_METRICS_PORT $KWOK_PORT \
  $ISTIOD_XDS_PORT $ISTIOD_SECURE_XDS_PORT $ISTIOD_WEBHOOK_PORT $ISTIOD_HTTP_PORT $ISTIOD_MONITORING_PORT $ISTIOD_CTRLZ_PORT; do
  if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then die "port 127.0.0.1:$p is in use; free it or set ACMG_*_PORT (see hack/lib.sh)"; fi
done

t0=$SECONDS
mkdir -p "$ACMG_CLUSTER_DIR" "$PID_DIR" "$LOG_DIR"
echo "$LAYOUT" > "$ACMG_CLUSTER_DIR/layout"
PKI="$ACMG_CLUSTER_DIR/pki"
mkdir -p "$PKI"

# --- certificates -------------------------------------------------------------------------------
gen_cert() { # name subject [san]
  local name=$1 subj=$2 san=${3:-}
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  local ext="$PKI/$name.ext"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=digitalSignature,keyEncipherment"
    if [ -n "$san" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"; else echo "extendedKeyUsage=clientAuth"; fi
  } > "$ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 365 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
}
log "generating certificates"
openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -subj "/CN=acmg-local-ca" -days 365 -out "$PKI/ca.crt" 2>/dev/null
gen_cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
gen_cert admin "/O=system:masters/CN=kubernetes-admin"
gen_cert coredns "/CN=system:coredns"
# kwok plays the kubelets: it serves port-forward (and exec) for the API server over TLS.
gen_cert kwok "/CN=kwok-kubelet" "IP:127.0.0.1,DNS:localhost"
openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null

write_kubeconfig() { # file user cert key
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: acmg-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $3
    client-key: $4
contexts:
- name: $5
  context: { cluster: acmg-local, user: $2 }
current-context: $5
KC
}
write_kubeconfig "$KUBECONFIG_PATH" admin "$PKI/admin.crt" "$PKI/admin.key" acmg-local
write_kubeconfig "$ACMG_CLUSTER_DIR/coredns.kubeconfig" coredns "$PKI/coredns.crt" "$PKI/coredns.key" coredns

start() { # name command...
  local name=$1; shift
  setsid "$@" >"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$PID_DIR/$name.pid"
}
wait_for() { # what timeout-seconds command...
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what did not become ready in ${timeout}s; see $LOG_DIR"
    sleep 0.3
  done
}

# --- etcd, kube-apiserver -------------------------------------------------------------------------
log "starting etcd"
start etcd "$(BIN etcd "$ETCD_VERSION")" --name acmg --data-dir "$ACMG_CLUSTER_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "acmg=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --quota-backend-bytes=4294967296 --log-level=warn
wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

log "starting kube-apiserver"
start kube-apiserver "$(KUBE_BIN kube-apiserver)" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 --authorization-mode=Node,RBAC --allow-privileged=true \
  --kubelet-preferred-address-types=InternalIP --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
  --endpoint-reconciler-type=none --enable-priority-and-fairness=false --profiling=false \
  --storage-media-type=application/vnd.kubernetes.protobuf --watch-cache=true --v=1
wait_for kube-apiserver 90 kubectl_local get --raw /readyz

log "starting kube-controller-manager, kube-scheduler, kwok"
start kube-controller-manager "$(KUBE_BIN kube-controller-manager)" --kubeconfig="$KUBECONFIG_PATH" \
  --authentication-kubeconfig="$KUBECONFIG_PATH" --authorization-kubeconfig="$KUBECONFIG_PATH" \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --leader-elect=false --use-service-account-credentials=false --bind-address=127.0.0.1 --secure-port=0 \
  --controllers='*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route' \
  --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 --concurrent-service-endpoint-syncs=10 \
  --kube-api-qps=500 --kube-api-burst=1000 --v=1
start kube-scheduler "$(KUBE_BIN kube-scheduler)" --kubeconfig="$KUBECONFIG_PATH" \
  --authentication-kubeconfig="$KUBECONFIG_PATH" --authorization-kubeconfig="$KUBECONFIG_PATH" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --kube-api-qps=500 --kube-api-burst=1000 --v=1
# Port-forwards to pods in kube-system, port 53, reach the harness's CoreDNS (DNS over TCP): the
# API server's port-forward path that `acmg verify-dns` uses from outside a real cluster.
cat > "$ACMG_CLUSTER_DIR/kwok.yaml" <<KWOK
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterPortForward
metadata:
  name: cluster-dns
spec:
  selector:
    matchNamespaces: [kube-system]
  forwards:
    - ports: [53]
      target:
        address: 127.0.0.1
        port: $DNS_PORT
KWOK
start kwok "$(BIN kwok "$KWOK_VERSION")" --kubeconfig="$KUBECONFIG_PATH" --config="$ACMG_CLUSTER_DIR/kwok.yaml" \
  --node-port="$KWOK_PORT" --tls-cert-file="$PKI/kwok.crt" --tls-private-key-file="$PKI/kwok.key" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --manage-nodes-with-label-selector= --disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom \
  --disregard-status-with-label-selector= --cidr=10.244.0.1/16 --node-ip=127.0.0.1 \
  --node-lease-duration-seconds=40 --server-address="127.0.0.1:$KWOK_PORT"

# --- seed like a kubeadm cluster ------------------------------------------------------------------
log "seeding namespaces, CoreDNS objects and nodes (layout: $LAYOUT)"
wait_for "default service account" 60 kubectl_local -n default get serviceaccount default
kubectl_local apply --server-side --field-manager=acmg-harness -f "$HACK_DIR/manifests/mesh.yaml" -f "$HACK_DIR/manifests/coredns.yaml" -f "$HACK_DIR/manifests/nodes.yaml" -f "$HACK_DIR/layouts/$LAYOUT.yaml" >/dev/null

# --- Istio: real CRDs and istiod (a process on loopback), its injector and validation webhooks ----
bash "$HACK_DIR/istio-up.sh"

# --- CoreDNS --------------------------------------------------------------------------------------
log "starting CoreDNS on 127.0.0.1:$DNS_PORT"
COREDNS_DIR="$ACMG_CLUSTER_DIR/coredns"
mkdir -p "$COREDNS_DIR/custom"
start coredns-sync env SYNC_SERVER="https://127.0.0.1:$APISERVER_PORT" SYNC_CA="$PKI/ca.crt" SYNC_CERT="$PKI/admin.crt" SYNC_KEY="$PKI/admin.key" \
  SYNC_OUT="$COREDNS_DIR" SYNC_COREDNS_PIDFILE="$PID_DIR/coredns.pid" SYNC_COREDNS_BIN="$(BIN coredns "$COREDNS_KEY")" SYNC_COREDNS_LOG="$LOG_DIR/coredns.log" SYNC_COREDNS_KUBECONFIG="$ACMG_CLUSTER_DIR/coredns.kubeconfig" SYNC_DELAY_MS="${ACMG_CLUSTER_SYNC_DELAY_MS:-1000}" \
  DNS_PORT="$DNS_PORT" DNS_UPSTREAM_PORT="$DNS_UPSTREAM_PORT" DNS_HEALTH_PORT="$DNS_HEALTH_PORT" DNS_READY_PORT="$DNS_READY_PORT" DNS_METRICS_PORT="$DNS_METRICS_PORT" \
  node "$HACK_DIR/coredns-sync.mjs"
wait_for "coredns-sync" 30 test -s "$COREDNS_DIR/Corefile"
start coredns "$(BIN coredns "$COREDNS_KEY")" -conf "$COREDNS_DIR/Corefile"
wait_for coredns 60 curl -sf "http://127.0.0.1:$DNS_READY_PORT/ready"

log "waiting for the simulated nodes and the coredns Deployment"
kubectl_local wait --for condition=Ready --timeout=60s node --all >/dev/null
kubectl_local -n kube-system rollout status deployment/coredns --timeout=60s >/dev/null
log "cluster ready in $((SECONDS - t0))s"
print_info
