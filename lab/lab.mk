# Lab cluster targets; included from the Makefile. See lab/README.md.
LAB_KUBECONFIG ?= $(or $(NETFLOW_LAB_STATE),/var/lib/netflow-lab)/kubeconfig

.PHONY: lab-up lab-down lab-demo e2e

lab-up: ## Start the two-node lab cluster (DEMO=1 also deploys the demo workloads).
	@bash lab/scripts/up.sh

lab-down: ## Remove the lab cluster and everything it created (caches stay).
	@bash lab/scripts/down.sh

lab-demo: ## Deploy the demo workloads onto the lab (starts the lab if needed).
	@bash lab/scripts/up.sh >/dev/null
	@bash lab/scripts/demo.sh

e2e: ## Run the e2e suite against the lab, starting it (and stopping it after) if it was not up.
	@bash lab/scripts/e2e.sh
