#!/usr/bin/env bash
# Deploys the demo workloads (lab/demo/demo.yaml) onto a running lab.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ -f $KUBECONFIG_ADMIN ]] || die "the lab is not up: run make lab-up"
log "deploying the demo workloads"
lab_kubectl apply -f "$LAB_SRC/demo/demo.yaml" >/dev/null
for d in shop/backend shop/frontend shop/fetcher; do
	lab_kubectl -n "${d%/*}" rollout status "deployment/${d#*/}" --timeout=120s >/dev/null
done
lab_kubectl -n monitoring rollout status daemonset/node-agent --timeout=120s >/dev/null
log "demo running: namespaces shop, batch, monitoring"
echo "KUBECONFIG=$KUBECONFIG_ADMIN"
