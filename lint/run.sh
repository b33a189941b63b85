#!/usr/bin/env bash
# Python lint: ruff (style, imports, bugbear) over the package, tests and benchmarks, and mypy over
# the package (typed public functions), in their own virtual environment (lint/.venv: mypy's
# mypy_extensions pin clashes with brownie's). mypy reads the project's installed dependencies
# through --python-executable, so it checks calls into web3, numpy and pandas as installed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LINT_VENV:-$PWD/lint/.venv}
if ! "$VENV/bin/ruff" --version >/dev/null 2>&1 || ! "$VENV/bin/mypy" --version >/dev/null 2>&1; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r lint/requirements.txt
fi
test -x .venv/bin/python || { echo "lint: .venv missing; run 'make setup' first"; exit 1; }
"$VENV/bin/ruff" check tournament tests bench scripts
"$VENV/bin/mypy" --python-executable .venv/bin/python
