#!/usr/bin/env bash
# Builds the lab's own container images as OCI image-layout tarballs in the cache:
#   netflow-lab/busybox:latest  Debian's busybox-static (httpd, wget, nc, sh, ...)
#   netflow-lab/pause:latest    the pod sandbox process
#   netflow-lab/coredns:latest  the cluster DNS server
# Each is one uncompressed layer; pods use them with imagePullPolicy: Never.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DEBS=$LAB_CACHE/debs/root
OUT=$LAB_CACHE/images

# oci_image NAME ROOTFS ENTRYPOINT_JSON CMD_JSON writes $OUT/NAME.oci.tar for
# docker.io/netflow-lab/NAME:latest from the folder ROOTFS.
oci_image() {
	local name=$1 rootfs=$2 entrypoint=$3 cmd=$4
	local ref="docker.io/netflow-lab/$name:latest" tmp layer_digest layer_size cfg cfg_digest man man_digest
	tmp=$(mktemp -d)
	mkdir -p "$tmp/blobs/sha256"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$tmp/layer.tar" .
	layer_digest=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
	layer_size=$(stat -c %s "$tmp/layer.tar")
	mv "$tmp/layer.tar" "$tmp/blobs/sha256/$layer_digest"
	cfg=$(jq -cn --arg d "sha256:$layer_digest" --argjson ep "$entrypoint" --argjson cmd "$cmd" '{
		architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z",
		config: {Env: ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"], Entrypoint: $ep, Cmd: $cmd, WorkingDir: "/"},
		rootfs: {type: "layers", diff_ids: [$d]},
		history: [{created: "1970-01-01T00:00:00Z", created_by: "netflow lab images.sh"}]}')
	printf '%s' "$cfg" >"$tmp/cfg.json"
	cfg_digest=$(sha256sum "$tmp/cfg.json" | cut -d' ' -f1)
	mv "$tmp/cfg.json" "$tmp/blobs/sha256/$cfg_digest"
	man=$(jq -cn --arg c "sha256:$cfg_digest" --argjson cs "$(printf '%s' "$cfg" | wc -c)" \
		--arg l "sha256:$layer_digest" --argjson ls "$layer_size" '{
		schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
		layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]}')
	printf '%s' "$man" >"$tmp/man.json"
	man_digest=$(sha256sum "$tmp/man.json" | cut -d' ' -f1)
	mv "$tmp/man.json" "$tmp/blobs/sha256/$man_digest"
	jq -cn --arg m "sha256:$man_digest" --argjson ms "$(printf '%s' "$man" | wc -c)" --arg ref "$ref" '{
		schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
		manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
			platform: {architecture: "amd64", os: "linux"},
			annotations: {"io.containerd.image.name": $ref, "org.opencontainers.image.ref.name": "latest"}}]}' \
		>"$tmp/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$tmp/oci-layout"
	mkdir -p "$OUT"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp" -cf "$OUT/$name.oci.tar.new" oci-layout index.json blobs
	mv "$OUT/$name.oci.tar.new" "$OUT/$name.oci.tar"
	rm -rf "$tmp"
}

key=$(cat "${BASH_SOURCE[0]}" "$DEBS/bin/busybox" "$LAB_CACHE/coredns/coredns" "$K8S_BIN/pause" | sha256sum | cut -c1-16)
stamp="$OUT/.stamp-$key"
if [[ -f $stamp ]]; then
	exit 0
fi
log "building images netflow-lab/{busybox,pause,coredns}:latest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/busybox/bin" "$work/busybox/tmp" "$work/busybox/etc" "$work/busybox/var/www" "$work/busybox/root"
chmod 1777 "$work/busybox/tmp"
cp "$DEBS/bin/busybox" "$work/busybox/bin/busybox"
for applet in $("$DEBS/bin/busybox" --list); do
	[[ $applet == busybox ]] || ln -s busybox "$work/busybox/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$work/busybox/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/busybox/etc/group"
oci_image busybox "$work/busybox" '["/bin/sh"]' 'null'

mkdir -p "$work/pause"
cp "$K8S_BIN/pause" "$work/pause/pause"
oci_image pause "$work/pause" '["/pause"]' 'null'

mkdir -p "$work/coredns/etc/coredns" "$work/coredns/tmp"
cp "$LAB_CACHE/coredns/coredns" "$work/coredns/coredns"
oci_image coredns "$work/coredns" '["/coredns"]' '["-conf","/etc/coredns/Corefile"]'

rm -f "$OUT"/.stamp-*
touch "$stamp"
