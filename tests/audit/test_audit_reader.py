"""The chain reader fills a ChainView from a real node (v2 contracts), and an unproposed round audits.

It reads getRound by the ABI's names (not positions), so the v2 struct's new fields appear:
liveIdsHash (committed at open) and the RECEIPT_ROLE holders are filled.
"""
from __future__ import annotations

from eth_hash.auto import keccak

from tournament.auditor.readers import read_chain_view
from tournament.auditor.verify import verify_round
from tournament.chain.devchain import chain_now
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.constants import Phase

ROUND_ID = 40


def test_a_staked_round_reads_into_a_chain_view_and_audits_pending(deployed):
    world = deployed
    t = world.tournament
    admin, operator = world.transactor(world.admin), world.transactor(world.operator)
    live_raw = b"id\na\nb\nc\n"
    now = chain_now(world.w3)
    operator.transact(t.functions.openRound(ROUND_ID, now + 3600, now + 90_000, keccak(live_raw)), "open")
    alice = world.keys[3]
    admin.transact(world.nmr.functions.transfer(alice.address, 100 * NMR), "fund")
    me = world.transactor(alice)
    me.transact(world.nmr.functions.approve(t.address, 100 * NMR), "approve")
    me.transact(t.functions.deposit(100 * NMR), "deposit")
    receipt = me.transact(t.functions.createModel("reader"), "create model")
    model_id = int(t.events.ModelCreated().process_receipt(receipt)[0]["args"]["modelId"])
    me.transact(t.functions.stake(ROUND_ID, model_id, 12 * NMR, 200, 0, keccak(b"file")), "stake")
    me.transact(t.functions.unstake(ROUND_ID, model_id, 2 * NMR), "unstake")

    chain = read_chain_view(world.w3, world.deployment, ROUND_ID)
    assert chain.phase == Phase.OPEN.label and chain.close_time == now + 3600
    assert chain.config["clipBps"] == 2500 and chain.config["stakeThreshold"] == 72_000 * NMR
    assert chain.staked_count == 1 and chain.total_at_risk_wei == 10 * NMR
    stake = chain.stakes[model_id]
    assert (stake.stake_wei, stake.get_stake_wei, stake.corr_mult, stake.submission_hash) == \
        (10 * NMR, 10 * NMR, 200, keccak(b"file"))
    assert chain.live_ids_hash == keccak(live_raw)
    assert chain.receipt_signers is not None, "the v2 contracts name the RECEIPT_ROLE holders"
    report = verify_round(chain, None)
    assert report.verdict == "PASS" and report.stakes[0].result == "PENDING"
    assert any("no results proposed" in note for note in report.notes)
