#!/usr/bin/env bash
# Runs the e2e suite against the lab. Starts the lab if it is not up and, in that
# case, removes it again afterwards; a lab that was already up stays up.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

was_up=0
if [[ -f $KUBECONFIG_ADMIN ]] && lab_kubectl get --raw /readyz >/dev/null 2>&1; then was_up=1; fi
bash "$LAB_SRC/scripts/up.sh" >/dev/null
rc=0
(cd "$LAB_REPO" && NETFLOW_LAB_KUBECONFIG=$KUBECONFIG_ADMIN go test -tags e2e -count=1 -timeout 20m ${E2E_FLAGS:-} ./test/e2e/...) || rc=$?
# Tests delete their own namespaces; this catches those of an interrupted run.
lab_kubectl delete namespace -l netflow-lab/e2e=true --wait=false >/dev/null 2>&1 || true
if ((was_up == 0)); then bash "$LAB_SRC/scripts/down.sh"; fi
exit "$rc"
