"""The block-pinned ChainReader (tournament.chain.reader) against anvil, and its adaptive log scans.

Covers: typed round state and phase; the commitment rule (an unstake's zero hash keeps the
commitment); reads pinned to one block while the chain moves on; stakes read in JSON-RPC
batches, with the RPC calls counted for a round of STAKES stakes (set up cheaply: one anvil
account, raw JSON-RPC batches of eth_sendTransaction, mined in bulk); a provider that refuses
wide ranges or caps results is paged down and back up.
"""
from __future__ import annotations

import itertools
import os

import pytest
import requests
from web3 import Web3
from web3.exceptions import Web3RPCError

from tournament.chain.errors import ChainError
from tournament.chain.events import LogScanner, is_log_limit_error
from tournament.chain.reader import ChainReader, chain_time
from tournament.chain.types import Phase
from tournament.protocol.constants import WEI_PER_NMR as NMR

DAY = 86_400
STAKES = int(os.environ.get("READER_TEST_STAKES", "2000"))  # 10000 measured once (see the reader's docstring)
# 1 get_block (the pin) + 1 batch (getRound + phase) + eth_getLogs (RoundOpened search, the round's
# events) + one batch per 1,000 stakes: 6 calls for 2,000 stakes, 14 for 10,000.
MAX_CALLS = 6 + STAKES // 1000
# (v2) openRound commits keccak256 of the published live_ids.csv; the reader only reports it back.
LIVE_IDS_CSV = b"id\nn0001\nn0002\n"
LIVE_IDS_HASH = Web3.keccak(LIVE_IDS_CSV)


class CountingProvider(Web3.HTTPProvider):
    """Counts HTTP round trips: a single request or a whole batch is one call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def make_request(self, method, params):
        self.calls.append(method)
        return super().make_request(method, params)

    def make_batch_request(self, requests_):
        self.calls.append(f"batch[{len(requests_)}]")
        return super().make_batch_request(requests_)


def rpc_batch(url: str, calls: list[tuple[str, list]]) -> list:
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    answers = requests.post(url, json=body, timeout=120).json()
    errors = [a["error"] for a in answers if "error" in a]
    assert not errors, errors[:3]
    return answers


def send_all(deployed, sender: str, fns: list) -> None:
    """Set-up only: anvil signs for its own unlocked account; mined together, checked by the caller."""
    w3 = deployed.w3
    nonce = w3.eth.get_transaction_count(sender)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        for page in range(0, len(fns), 500):
            rpc_batch(deployed.rpc_url, [("eth_sendTransaction", [{
                "from": sender, "to": fn.address, "data": fn._encode_transaction_data(), "gas": hex(300_000),
                "nonce": hex(nonce + page + k), "maxFeePerGas": hex(10**10), "maxPriorityFeePerGas": "0x1"}])
                for k, fn in enumerate(fns[page:page + 500])])
        while True:
            w3.provider.make_request("evm_mine", [])
            status = w3.provider.make_request("txpool_status", [])["result"]
            if int(status["pending"], 16) == 0 and int(status["queued"], 16) == 0:
                break
    finally:
        w3.provider.make_request("evm_setAutomine", [True])


@pytest.fixture(scope="module")
def staked_round(deployed):
    """Round 1 with STAKES stakes of one owner (models 1..STAKES), committed hashes h(model)."""
    owner = deployed.keys[4]
    t = deployed.tournament
    admin = deployed.transactor(deployed.admin)
    me = deployed.transactor(owner)
    admin.transact(deployed.nmr.functions.transfer(owner.address, 100_000 * NMR), "funding")
    me.transact(deployed.nmr.functions.approve(t.address, 100_000 * NMR), "approve")
    me.transact(t.functions.deposit(100_000 * NMR), "deposit")
    send_all(deployed, owner.address, [t.functions.createModel(f"m{i}") for i in range(STAKES)])
    now = chain_time(deployed.w3)
    open_call = t.functions.openRound(1, now + 7 * DAY, now + 35 * DAY, LIVE_IDS_HASH)
    deployed.transactor(deployed.operator).transact(open_call, "open")
    send_all(deployed, owner.address, [t.functions.stake(1, m, 2 * NMR, 100 + m % 100, 0,
                                                         Web3.keccak(text=f"file {m}")) for m in range(1, STAKES + 1)])
    assert t.functions.getRound(1).call()[2] == STAKES, "set-up: stakes missing"
    return owner


def test_round_state_is_typed_and_complete(deployed, staked_round):
    reader = ChainReader(deployed.w3, deployed.deployment)
    state = reader.round(1)
    assert state.phase is Phase.OPEN and state.phase == 1 and state.phase.label == "Open"
    assert state.staked_count == STAKES and state.total_at_risk_wei == 2 * NMR * STAKES
    assert state.close_time > reader.now() and state.resolve_time == state.close_time + 28 * DAY
    assert state.live_ids_hash == bytes(LIVE_IDS_HASH)
    assert state.config.clip_bps == 2500 and state.config.as_abi_dict()["clipBps"] == 2500
    assert state.opened_block is not None and state.opened_block <= reader.block_number
    assert state.block_number == reader.block_number and reader.block_gas_limit == 36_000_000
    assert not reader.round(99).exists and reader.round(99).phase is Phase.NONE
    assert reader.signer_set().threshold == 2 and len(reader.signer_set().signers) == 3
    assert list(reader.signer_sets()) == [1]
    assert reader.model_owner(1) == staked_round.address and reader.model_owner(10**9) is None


def test_stakes_and_commitments(deployed, staked_round):
    reader = ChainReader(deployed.w3, deployed.deployment)
    stakes = reader.stakes(1)
    assert sorted(stakes) == list(range(1, STAKES + 1))
    seven = stakes[7]
    assert (seven.amount_wei, seven.corr_mult, seven.closed, seven.owner) == (2 * NMR, 107, False, staked_round.address)
    assert seven.submission_hash == bytes(Web3.keccak(text="file 7"))
    assert reader.commitments(1)[STAKES] == bytes(Web3.keccak(text=f"file {STAKES}"))


@pytest.mark.parametrize("stale", ["after the pin", "before the open"])
def test_a_restarted_chain_with_the_same_id_and_address_is_not_misread(deployed, staked_round, stale):
    """The RoundOpened cache is per process and keyed by (chain id, address): a dev chain
    restarted in the same process reuses both. A stale block there must not hide the round."""
    from tournament.chain import reader as reader_module

    reader = ChainReader(deployed.w3, deployed.deployment)
    true_block = reader.opened_block(1)
    key = (reader.chain_id, reader.tournament.address.lower(), 1)
    reader_module._OPENED_BLOCKS[key] = reader.block_number + 1000 if stale == "after the pin" else true_block + 1
    try:
        fresh = ChainReader(deployed.w3, deployed.deployment)
        assert len(fresh.stakes(1)) == STAKES
        assert fresh.round_events(1).of("RoundOpened")[0].block_number == true_block
        assert reader_module._OPENED_BLOCKS[key] == true_block
    finally:
        reader_module._OPENED_BLOCKS[key] = true_block


def test_reads_are_pinned_and_an_unstake_keeps_the_commitment(deployed, staked_round):
    t = deployed.tournament
    me = deployed.transactor(staked_round)
    before = ChainReader(deployed.w3, deployed.deployment)
    me.transact(t.functions.unstake(1, 3, NMR), "partial unstake (emits a zero hash)")
    me.transact(t.functions.unstake(1, 4, 2 * NMR), "full unstake: model 4 leaves the round")
    after = ChainReader(deployed.w3, deployed.deployment)
    assert after.block_number == before.block_number + 2
    assert before.stakes(1)[3].amount_wei == 2 * NMR and 4 in before.stakes(1)
    assert before.round(1).total_at_risk_wei == 2 * NMR * STAKES
    assert before.at(before.block_number).stakes(1)[3].amount_wei == 2 * NMR  # a fresh read at the old pin
    assert after.stakes(1)[3].amount_wei == NMR and 4 not in after.stakes(1)
    assert after.stakes(1)[3].submission_hash == bytes(Web3.keccak(text="file 3"))
    assert after.round(1).total_at_risk_wei == 2 * NMR * STAKES - 3 * NMR
    assert ChainReader(deployed.w3, deployed.deployment, confirmations=2).block_number == before.block_number
    me.transact(t.functions.stake(1, 4, 2 * NMR, 100, 0, Web3.keccak(text="file 4")), "re-stake model 4")


def test_a_round_of_many_stakes_costs_a_few_rpc_calls(deployed, staked_round, record_property):
    provider = CountingProvider(deployed.rpc_url, request_kwargs={"timeout": 60})
    w3 = Web3(provider)
    reader = ChainReader(w3, deployed.deployment, scanner=LogScanner())
    state, stakes, events = reader.round(1), reader.stakes(1), reader.round_events(1)
    assert len(stakes) == STAKES and state.staked_count == STAKES
    assert len(events.of("StakeChanged")) >= STAKES and len(events.of("RoundOpened")) == 1
    record_property("rpc_calls", f"{len(provider.calls)} for {STAKES} stakes: {provider.calls}")
    assert not any(c == "eth_call" for c in provider.calls), provider.calls  # views only in batches
    assert len(provider.calls) <= MAX_CALLS, provider.calls
    # getRound+phase, then the stakes: getStakes pages of 2,000 ids, all in one batch
    assert sum(c.startswith("batch[") for c in provider.calls) == 2, provider.calls


# ------------------------------------------------------------------ adaptive log windows

def limit_error(message: str, code: int = -32005) -> Web3RPCError:
    return Web3RPCError(message, rpc_response={"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}})


@pytest.mark.parametrize("error", [
    limit_error("query returned more than 10000 results"),
    limit_error("block range is too wide", -32000),
    limit_error("exceeds max block range 1000", -32602),
    limit_error("Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range", -32602),
    limit_error("eth_getLogs is limited to a 10,000 range", -32600),
])
def test_scanner_shrinks_on_a_provider_limit_and_grows_back(error):
    asked: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> list:
        asked.append((start, end))
        if end - start + 1 > 1_000:
            raise error
        return list(range(start, end + 1))

    scanner = LogScanner(initial_window=100_000, grow_after=2)
    assert scanner.scan(fetch, 0, 19_999, "test") == list(range(20_000))
    assert scanner.window <= 2_000  # it learnt the limit ...
    refused = [a for a in asked if a[1] - a[0] + 1 > 1_000]
    assert 0 < len(refused) < 12  # ... by halving, and re-probes bigger windows only now and then
    assert len(asked) < 60


def test_scanner_gives_up_clearly_on_one_block_and_passes_other_errors():
    def capped(start: int, end: int) -> list:
        raise limit_error("query returned more than 10000 results")
    with pytest.raises(ChainError, match="refuses even one block"):
        LogScanner(initial_window=8).scan(capped, 5, 20, "test")

    def broken(start: int, end: int) -> list:
        raise limit_error("execution reverted", 3)
    with pytest.raises(Web3RPCError):
        LogScanner().scan(broken, 0, 10, "test")
    assert not is_log_limit_error(limit_error("nonce too low", -32000))
    assert is_log_limit_error(limit_error("whatever", -32005))


def test_scanner_stops_at_the_first_window_with_results():
    calls = itertools.count()

    def fetch(start: int, end: int) -> list:
        next(calls)
        return [start] if start <= 250 <= end else []
    assert LogScanner(initial_window=100).scan(fetch, 0, 10_000, "t", stop_when_found=True) == [200]
    assert next(calls) == 3
