"""Reorgs during the confirmation wait (anvil_reorg): a deposit, a stake, a proposal and a settle batch.

A miner thread mines a block every few milliseconds, as a live chain does; when a block holds
a transaction calling the watched function, it reorgs that block out (replacing it and the
blocks after it with empty ones) one block later, while the sender is still waiting for its
confirmations. The sender must notice after the wait (the receipt is gone), send the same
signed transaction again, and succeed exactly once; a transaction whose nonce another
transaction took in the reorg fails with one line.
"""
from __future__ import annotations

import threading
import time
from typing import Optional

import pytest
from eth_utils import function_abi_to_4byte_selector
from web3 import Web3
from web3.exceptions import BlockNotFound

from tests.networks.network_world import KEYS, NMR, RoundWorld, deploy, sender
from tournament.chain.devchain import Anvil
from tournament.chain.transactor import ReorgedOut

CONFIRMATIONS = 3


class Reorger(threading.Thread):
    """Mines every `interval_s`; reorgs out the first block holding a call to `selector`, `after` blocks later."""

    def __init__(self, rpc_url: str, selector: bytes, *, after: int = 1, interval_s: float = 0.03,
                 include: Optional[list] = None):
        super().__init__(daemon=True)
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        self.selector = bytes(selector)
        self.after = after
        self.interval_s = interval_s
        self.include = include or []
        self.reorged: list[str] = []
        self.stopped = threading.Event()
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            seen = self.w3.eth.block_number
            target: Optional[tuple[int, str]] = None
            while not self.stopped.is_set():
                self.w3.provider.make_request("evm_mine", [])
                head = self.w3.eth.block_number
                try:
                    for number in range(seen + 1, head + 1):
                        for tx in self.w3.eth.get_block(number, full_transactions=True)["transactions"]:
                            if target is None and not self.reorged and bytes(tx["input"])[:4] == self.selector:
                                target = (number, "0x" + bytes(tx["hash"]).hex())
                        seen = number
                except BlockNotFound:   # another thread's reorg is replacing those blocks: look again
                    seen = min(seen, self.w3.eth.block_number)
                    continue
                if target is not None and head >= target[0] + self.after:
                    depth = head - target[0] + 1
                    answer = self.w3.provider.make_request("anvil_reorg", [depth, self.include])
                    assert "error" not in answer, answer
                    self.reorged.append(target[1])
                    target = None
                    seen = self.w3.eth.block_number
                time.sleep(self.interval_s)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def __enter__(self) -> Reorger:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.join(10)
        if self.error is not None:
            raise self.error


def selector(contract, name: str) -> bytes:
    return function_abi_to_4byte_selector(next(e for e in contract.abi if e.get("name") == name))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))
        tmp = tmp_path_factory.mktemp("reorgs")
        deployment = deploy(w3, tmp / "deployments")
        world = RoundWorld(w3, deployment, tmp, participant_confirmations=CONFIRMATIONS)
        world.rpc_url = node.rpc_url
        with Reorger(node.rpc_url, b"\xff" * 4, interval_s=0.05):   # a live chain: blocks keep coming
            yield world


def test_a_deposit_reorged_out_is_sent_again_once(world):
    p = world.participants[0]
    world.admin.transact(world.token.functions.transfer(p.address, 100 * NMR), "funding")
    world.wait_blocks(CONFIRMATIONS)
    with Reorger(world.rpc_url, selector(p.calls.tournament, "deposit")) as reorger:
        tx_hash = p.deposit(40 * NMR)
    assert reorger.reorged == ["0x" + tx_hash.removeprefix("0x")]   # the very transaction that came back
    assert p.reader().wallet_balance_wei(p.address) == 40 * NMR        # exactly once
    receipt = world.w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert world.w3.eth.get_block(receipt["blockNumber"])["hash"] == receipt["blockHash"]


def test_a_stake_reorged_out_is_sent_again_once_and_the_proposal_and_a_settle_batch_too(world):
    world.fund_and_deposit(300 * NMR)
    op = world.operator()
    calls = world.participants[0].calls
    with Reorger(world.rpc_url, selector(calls.tournament, "stake")) as reorger:
        planned = world.plan(1, op)                     # eight stakes; the first is reorged out and re-sent
    assert len(reorger.reorged) == 1
    reader = world.participants[0].reader().at("latest")
    stakes = reader.stakes(1)
    assert {m: s.amount_wei for m, s in stakes.items()} == {m: v[1] for m, v in planned.models.items()}

    world.to_resolvable(planned)
    world.wait_blocks(CONFIRMATIONS)      # the careful operator reads that many blocks below the head
    careful = world.operator(confirmations=CONFIRMATIONS, max_batch_leaves=3)
    # score and propose with the proposal reorged out during its confirmations
    with Reorger(world.rpc_url, selector(calls.tournament, "proposeResults")) as reorger:
        status = careful.run(1, planned.targets_path)
    assert len(reorger.reorged) == 1 and status.phase == "Proposed", status
    assert len(reader.at("latest").round_events(1).of("ResultsProposed")) == 1
    world.past_challenge()
    world.wait_blocks(CONFIRMATIONS)
    with Reorger(world.rpc_url, selector(calls.tournament, "settle")) as reorger:
        status = careful.run(1)
    assert len(reorger.reorged) == 1 and status.phase == "Settled", status
    settled = reader.at("latest").round_events(1).of("StakeSettled")
    assert sorted(int(e.args["modelId"]) for e in settled) == sorted(planned.models)   # each exactly once
    report = world.audit(1)
    assert report.passed, [str(f) for f in report.findings]


def test_a_transaction_whose_nonce_was_taken_in_the_reorg_fails_clearly(world):
    me = sender(world.w3, KEYS[6], confirmations=CONFIRMATIONS)
    nonce = world.w3.eth.get_transaction_count(me.address)
    other = KEYS[6].sign_transaction({"to": KEYS[6].address, "value": 0, "nonce": nonce, "gas": 21_000,
                                      "chainId": 31337, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9})
    calls = world.participants[0].calls
    with Reorger(world.rpc_url, selector(calls.tournament, "createModel"),
                 include=[["0x" + bytes(other.raw_transaction).hex(), 0]]):
        with pytest.raises(ReorgedOut) as failed:
            me.transact(calls.create_model("reorged"), "creating a model")
    message = str(failed.value)
    assert f"nonce {nonce} is now used by another transaction" in message and "\n" not in message
