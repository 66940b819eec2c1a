#!/usr/bin/env bash
# Imports images into the lab nodes' containerd (namespace k8s.io):
#   images-import.sh lab NODE   the lab's own images (busybox, pause, coredns)
#   images-import.sh probe      the probe image from `make image`, on every node,
#                               under the reference a locally built plugin uses
#                               (probe-build and probe-import do the two halves)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
export PATH=$DEBS/usr/bin:$PATH

ctr_on() { local n=$1; shift; ctr --address "$LAB_STATE/nodes/$n/containerd.sock" -n k8s.io "$@"; }
# has_ref NODE REF: no pipe into grep -q, which would fail the pipeline under pipefail.
has_ref() { local refs; refs=$(ctr_on "$1" images ls -q); grep -qxF "$2" <<<"$refs"; }

import_lab() {
	local n=$1 img
	for img in busybox pause coredns; do
		ctr_on "$n" images import "$LAB_CACHE/images/$img.oci.tar" >/dev/null
	done
}

# probe_ref prints the image reference the plugin built from this tree defaults to,
# computed as the Makefile does.
probe_ref() {
	(cd "$LAB_REPO" && make --no-print-directory -s -f Makefile -f - print-lab-probe-image <<<'print-lab-probe-image: ; @echo $(IMAGE)')
}

has_image_target() {
	# NETFLOW_LAB_PROBE=0 leaves the probe image out (quicker lab-up for lab work).
	[[ ${NETFLOW_LAB_PROBE:-1} != 0 ]] || return 1
	local plan
	plan=$(cd "$LAB_REPO" && make -n image 2>/dev/null) || return 1
	[[ -n $plan && $plan != *"Nothing to be done"* ]]
}

build_probe() {
	if [[ ${NETFLOW_LAB_PROBE:-1} == 0 ]]; then
		log "NETFLOW_LAB_PROBE=0: the probe image is not built"
		return 0
	fi
	if ! has_image_target; then
		warn "the Makefile has no 'image' target yet: the probe image is not imported"
		return 0
	fi
	log "building the probe image with make image"
	mkdir -p "$LAB_STATE/logs"
	(cd "$LAB_REPO" && make --no-print-directory image >"$LAB_STATE/logs/make-image.log" 2>&1) ||
		die "make image failed; see $LAB_STATE/logs/make-image.log"
}

import_probe() {
	has_image_target || return 0
	local ref tar=$LAB_REPO/bin/netflow-probe.oci.tar n name
	ref=$(probe_ref)
	[[ -f $tar ]] || die "make image did not write $tar"
	for n in "${NODES[@]}"; do
		ctr_on "$n" images import --all-platforms "$tar" >/dev/null
		if ! has_ref "$n" "$ref"; then
			# The tarball names another reference: give the image the expected one too.
			name=$(tar -xOf "$tar" index.json | jq -r '[.manifests[].annotations["io.containerd.image.name"] // empty][0]')
			[[ -n $name ]] || die "$tar names no image (annotation io.containerd.image.name)"
			ctr_on "$n" images tag --force "$name" "$ref" >/dev/null
		fi
		has_ref "$n" "$ref" || die "probe image $ref missing on $n after import"
	done
	log "probe image $ref imported on ${NODES[*]}"
}

case ${1:-} in
lab) import_lab "$2" ;;
probe) build_probe; import_probe ;;
probe-build) build_probe ;;
probe-import) import_probe ;;
*) die "usage: images-import.sh lab NODE | probe | probe-build | probe-import" ;;
esac
