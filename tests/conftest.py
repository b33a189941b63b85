"""Fixtures shared by the off-chain tests that need a chain without brownie.

`anvil_chain` starts its own anvil (free port, 36M-gas blocks) for a test module; `deployed`
deploys NMR and the tournament on it with tests/worlds.py's `deploy_world` (the world builder the
benchmarks share): admin 0, operator 1, guardian 2, signers 7-9 (2-of-3).
Brownie's own fixtures (tests/contracts) run on brownie's network and do not use these.
"""
from __future__ import annotations

import os

import pytest

from tests.worlds import DeployedWorld, deploy_world
from tournament.chain.devchain import Anvil

# The participant client and the explorer keep a local event cache by default (the user's cache
# folder); tests run without it unless they test it (tests/scale/test_event_cache.py).
os.environ.setdefault("TOURNAMENT_EVENT_CACHE", "off")


@pytest.fixture(scope="module")
def anvil_chain():
    from tournament.chain import reader

    # The reader remembers RoundOpened blocks per process by (chain id, tournament address, round),
    # which never change on a real chain; each module's fresh anvil has the same id and addresses.
    reader._OPENED_BLOCKS.clear()
    with Anvil() as node:
        yield node
    reader._OPENED_BLOCKS.clear()


@pytest.fixture(scope="module")
def deployed(anvil_chain, tmp_path_factory) -> DeployedWorld:
    return deploy_world(anvil_chain.rpc_url, deployments_dir=tmp_path_factory.mktemp("deployments"))
