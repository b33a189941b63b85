"""Hardhat's node as a second client: a multi-stake round end to end, its error wording, and a
pre-Cancun chain refused at deploy.

hardhat.config.js gives the node chain id 31337, 36M-gas blocks, Cancun and anvil's mnemonic,
so the keys are anvil's; HARDHAT_HARDFORK=shanghai makes the chain the deploy must refuse.
"""
from __future__ import annotations

import pytest
from web3 import Web3

from tests.networks.network_world import KEYS, RoundWorld, deploy, sender
from tournament.chain.contracts import Deployment
from tournament.chain.devchain import HardhatNode, set_automine
from tournament.chain.errors import ChainError, NonceUsed
from tournament.chain.transactor import classify_send_error


@pytest.fixture(scope="module")
def hardhat():
    with HardhatNode() as node:
        yield node, Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))


def test_a_multi_stake_round_end_to_end_on_hardhat(hardhat, tmp_path):
    node, w3 = hardhat
    assert w3.eth.chain_id == 31337 and w3.eth.get_block("latest")["gasLimit"] == 36_000_000
    deployment = deploy(w3, tmp_path / "deployments")
    assert Deployment.for_rpc(w3, tmp_path / "deployments") == deployment
    world = RoundWorld(w3, deployment, tmp_path)
    world.fund_and_deposit(permit=True)            # this NMR has permit: one transaction each
    planned, supply_before = world.play(1, max_batch_leaves=3)   # several settle batches
    assert len(planned.models) == 8
    burned = world.burned_wei(1)
    assert burned > 0 and world.supply_wei() == supply_before - burned
    report = world.audit(1)
    assert report.passed, [str(f) for f in report.findings]
    kinds = {m: k for m, (_i, _s, k) in planned.models.items()}
    statuses = {row.model_id: row.status for row in report.stakes}
    assert {m for m, s in statuses.items() if s == "INVALID"} == {m for m, k in kinds.items() if k == "constant"}


def test_hardhat_error_wording_is_recognised(hardhat):
    node, w3 = hardhat
    me = sender(w3, KEYS[5])
    nonce = w3.eth.get_transaction_count(me.address, "pending")
    tx = {"to": KEYS[6].address, "value": 1, "nonce": nonce, "gas": 21_000, "chainId": 31337,
          "maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": 10**9}
    raw = bytes(KEYS[5].sign_transaction(tx).raw_transaction)
    set_automine(w3, False)
    try:
        first = w3.eth.send_raw_transaction(raw)
        with pytest.raises(Exception) as again:
            w3.eth.send_raw_transaction(raw)
        assert "Known transaction" in str(again.value)
        assert classify_send_error(again.value) == "known"
        assert me._send_raw(raw, "a duplicate") == bytes(first)    # the pool has it: same hash, no error
    finally:
        set_automine(w3, True)
        w3.provider.make_request("evm_mine", [])
    assert w3.eth.get_transaction_receipt(first)["status"] == 1
    stale = bytes(KEYS[5].sign_transaction({**tx, "value": 2}).raw_transaction)
    with pytest.raises(Exception) as low:
        w3.eth.send_raw_transaction(stale)
    assert "Nonce too low" in str(low.value) and classify_send_error(low.value) == "nonce-low"
    with pytest.raises(NonceUsed):
        me._send_raw(stale, "a stale nonce")


def test_a_chain_without_cancun_is_refused_at_deploy(tmp_path):
    with HardhatNode(hardfork="shanghai") as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))
        before = w3.eth.get_transaction_count(KEYS[0].address)
        with pytest.raises(ChainError) as refused:
            deploy(w3, tmp_path / "deployments")
        message = str(refused.value)
        assert "chain id 31337 does not run Cancun" in message and "\n" not in message
        assert w3.eth.get_transaction_count(KEYS[0].address) == before     # nothing was sent
        assert not (tmp_path / "deployments").exists()
