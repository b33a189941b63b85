"""Fixtures of the operator tests, thin wrappers over tests/worlds.py's round factory.

`harness` (module scope, on the `deployed` chain of tests/conftest.py) is a `tests.worlds.Harness`:
it funds participant accounts, creates their models, writes prediction files into a
content-addressed FolderSource dir, stakes on them, and predicts every wallet to the wei.
The names below are re-exported for the tests that import them from here.
"""
from __future__ import annotations

import pytest

from tests.worlds import DAY, N_IDS, Harness, ModelSpec, RoundPlan, mixed_kinds  # noqa: F401  (re-exported)


@pytest.fixture(scope="module")
def harness(deployed, tmp_path_factory):
    return Harness(deployed, tmp_path_factory.mktemp("operator"))


@pytest.fixture
def kinds():
    return mixed_kinds
