#!/usr/bin/env bash
# Creates the lab's certificate authority, serving and client certificates and
# kubeconfigs under $LAB_STATE/pki, and the admin kubeconfig.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# The lab's credentials are made once per cache and copied into each new lab.
key=$(cat "${BASH_SOURCE[0]}" "$(dirname "${BASH_SOURCE[0]}")/common.sh" | sha256sum | cut -c1-16)
CACHED=$LAB_CACHE/pki-$key
install_pki() {
	mkdir -p "$LAB_STATE"
	rm -rf "$LAB_STATE/pki"
	cp -a "$CACHED" "$LAB_STATE/pki"
	mv "$LAB_STATE/pki/admin.kubeconfig" "$KUBECONFIG_ADMIN"
}
if [[ -d $CACHED ]]; then
	install_pki
	exit 0
fi
rm -rf "$LAB_CACHE"/pki-*
mkdir -p "$CACHED.tmp"
chmod 700 "$CACHED.tmp"
cd "$CACHED.tmp"

key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; }

# cert NAME SUBJECT EXTFILE-LINES: a certificate signed by the lab CA.
cert() {
	local name=$1 subj=$2 ext=$3
	key "$name"
	openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
	printf '%b\n' "$ext" >"$name.ext"
	openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
		-extfile "$name.ext" -out "$name.crt" 2>/dev/null
	rm -f "$name.csr" "$name.ext"
}

client='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth'

key ca
openssl req -x509 -new -key ca.key -subj "/CN=netflow-lab-ca" -days 3650 -out ca.crt \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
cert apiserver "/CN=kube-apiserver" \
	"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$CORE_IP,IP:$API_SERVICE_IP"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
cert admin "/O=system:masters/CN=netflow-lab-admin" "$client"
cert controller-manager "/CN=system:kube-controller-manager" "$client"
cert scheduler "/CN=system:kube-scheduler" "$client"
cert kube-proxy "/CN=system:kube-proxy" "$client"
for n in "${NODES[@]}"; do
	cert "kubelet-$n" "/O=system:nodes/CN=system:node:$n" "$client"
	cert "kubelet-serving-$n" "/CN=$n" \
		"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:$n,IP:$(node_ip "$n")"
done
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out sa.key
openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null

# kubeconfig FILE SERVER CERTNAME
kubeconfig() {
	cat >"$1" <<EOK
apiVersion: v1
kind: Config
clusters:
- name: netflow-lab
  cluster:
    server: $2
    certificate-authority-data: $(base64 -w0 ca.crt)
users:
- name: $3
  user:
    client-certificate-data: $(base64 -w0 "$3.crt")
    client-key-data: $(base64 -w0 "$3.key")
contexts:
- name: netflow-lab
  context: {cluster: netflow-lab, user: $3}
current-context: netflow-lab
EOK
}
kubeconfig admin.kubeconfig "https://127.0.0.1:$API_PORT" admin
kubeconfig controller-manager.kubeconfig https://127.0.0.1:6443 controller-manager
kubeconfig scheduler.kubeconfig https://127.0.0.1:6443 scheduler
kubeconfig kube-proxy.kubeconfig "https://$CORE_IP:6443" kube-proxy
for n in "${NODES[@]}"; do
	kubeconfig "kubelet-$n.kubeconfig" "https://$CORE_IP:6443" "kubelet-$n"
done
chmod 600 ./*.key ./*.kubeconfig
cd /
mv "$CACHED.tmp" "$CACHED"
install_pki
