#!/usr/bin/env bash
# Slither over the production contracts (contracts/*.sol: NMR, Tournament and the libraries they
# import; mocks and benchmarks under contracts/test and contracts/bench are not deployed), in its
# own virtual environment (slither/.venv: slither's pins clash with brownie's). Compiles through the
# project's solc bridge (.solcx/solc-v0.8.30 -> solcjs) with solc's standard-JSON interface, writes
# slither/out/slither.json and fails when a High or Medium finding is not triaged in
# slither/TRIAGE.md (see that file for why brownie's build folder is not used as the input).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${SLITHER_VENV:-$ROOT/slither/.venv}
SOLC=${SOLC:-$ROOT/.solcx/solc-v0.8.30}
PINS="slither-analyzer==0.11.6 crytic-compile==0.4.2"

if ! "$VENV/bin/slither" --version >/dev/null 2>&1; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS
fi
test -x "$SOLC" || { echo "lint: $SOLC missing; run 'make setup' first (it installs the solc bridge)"; exit 1; }

mkdir -p slither/out
rm -f slither/out/slither.json
# Exit code 255 means "findings reported"; the triage check below decides pass or fail.
set +e
"$VENV/bin/slither" contracts --solc-standard-json --solc "$SOLC" \
  --solc-remaps "@openzeppelin=node_modules/@openzeppelin" --filter-paths node_modules \
  --json slither/out/slither.json > slither/out/slither.txt 2>&1
code=$?
set -e
if [ ! -s slither/out/slither.json ]; then
  cat slither/out/slither.txt
  echo "lint: slither did not produce a report (exit $code); see above"
  exit 1
fi
"$VENV/bin/python" slither/check_triage.py slither/out/slither.json slither/TRIAGE.md
