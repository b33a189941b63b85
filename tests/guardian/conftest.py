"""Fixtures of the watchtower tests: the operator tests' Harness on this module's anvil, plus a GuardianWorld."""
from __future__ import annotations

import pytest
from guardian_world import GuardianWorld

from tests.worlds import Harness


@pytest.fixture(scope="module")
def world(deployed, tmp_path_factory) -> GuardianWorld:
    tmp = tmp_path_factory.mktemp("guardian")
    harness = Harness(deployed, tmp)
    harness.add_owners(4, 1)
    return GuardianWorld(harness, tmp)
