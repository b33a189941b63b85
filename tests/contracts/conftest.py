"""Shared world for the contract tests: deployed NMR and Tournament (seed preset), roles,
signer set (2 of 3), participants funded with NMR and approvals, a funded reward pool, and
`h`, a harness that drives rounds end to end. After every test that mined a block, the
protocol's invariants 1-6 are checked against the shared deployment (tournament_testlib).

Deploy fixtures are module-scoped; `fn_isolation` reverts the chain after each test.
"""
from __future__ import annotations

import pytest
from brownie import web3
from eth_account import Account
from tournament_testlib import (
    BURN,
    GUARDIAN_ROLE,
    OPERATOR_ROLE,
    PARTICIPANT_FUNDS_WEI,
    REWARD_POOL_WEI,
    SIGNER_KEYS,
    Harness,
    InvariantChecker,
    config_tuple,
)

from tournament.chain.keys import anvil_test_keys

# ------------------------------------------------------------------ fixtures

@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    pass


@pytest.fixture(scope="module")
def admin(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def operator(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def guardian(accounts):
    return accounts[2]


@pytest.fixture(scope="module")
def alice(accounts):
    return accounts[3]


@pytest.fixture(scope="module")
def bob(accounts):
    return accounts[4]


@pytest.fixture(scope="module")
def carol(accounts):
    return accounts[5]


@pytest.fixture(scope="module")
def dave(accounts):
    return accounts[6]


@pytest.fixture(scope="module")
def keeper(accounts):
    return accounts[7]


@pytest.fixture(scope="module")
def outsider(accounts):
    return accounts[8]


@pytest.fixture(scope="module")
def treasury(accounts):
    return accounts[9]


@pytest.fixture(scope="module")
def participants(alice, bob, carol, dave):
    return [alice, bob, carol, dave]


@pytest.fixture(scope="module")
def participant_keys(accounts):
    """Private keys of brownie's anvil accounts (public dev keys), for permits."""
    keys = anvil_test_keys(len(accounts))
    by_address = {Account.from_key(k).address: k for k in keys}
    return {str(a): by_address[str(a)] for a in accounts}


@pytest.fixture(scope="module")
def nmr(NMR, treasury):
    return NMR.deploy(treasury, {"from": treasury})


@pytest.fixture(scope="module")
def signer_keys():
    return SIGNER_KEYS


@pytest.fixture(scope="module")
def tournament(Tournament, nmr, admin, operator, guardian, treasury, participants):
    t = Tournament.deploy(nmr, admin, config_tuple(), BURN, {"from": admin})
    t.grantRole(OPERATOR_ROLE, operator, {"from": admin})
    t.grantRole(GUARDIAN_ROLE, guardian, {"from": admin})
    t.setSigners([k.address for k in SIGNER_KEYS[:3]], 2, {"from": admin})
    for p in participants:
        nmr.transfer(p, PARTICIPANT_FUNDS_WEI, {"from": treasury})
        nmr.approve(t, 2**256 - 1, {"from": p})
    nmr.approve(t, 2**256 - 1, {"from": treasury})
    t.fundRewards(REWARD_POOL_WEI, {"from": treasury})
    return t


@pytest.fixture(autouse=True)
def _invariants_after_test(request, isolation):
    """After every test that mined a block against the shared deployment, check invariants 1-6."""
    if "tournament" not in request.fixturenames:
        yield None
        return
    checker = InvariantChecker(request.getfixturevalue("nmr"), request.getfixturevalue("tournament"),
                               request.getfixturevalue("participants"))
    start_block = web3.eth.block_number
    yield checker
    if web3.eth.block_number != start_block and not request.node.get_closest_marker("no_invariants"):
        checker.check()


@pytest.fixture
def invariants(_invariants_after_test):
    """This test's invariant checker (checked again automatically when the test ends)."""
    return _invariants_after_test


def pytest_configure(config):
    config.addinivalue_line("markers", "no_invariants: the test leaves the shared deployment inconsistent on purpose")


@pytest.fixture
def h(tournament, nmr, operator, guardian, admin, keeper):
    return Harness(tournament, nmr, operator, guardian, admin, keeper)
