"""The local event cache (tournament.chain.event_cache) under the log scans, on anvil.

A participant's `status` and a round's full read (events + stakes) are made twice with the cache
on a counting provider: the second time asks `eth_getLogs` only for the blocks since (and
nothing cached above head - confirmations), and answers the same. The cache is keyed by chain
id AND genesis hash (a second anvil with the same chain id and addresses is not served the
first one's logs), drops a chain whose newest cached log's block hash changed (a deep reorg or
a restarted dev chain), the fast event decoder matches web3's, and the participant CLI's
`--cache` option is honoured.
"""
from __future__ import annotations

import sqlite3

import pytest
from web3 import Web3

from tournament.chain.devchain import Anvil
from tournament.chain.event_cache import EventCache, attach_event_cache, cache_from_option
from tournament.chain.events import LogScanner
from tournament.chain.reader import ChainReader, chain_time
from tournament.participant.client import Participant

NMR = 10**18
DAY = 86_400
MODELS = 6


RANGE_LIMIT = 16   # blocks per eth_getLogs the provider accepts (public RPCs: often 1,000 to 10,000)


class CountingProvider(Web3.HTTPProvider):
    """Counts requests, and refuses eth_getLogs over more than RANGE_LIMIT blocks like a public RPC."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def make_request(self, method, params):
        self.calls.append(method)
        if method == "eth_getLogs":
            start, end = (int(params[0][k], 16) for k in ("fromBlock", "toBlock"))
            if end - start + 1 > RANGE_LIMIT:
                return {"jsonrpc": "2.0", "id": 1,
                        "error": {"code": -32005, "message": f"block range is too wide (max {RANGE_LIMIT})"}}
        return super().make_request(method, params)

    def make_batch_request(self, requests_):
        self.calls.append(f"batch[{len(requests_)}]")
        return super().make_batch_request(requests_)

    def count(self, method: str = "eth_getLogs") -> int:
        return sum(c == method for c in self.calls)


def mine_blocks(w3: Web3, count: int) -> None:
    w3.provider.make_request("anvil_mine", [hex(count)])


def counting_w3(url: str) -> tuple[Web3, CountingProvider]:
    provider = CountingProvider(url, request_kwargs={"timeout": 60})
    return Web3(provider), provider


@pytest.fixture(scope="module")
def world(deployed):
    """Round 1 open with MODELS stakes of one owner, then 40 empty blocks (history to cache)."""
    owner = deployed.keys[5]
    t = deployed.tournament
    admin, me = deployed.transactor(deployed.admin), deployed.transactor(owner)
    admin.transact(deployed.nmr.functions.transfer(owner.address, 1_000 * NMR), "fund")
    me.transact(deployed.nmr.functions.approve(t.address, 1_000 * NMR), "approve")
    me.transact(t.functions.deposit(1_000 * NMR), "deposit")
    for i in range(MODELS):
        me.transact(t.functions.createModel(f"cache-{i}"), "model")
    now = chain_time(deployed.w3)
    round_id = 1   # a fresh deployment per module
    deployed.transactor(deployed.operator).transact(
        t.functions.openRound(round_id, now + 7 * DAY, now + 35 * DAY, Web3.keccak(b"id\na\n")), "open")
    models = [int(e["args"]["modelId"]) for e in t.events.ModelCreated().get_logs(from_block=0)
              if e["args"]["owner"] == owner.address]
    for m in models:
        me.transact(t.functions.stake(round_id, m, NMR, 100, 0, Web3.keccak(text=f"f{m}")), "stake")
        mine_blocks(deployed.w3, 30)   # a round spread over many blocks, as on a real chain
    mine_blocks(deployed.w3, 40)
    return owner, round_id, models


def test_second_status_and_round_read_ask_only_for_new_blocks(deployed, world, tmp_path):
    owner, round_id, models = world
    cache = EventCache(tmp_path / "cache", confirmations=4)
    w3, provider = counting_w3(deployed.rpc_url)
    attach_event_cache(w3, cache)

    def status():
        return Participant(w3, deployed.deployment, owner).status()

    def round_read():
        reader = ChainReader(w3, deployed.deployment, scanner=LogScanner())
        return reader.round_events(round_id), reader.stakes(round_id)

    first_status, calls = status(), provider.count()
    first_round = round_read()
    first_total = provider.count()
    assert calls >= 20 and first_total > calls   # the provider's limit makes the first reads page
    mine_blocks(deployed.w3, 3)
    provider.calls.clear()
    second_status = status()
    status_calls = provider.count()
    second_round = round_read()
    round_calls = provider.count() - status_calls
    # the same answers ...
    assert [(s.round_id, s.model_id, s.amount_wei) for s in second_status.stakes] == \
        [(s.round_id, s.model_id, s.amount_wei) for s in first_status.stakes]
    assert len(second_status.stakes) == MODELS and [m.model_id for m in second_status.models] == models
    assert [e.tx_hash for e in second_round[0].events] == [e.tx_hash for e in first_round[0].events]
    assert second_round[1] == first_round[1]
    # ... for far fewer eth_getLogs: about one per scan (the blocks since, and the unconfirmed
    # tail), where the first reads paged the whole history in windows the provider accepts
    assert calls >= 10 * status_calls and status_calls <= 4, (calls, status_calls, provider.calls)
    assert first_total - calls >= 5 * round_calls and round_calls <= 3, (first_total, calls, round_calls)
    assert cache.stats.cached_blocks > 0
    head = deployed.w3.eth.block_number
    with sqlite3.connect(cache.path) as db:
        highest = db.execute("SELECT MAX(to_block) FROM ranges").fetchone()[0]
    assert highest <= head - cache.confirmations   # the reorg guard: nothing cached near the head


def test_the_cache_is_per_chain_and_drops_a_chain_whose_blocks_changed(deployed, world, tmp_path):
    owner, round_id, _ = world
    cache_path = tmp_path / "events.sqlite3"
    w3, _ = counting_w3(deployed.rpc_url)
    attach_event_cache(w3, EventCache(cache_path, confirmations=2))
    assert len(ChainReader(w3, deployed.deployment).round_events(round_id).of("StakeChanged")) == MODELS
    # Another anvil: same chain id (31337) and, for the same deployer nonces, the same addresses.
    with Anvil() as other:
        w3_other, provider = counting_w3(other.rpc_url)
        cache = attach_event_cache(w3_other, EventCache(cache_path, confirmations=2))
        assert w3_other.eth.chain_id == deployed.w3.eth.chain_id
        reader = ChainReader(w3_other, deployed.deployment)
        assert reader.round_events(round_id).events == ()       # nothing of the first chain leaks
        assert cache.stats.cached_blocks == 0
    # The same chain id and genesis, but the newest cached log's block hash differs: dropped.
    cache = EventCache(cache_path, confirmations=2)
    with sqlite3.connect(cache_path) as db:
        db.execute("UPDATE logs SET block_hash = '0x' || substr('00000000', 1, 8) || substr(block_hash, 11)")
    w3_again, _ = counting_w3(deployed.rpc_url)
    attach_event_cache(w3_again, cache)
    events = ChainReader(w3_again, deployed.deployment).round_events(round_id)
    assert len(events.of("StakeChanged")) == MODELS
    assert cache.stats.cached_blocks == 0            # re-read from the RPC, not from the dropped entries


def test_fast_event_decoding_matches_web3(deployed, world):
    _, round_id, _ = world
    reader = ChainReader(deployed.w3, deployed.deployment)
    ours = reader.round_events(round_id).events
    raw = deployed.w3.eth.get_logs({"address": deployed.tournament.address, "fromBlock": 0,
                                    "toBlock": reader.block_number})
    by_tx = {(e.tx_hash, e.log_index): e for e in ours}
    checked = 0
    for entry in raw:
        key = ("0x" + bytes(entry["transactionHash"]).hex(), int(entry["logIndex"]))
        if key not in by_tx:
            continue
        mine = by_tx[key]
        theirs = deployed.tournament.events[mine.name]().process_log(entry)
        plain = {k: (bytes(v) if isinstance(v, (bytes, bytearray)) else tuple(v) if isinstance(v, list) else v)
                 for k, v in dict(theirs["args"]).items()}
        assert plain == mine.args, mine.name
        checked += 1
    assert checked == len(ours) >= MODELS + 1


def test_cache_option_values(tmp_path, monkeypatch):
    monkeypatch.setenv("TOURNAMENT_EVENT_CACHE", "off")
    assert cache_from_option(None) is None
    assert cache_from_option(str(tmp_path)) == tmp_path
    monkeypatch.delenv("TOURNAMENT_EVENT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_from_option(None) == tmp_path / "xdg" / "tournament" / "events.sqlite3"
    assert cache_from_option("off") is None
