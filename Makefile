# imx — every tool runs from the project's virtual environment (.venv).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_PACKAGES := kcat prometheus maven openjdk-17-jdk-headless chromium

.PHONY: help setup run bench test test-unit test-integration test-e2e test-drills lint fmt schemas-check kafka-up kafka-down clean map-data screenshots

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

setup: $(STAMP) ## create .venv, install imx and its test tools, and the Debian tools (kcat, prometheus, Maven, JDK, Chromium)
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: setup ## the main job: broker, topics, a worker, the simulator and a live view (DURATION=S to stop after S s)
	$(BIN)/imx run $(if $(DURATION),--duration $(DURATION))

bench: setup ## throughput and latency of the pipeline against a raw Kafka passthrough (docs/performance.md)
	$(BIN)/imx bench

test: setup lint schemas-check ## everything CI runs: lint, schema gate, unit, integration and e2e tests on a real broker
	$(BIN)/pytest -m "unit or integration or e2e"

test-unit: setup ## unit tests only (no broker)
	$(BIN)/pytest -m unit

test-integration: setup ## integration and e2e tests (real broker)
	$(BIN)/pytest -m "integration or e2e"

test-drills: setup ## the fault drills on a three-node cluster of their own (~6 min; docs/operations.md)
	$(BIN)/pytest tests/e2e/test_cluster_drills.py -x

lint: setup ## ruff check, ruff format --check and mypy --strict; changes nothing
	$(BIN)/ruff check --no-fix services tests examples
	$(BIN)/ruff format --check services tests examples
	$(BIN)/mypy
	$(BIN)/mypy examples/python-consumer/consume.py

fmt: setup ## format and auto-fix the code
	$(BIN)/ruff format services tests examples
	$(BIN)/ruff check --fix services tests examples

schemas-check: setup ## FULL_TRANSITIVE compatibility of schemas/ against every released version
	$(BIN)/imx schemas check

kafka-up: setup ## start the local Kafka broker in the background
	$(BIN)/imx kafka up

kafka-down: ## stop the local Kafka broker
	$(BIN)/imx kafka down

clean: ## remove local runtime data (.imx) and caches; keeps .venv and the jar cache
	rm -rf .imx .pytest_cache .mypy_cache .ruff_cache .hypothesis

map-data: setup ## re-cut the operations picture's base map from Natural Earth (world-atlas, npm); output is committed
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent world-atlas@2.0.2 >/dev/null && tar xzf world-atlas-2.0.2.tgz) && \
	$(BIN)/python -m imx.gateway.mapdata "$$tmp/package/countries-50m.json" services/imx/gateway/static/countries.json

screenshots: setup ## the operations picture's screenshots in docs/img/ (browser tests on a real broker)
	IMX_SCREENSHOTS=docs/img $(BIN)/pytest tests/e2e/test_operations_picture.py -q
