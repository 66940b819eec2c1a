#!/usr/bin/env bash
# Brings up the two-node lab cluster; see lab/README.md. Idempotent: a healthy lab
# is left as it is, a broken one is torn down and started again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ $EUID -eq 0 ]] || die "lab-up needs root (network and mount namespaces, cgroups)"
t0=$SECONDS
S=$LAB_STATE

lab_healthy() {
	local d
	[[ -f $S/up-complete ]] || return 1
	for d in etcd apiserver controller-manager scheduler api-forward inet-httpd; do tracked_alive "$d" || return 1; done
	for n in "${NODES[@]}"; do
		for d in "$n-ns" "$n-containerd" "$n-kubelet" "$n-kube-proxy"; do tracked_alive "$d" || return 1; done
	done
	lab_kubectl get --raw /readyz >/dev/null 2>&1
}

if [[ -d $S ]]; then
	if lab_healthy; then
		log "lab already up"
		bash "$LAB_SRC/scripts/images-import.sh" probe
		if [[ ${DEMO:-0} == 1 ]]; then bash "$LAB_SRC/scripts/demo.sh" >/dev/null; fi
		echo "KUBECONFIG=$KUBECONFIG_ADMIN"
		exit 0
	fi
	log "found a stale or broken lab; tearing it down first"
fi
# Also clears what a lab whose state folder is gone may have left (namespaces, cgroups).
if ! out=$(bash "$LAB_SRC/scripts/down.sh" 2>&1); then
	echo "$out" >&2
	die "tearing down the old lab failed"
fi

# Kernel-wide settings the lab must leave untouched; compared at the end.
SYSCTLS=(kernel/panic kernel/panic_on_oops vm/overcommit_memory vm/panic_on_oom
	kernel/keys/root_maxkeys kernel/keys/root_maxbytes net/ipv4/ip_forward)
sysctl_snapshot() { local s; for s in "${SYSCTLS[@]}"; do echo "$s=$(cat "/proc/sys/$s")"; done; }
before=$(sysctl_snapshot)

bash "$LAB_SRC/scripts/debs.sh"
bash "$LAB_SRC/scripts/build.sh" all
bash "$LAB_SRC/scripts/images.sh"
export PATH=$LAB_CACHE/bin:$DEBS/usr/bin:$DEBS/usr/sbin:$PATH

mkdir -p "$S"/{pids,logs,nodes}
# The probe image builds while the cluster starts; it is imported at the end.
bash "$LAB_SRC/scripts/images-import.sh" probe-build 2>"$S/logs/probe-build.err" &
probe_build=$!
# Wrappers that run the unpacked iptables and conntrack against their own libraries.
mkdir -p "$LAB_CACHE/bin"
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
	printf '#!/bin/bash\nLD_LIBRARY_PATH=%s XTABLES_LIBDIR=%s exec -a %s %s "$@"\n' \
		"$DEBS/usr/lib/x86_64-linux-gnu" "$DEBS/usr/lib/x86_64-linux-gnu/xtables" "$t" "$DEBS/usr/sbin/xtables-nft-multi" \
		>"$LAB_CACHE/bin/$t"
done
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$DEBS/usr/lib/x86_64-linux-gnu" "$DEBS/usr/sbin/conntrack" >"$LAB_CACHE/bin/conntrack"
chmod +x "$LAB_CACHE/bin"/*

log "certificates"
bash "$LAB_SRC/scripts/pki.sh"
PKI=$S/pki

log "cgroups /$CGROUP_ROOT in every v1 hierarchy"
for h in $(cgroup_hierarchies); do
	groups=("$CGROUP_ROOT" "${NODES[@]/#/$CGROUP_ROOT/}")
	# The daemons' group only tracks them; it lives in the pids hierarchy alone.
	[[ $h == */pids ]] && groups+=("$CGROUP_ROOT/daemons")
	for g in "${groups[@]}"; do
		mkdir -p "$h/$g"
		if [[ -f $h/$g/cpuset.cpus ]]; then
			cat "$(dirname "$h/$g")/cpuset.cpus" >"$h/$g/cpuset.cpus"
			cat "$(dirname "$h/$g")/cpuset.mems" >"$h/$g/cpuset.mems"
		fi
	done
done

log "network namespaces: $NS_CORE (router, control plane), $NS_INET (203.0.113.0/24), one per node"
[[ -d /run/netns ]] || touch "$S/created-run-netns"
ip netns add "$NS_CORE"
ip netns add "$NS_INET"
ip -n "$NS_CORE" link set lo up
ip -n "$NS_CORE" link add lan0 type bridge
ip -n "$NS_CORE" addr add "$CORE_IP/24" dev lan0
ip -n "$NS_CORE" link set lan0 up
ip netns exec "$NS_CORE" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NS_INET" link set lo up
ip -n "$NS_CORE" link add inet0 type veth peer name eth0 netns "$NS_INET"
ip -n "$NS_CORE" addr add "$INET_GW/24" dev inet0
ip -n "$NS_CORE" link set inet0 up
ip -n "$NS_INET" addr add "$INET_IP/24" dev eth0
ip -n "$NS_INET" link set eth0 up
ip -n "$NS_INET" route add default via "$INET_GW"
for n in "${NODES[@]}"; do
	ns=$(node_netns "$n")
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" link add eth0 type veth peer name "veth-$n" netns "$NS_CORE"
	ip -n "$NS_CORE" link set "veth-$n" master lan0 up
	ip -n "$ns" addr add "$(node_ip "$n")/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$CORE_IP"
	ip -n "$NS_CORE" route add "$(node_pod_cidr "$n")" via "$(node_ip "$n")"
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
	for m in "${NODES[@]}"; do
		[[ $m == "$n" ]] || ip -n "$ns" route add "$(node_pod_cidr "$m")" via "$(node_ip "$m")"
	done
done

log "control plane in $NS_CORE"
mkdir -p "$S/etcd" "$S/cm-flexvolume"
start_daemon etcd ip netns exec "$NS_CORE" etcd --name lab --data-dir "$S/etcd" \
	--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
	--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
	--initial-cluster lab=http://127.0.0.1:2380 --log-level warn
start_daemon apiserver ip netns exec "$NS_CORE" "$K8S_BIN/kube-apiserver" \
	--etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$CORE_IP" \
	--service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
	--client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
	--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
	--kubelet-preferred-address-types=InternalIP \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
	--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --profiling=false --event-ttl=1h
start_daemon api-forward "$K8S_BIN/nsforward" -listen "127.0.0.1:$API_PORT" -netns "/run/netns/$NS_CORE" -target 127.0.0.1:6443
log "internet-like server http://$INET_IP/ in $NS_INET"
mkdir -p "$S/inet/www"
echo "netflow lab: you reached the internet-like server $INET_IP" >"$S/inet/www/index.html"
head -c 262144 /dev/zero | tr '\0' 'x' >"$S/inet/www/blob"
start_daemon inet-httpd ip netns exec "$NS_INET" "$DEBS/bin/busybox" httpd -f -p "$INET_IP:80" -h "$S/inet/www"

start_node() {
	local n=$1 N=$S/nodes/$1 ns holder
	ns=$(node_netns "$n")
	log "node $n ($(node_zone "$n"), $(node_ip "$n"), pods $(node_pod_cidr "$n")) in $ns"
	mkdir -p "$N/cni" "$N/volume-plugins"
	# nsenter, not ip netns exec: that one remounts /sys without the cgroup mounts.
	start_daemon "$n-ns" nsenter --net="/run/netns/$ns" -- unshare --mount --propagation private \
		bash "$LAB_SRC/scripts/node-ns.sh" "$N"
	wait_for "the mount namespace of $n" 30 test -f "$N/ns-ready"
	holder=$(tracked_pid "$n-ns")
	cat >"$N/containerd.toml" <<EOT
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$N/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/netflow-lab/pause:latest"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$DEBS/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$DEBS/usr/lib/cni"
    conf_dir = "$N/cni"
EOT
	cat >"$N/cni/10-lab.conflist" <<EOT
{"cniVersion": "0.4.0", "name": "lab", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$(node_pod_cidr "$n")", "gateway": "$(node_gw "$n")"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}}]}
EOT
	echo "nameserver $DNS_SERVICE_IP" >"$N/resolv.conf"
	cat >"$N/kubelet.yaml" <<EOT
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $(node_ip "$n")
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
tlsCertFile: $PKI/kubelet-serving-$n.crt
tlsPrivateKeyFile: $PKI/kubelet-serving-$n.key
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT/$n
containerRuntimeEndpoint: unix://$N/containerd.sock
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: cluster.local
resolvConf: $N/resolv.conf
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
failSwapOn: false
makeIPTablesUtilChains: false
protectKernelDefaults: false
volumePluginDir: $N/volume-plugins
serializeImagePulls: false
maxPods: 60
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
nodeStatusUpdateFrequency: 4s
EOT
	cat >"$N/kube-proxy.yaml" <<EOT
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
hostnameOverride: $n
bindAddress: $(node_ip "$n")
clusterCIDR: $CLUSTER_CIDR
mode: iptables
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s, udpTimeout: 0s, udpStreamTimeout: 0s}
iptables: {syncPeriod: 30s, minSyncPeriod: 1s}
EOT
	start_daemon "$n-containerd" nsenter --target "$holder" --mount --net -- containerd --config "$N/containerd.toml"
	wait_for "containerd on $n" 60 ctr --address "$N/containerd.sock" version
	# containerd may answer before its content store takes imports: one retry.
	bash "$LAB_SRC/scripts/images-import.sh" lab "$n" || { sleep 1; bash "$LAB_SRC/scripts/images-import.sh" lab "$n"; } ||
		die "importing the lab images into $n failed"
	start_daemon "$n-kubelet" nsenter --target "$holder" --mount --net -- "$K8S_BIN/kubelet" \
		--config="$N/kubelet.yaml" --kubeconfig="$PKI/kubelet-$n.kubeconfig" --hostname-override="$n" \
		--node-ip="$(node_ip "$n")" --node-labels="topology.kubernetes.io/zone=$(node_zone "$n"),topology.kubernetes.io/region=netflow-lab,netflow-lab/node=$n"
	start_daemon "$n-kube-proxy" nsenter --target "$holder" --mount --net -- "$K8S_BIN/kube-proxy" --config="$N/kube-proxy.yaml"
}

node_jobs=()
for n in "${NODES[@]}"; do
	start_node "$n" &
	node_jobs+=($!)
done
# The nodes boot while the API server comes up.
wait_for "the API server" 60 lab_kubectl get --raw /readyz
start_daemon controller-manager ip netns exec "$NS_CORE" "$K8S_BIN/kube-controller-manager" \
	--kubeconfig="$PKI/controller-manager.kubeconfig" --authentication-kubeconfig="$PKI/controller-manager.kubeconfig" \
	--authorization-kubeconfig="$PKI/controller-manager.kubeconfig" --bind-address=127.0.0.1 \
	--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" --use-service-account-credentials=true \
	--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
	--service-cluster-ip-range="$SERVICE_CIDR" --allocate-node-cidrs=false --configure-cloud-routes=false \
	--flex-volume-plugin-dir="$S/cm-flexvolume" --leader-elect=false --profiling=false
start_daemon scheduler ip netns exec "$NS_CORE" "$K8S_BIN/kube-scheduler" \
	--kubeconfig="$PKI/scheduler.kubeconfig" --authentication-kubeconfig="$PKI/scheduler.kubeconfig" \
	--authorization-kubeconfig="$PKI/scheduler.kubeconfig" --bind-address=127.0.0.1 --leader-elect=false --profiling=false
lab_kubectl apply -f "$LAB_SRC/manifests/coredns.yaml" >/dev/null
for j in "${node_jobs[@]}"; do
	if ! wait "$j"; then
		for f in "$S"/logs/lab-*.log; do
			printf '%s\n' "--- last lines of $f" >&2
			tail -n 5 "$f" >&2
		done
		die "a node failed to start (logs: $S/logs)"
	fi
done

if ! wait "$probe_build"; then
	cat "$S/logs/probe-build.err" >&2
	die "building the probe image failed"
fi
cat "$S/logs/probe-build.err" >&2
bash "$LAB_SRC/scripts/images-import.sh" probe-import

log "waiting for the nodes"
node_ready() { [[ $(lab_kubectl get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]; }
for n in "${NODES[@]}"; do
	wait_for "node $n Ready" 90 node_ready "$n"
done

log "cluster DNS (CoreDNS)"
lab_kubectl -n kube-system rollout status deployment/coredns --timeout=90s >/dev/null

after=$(sysctl_snapshot)
if [[ $before != "$after" ]]; then
	warn "machine-wide sysctls changed while the lab started:"
	diff <(echo "$before") <(echo "$after") >&2 || true
fi

touch "$S/up-complete"
if [[ ${DEMO:-0} == 1 ]]; then bash "$LAB_SRC/scripts/demo.sh" >/dev/null; fi
log "lab up in $((SECONDS - t0)) s: nodes ${NODES[*]}, API https://127.0.0.1:$API_PORT"
echo "KUBECONFIG=$KUBECONFIG_ADMIN"
