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

.PHONY: setup compile test test-fast demo bench bench-quick soak lint explorer explorer-chain clean

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

## The demo's saved chain on 127.0.0.1:$(RPC_PORT) (for `tournament audit`, the explorer, the CLI).
## Both targets refuse a port that is already taken: they never attach to a chain they did not start.
PORT ?= 8050
RPC_PORT ?= 8545
DEMO_STATE := $(DEMO_OUT)/anvil-state.json
ANVIL_DEMO = anvil --host 127.0.0.1 --port $(RPC_PORT) --block-base-fee-per-gas 0 --gas-limit 36000000 --load-state $(DEMO_STATE) --silent
# Exit 0 when nothing listens on 127.0.0.1:<port>.
port_free = python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(0 if s.connect_ex(('127.0.0.1',$(1))) else 1)"
NEED_DEMO = test -f $(DEMO_STATE) || { echo "no $(DEMO_STATE): run make demo first (or pass DEMO_OUT=<folder of a demo run>)"; exit 1; }
NEED_RPC_PORT = $(call port_free,$(RPC_PORT)) || { echo "port $(RPC_PORT) is taken (another chain or program listens there): stop it or pass RPC_PORT=<free port>; not attaching to a chain this target did not start"; exit 1; }

explorer-chain: setup
	@$(NEED_DEMO)
	@$(NEED_RPC_PORT)
	@echo "the chain of $(DEMO_OUT) on http://127.0.0.1:$(RPC_PORT); Ctrl-C stops it"
	@$(ANVIL_DEMO) & pid=$$!; trap 'kill $$pid 2>/dev/null' INT TERM; \
	  wait $$pid; rc=$$?; \
	  if [ $$rc -ne 0 ] && [ $$rc -ne 130 ] && [ $$rc -ne 143 ]; then \
	    echo "anvil could not start on port $(RPC_PORT) with $(DEMO_STATE) (exit $$rc; see above)"; exit 1; fi

## The explorer (and the staking page) on the demo's chain and artifacts: http://127.0.0.1:$(PORT)
explorer: setup
	@$(NEED_DEMO)
	@$(NEED_RPC_PORT)
	@$(call port_free,$(PORT)) || { echo "port $(PORT) is taken: stop what runs there or pass PORT=<free port>"; exit 1; }
	@$(ANVIL_DEMO) & pid=$$!; trap 'kill $$pid 2>/dev/null' EXIT; \
	  for i in $$(seq 1 50); do \
	    kill -0 $$pid 2>/dev/null || { echo "anvil could not start on port $(RPC_PORT) with $(DEMO_STATE) (see above)"; exit 1; }; \
	    $(call port_free,$(RPC_PORT)) || break; sleep 0.2; \
	  done; \
	  kill -0 $$pid 2>/dev/null || { echo "anvil exited while starting on port $(RPC_PORT): not attaching to another chain"; exit 1; }; \
	  $(call port_free,$(RPC_PORT)) && { echo "anvil did not answer on port $(RPC_PORT) within 10 s"; exit 1; }; \
	  tournament serve explorer --rpc http://127.0.0.1:$(RPC_PORT) --deployments $(DEMO_OUT)/deployments \
	    --artifacts $(DEMO_OUT)/work --port $(PORT)

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
