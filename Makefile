# Every target bootstraps what it needs on first use: the virtual environment (.venv),
# the node tools (npm ci: anvil, solcjs, OpenZeppelin) and the compiler bridge that lets
# brownie's py-solc-x use solcjs. Later runs reuse all of it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SOLC_VERSION := 0.8.30
export SOLCX_BINARY_PATH := $(CURDIR)/.solcx
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONHASHSEED := 0

STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
BRIDGE := .solcx/solc-v$(SOLC_VERSION)
CONTRACTS := $(shell find contracts -name '*.sol')
STAMP_BUILD := build/.compiled

.PHONY: setup compile test test-fast demo bench bench-quick soak lint explorer clean

setup: $(STAMP_PY) $(STAMP_NODE) $(BRIDGE)

$(STAMP_PY): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	# The staking page loads ethers from its own static folder (no CDN, no bundler).
	mkdir -p tournament/webapp/static/vendor
	cp node_modules/ethers/dist/ethers.umd.min.js tournament/webapp/static/vendor/
	touch $@

# py-solc-x looks for $SOLCX_BINARY_PATH/solc-v<version>; answer it with solcjs.
$(BRIDGE): tools/solc-bridge.js $(STAMP_NODE)
	mkdir -p .solcx
	printf '#!/bin/sh\nexec node "%s/tools/solc-bridge.js" "$$@"\n' "$(CURDIR)" > $@
	chmod +x $@

# The package ships the ABIs (and bytecode) it uses: tournament/chain/abi/*.json, committed;
# tests/chain/test_shipped_abis.py fails if they differ from this compile.
$(STAMP_BUILD): $(CONTRACTS) brownie-config.yaml | setup
	brownie compile
	python -m tournament.chain.artifacts build/contracts
	touch $@

compile: $(STAMP_BUILD)

# The explorer's browser test drives Debian's headless Chromium; install it once if missing
# (apt needs root, as on CI and the dev machines).
BROWSER := /usr/bin/chromium
$(BROWSER):
	@command -v apt-get >/dev/null || { echo "chromium missing and no apt-get: install chromium for the explorer browser test"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null

## The whole suite: contracts, oracle, operator, participants, audit, demo smoke.
test: $(STAMP_BUILD) $(BROWSER)
	brownie test tests/ $(TEST_ARGS)

## The main job: a whole multi-round tournament on a local chain, audited (DEMO_ARGS to vary).
DEMO_OUT ?= demo-out
demo: $(STAMP_BUILD)
	tournament demo --out $(DEMO_OUT) $(DEMO_ARGS)

## The demo's saved chain on 127.0.0.1:8545 (for `tournament audit`, the explorer, the CLI).
explorer-chain: setup
	@test -f $(DEMO_OUT)/anvil-state.json || { echo "no $(DEMO_OUT)/anvil-state.json: run make demo first"; exit 1; }
	anvil --host 127.0.0.1 --port 8545 --block-base-fee-per-gas 0 --gas-limit 36000000 --load-state $(DEMO_OUT)/anvil-state.json --silent

## The explorer on the demo's chain and artifacts: http://127.0.0.1:8050
explorer: setup
	@test -f $(DEMO_OUT)/anvil-state.json || { echo "no $(DEMO_OUT)/anvil-state.json: run make demo first"; exit 1; }
	anvil --host 127.0.0.1 --port 8545 --block-base-fee-per-gas 0 --gas-limit 36000000 --load-state $(DEMO_OUT)/anvil-state.json --silent & \
	  pid=$$!; trap "kill $$pid" EXIT; sleep 2; \
	  tournament serve explorer --rpc http://127.0.0.1:8545 --deployments $(DEMO_OUT)/deployments --artifacts $(DEMO_OUT)/work --port 8050

## Benchmarks: prints figures and writes BENCHMARKS.md (ARGS=--quick for a smoke run).
bench: $(STAMP_BUILD)
	python -m bench.run $(ARGS)

clean:
	rm -rf build .solcx $(VENV) node_modules .pytest_cache .hypothesis

## Static analysis: slither over the contracts in its own venv (slither/.venv); fails on an
## untriaged High/Medium finding (slither/TRIAGE.md). Then ruff and mypy over the Python
## package, tests and benchmarks in their own venv (lint/.venv).
lint: setup
	slither/run.sh
	lint/run.sh

## Long profiles: the contract stateful soak (SOAK_STEPS steps x SOAK_EXAMPLES runs) and the
## reliability suite with more seeds, files and uploads (SOAK=1); see docs/RELIABILITY.md.
SOAK_STEPS ?= 200
SOAK_EXAMPLES ?= 50
soak: $(STAMP_BUILD)
	SOAK=1 SOAK_STEPS=$(SOAK_STEPS) SOAK_EXAMPLES=$(SOAK_EXAMPLES) brownie test tests/contracts/test_tournament_stateful.py
	SOAK=1 python -m pytest -p no:pytest-brownie tests/reliability -q
