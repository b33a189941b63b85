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
	touch $@

# py-solc-x looks for $SOLCX_BINARY_PATH/solc-v<version>; answer it with solcjs.
$(BRIDGE): tools/solc-bridge.js $(STAMP_NODE)
	mkdir -p .solcx
	printf '#!/bin/sh\nexec node "%s/tools/solc-bridge.js" "$$@"\n' "$(CURDIR)" > $@
	chmod +x $@

$(STAMP_BUILD): $(CONTRACTS) brownie-config.yaml | setup
	brownie compile
	touch $@

compile: $(STAMP_BUILD)

## The whole suite: contracts, oracle, end to end.
test: $(STAMP_BUILD)
	brownie test tests/ $(TEST_ARGS)

demo: $(STAMP_BUILD)
	@echo "make demo: not yet (the multi-round demo lands with issue 7)"

## Benchmarks: prints figures and writes BENCHMARKS.md (ARGS=--quick for a smoke run).
bench: $(STAMP_BUILD)
	python -m bench.run $(ARGS)

clean:
	rm -rf build .solcx $(VENV) node_modules .pytest_cache .hypothesis
