"""Fixtures shared by the off-chain tests that need a chain without brownie.

`anvil_chain` starts its own anvil (free port, 36M-gas blocks) for a test module; `deployed`
deploys NMR and the tournament on it with tournament.chain.deploy, exactly as scripts/deploy.py and the
demo do, with anvil's test keys: admin 0, operator 1, guardian 2, signers 7-9 (2-of-3).
Brownie's own fixtures (tests/contracts) run on brownie's network and do not use these.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from web3 import Web3

from tournament.chain.client import Deployment, Transactor, nmr_contract, tournament_contract
from tournament.chain.deploy import deploy_tournament
from tournament.chain.devchain import Anvil
from tournament.chain.keys import anvil_test_accounts

# The participant client and the explorer keep a local event cache by default (the user's cache
# folder); tests run without it unless they test it (tests/scale/test_event_cache.py).
os.environ.setdefault("TOURNAMENT_EVENT_CACHE", "off")


@dataclass
class DeployedWorld:
    w3: Web3
    rpc_url: str
    deployment: Deployment
    deployments_dir: str
    tournament: object
    nmr: object
    keys: list  # anvil test accounts (LocalAccount)

    @property
    def admin(self):
        return self.keys[0]

    @property
    def operator(self):
        return self.keys[1]

    @property
    def guardian(self):
        return self.keys[2]

    @property
    def signer_keys(self):
        return self.keys[7:10]

    def transactor(self, account) -> Transactor:
        return Transactor(self.w3, account, receipt_timeout_s=30)


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
    w3 = Web3(Web3.HTTPProvider(anvil_chain.rpc_url, request_kwargs={"timeout": 60}))
    keys = anvil_test_accounts(10)
    directory = tmp_path_factory.mktemp("deployments")
    deployment = deploy_tournament(
        w3, Transactor(w3, keys[0]), operator=keys[1].address, guardian=keys[2].address,
        signers=[k.address for k in keys[7:10]], threshold=2, config="seed",
        reward_pool_wei=100_000 * 10**18, deployments_dir=directory,
    )
    return DeployedWorld(w3, anvil_chain.rpc_url, deployment, str(directory),
                         tournament_contract(w3, deployment), nmr_contract(w3, deployment), keys)
