"""The explorer audits a round once per change of its state, however many requests ask.

A round with stakes on anvil: the first index computes its audit; after new blocks that do not
change the round the index answers from the cache (no recomputation) in under a second; after a
change (a stake while the round is open, then the close) six parallel requests for the round
page cause ONE computation; and the index never waits for a recomputation when an older audit
exists (it shows that one while a background thread computes the new one).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from web3 import Web3

from tournament.auditor.explorer.app import create_app
from tournament.chain.devchain import increase_time
from tournament.chain.reader import chain_time

NMR = 10**18
DAY = 86_400


def mine(w3: Web3, blocks: int = 1) -> None:
    w3.provider.make_request("anvil_mine", [hex(blocks)])


@pytest.fixture(scope="module")
def explorer(deployed):
    owner = deployed.keys[6]
    t = deployed.tournament
    admin, me = deployed.transactor(deployed.admin), deployed.transactor(owner)
    admin.transact(deployed.nmr.functions.transfer(owner.address, 100 * NMR), "fund")
    me.transact(deployed.nmr.functions.approve(t.address, 100 * NMR), "approve")
    me.transact(t.functions.deposit(100 * NMR), "deposit")
    me.transact(t.functions.createModel("explorer-cache"), "model")
    now = chain_time(deployed.w3)
    deployed.transactor(deployed.operator).transact(
        t.functions.openRound(1, now + 7 * DAY, now + 35 * DAY, Web3.keccak(b"id\na\n")), "open")
    model_id = int(t.events.ModelCreated().get_logs(from_block=0)[-1]["args"]["modelId"])
    me.transact(t.functions.stake(1, model_id, NMR, 100, 0, Web3.keccak(text="f")), "stake")
    app = create_app(w3=deployed.w3, deployments_dir=deployed.deployments_dir)
    return app, app.config["EXPLORER"], me, model_id


def test_one_audit_per_round_state(deployed, explorer):
    app, data, me, model_id = explorer
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert data.audit_computations == 1
    # A stake while the round is open changes its state: six parallel page requests, one audit.
    me.transact(deployed.tournament.functions.stake(1, model_id, NMR, 100, 0, Web3.keccak(text="f")), "top-up")
    before = data.audit_computations
    with ThreadPoolExecutor(6) as pool:
        pages = list(pool.map(lambda _: app.test_client().get("/round/1"), range(6)))
    assert [p.status_code for p in pages] == [200] * 6
    assert data.audit_computations == before + 1
    # Closed: from now on new blocks leave the round's state, and its audit, as they are.
    increase_time(deployed.w3, 8 * DAY)
    mine(deployed.w3)
    assert client.get("/round/1").status_code == 200
    settled_count = data.audit_computations
    for _ in range(3):
        mine(deployed.w3, 2)
        started = time.perf_counter()
        assert client.get("/").status_code == 200
        assert time.perf_counter() - started < 1.0
    assert data.audit_computations == settled_count


def test_the_index_does_not_wait_for_a_recomputation(deployed, explorer, monkeypatch):
    app, data, _, _ = explorer
    client = app.test_client()
    assert client.get("/").status_code == 200
    slow_started = []

    def slow_audit(round_id):   # a 15,000-stake round takes seconds to rescore
        slow_started.append(round_id)
        time.sleep(3)
        return original(round_id)
    original = data._compute_audit
    monkeypatch.setattr(data, "_compute_audit", slow_audit)
    data._audits[1] = (("an older state",), data._audits[1][1])   # as if the round changed since
    started = time.perf_counter()
    assert client.get("/").status_code == 200
    assert time.perf_counter() - started < 1.0          # the older audit, at once
    deadline = time.monotonic() + 20
    while data._audits[1][0] == ("an older state",) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert slow_started == [1] and data._audits[1][0] != ("an older state",)   # computed in the background
