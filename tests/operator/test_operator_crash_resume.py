"""A crash at every named point of the pipeline, then a rerun with a fresh Operator: the round
finishes exactly once (one proposal per attempt, every stake settled once, wallets to the wei)."""
from __future__ import annotations

import threading
import time

import pytest

from tournament.chain.devchain import set_automine


class Crash(Exception):
    pass


def crash_at(point: str, times: int = 1):
    """A hook that raises (a simulated crash) the `times`-th time `point` is reached."""
    seen = {"n": 0}

    def hook(name: str) -> None:
        if name == point:
            seen["n"] += 1
            if seen["n"] == times:
                raise Crash(point)
    return hook

POINTS = [
    ("open:sent", 1), ("open:done", 1), ("collect:file", 3), ("collect:done", 1),
    ("score:before-manifest", 1), ("score:done", 1), ("propose:sent", 1), ("propose:done", 1),
    ("settle:sent", 1), ("settle:sent", 2), ("settle:batch", 2), ("settle:done", 1),
]
N_MODELS = 8
BATCH = 3


@pytest.fixture(scope="module")
def owners(harness):
    harness.add_owners(4, 3)
    return harness


def stages(harness, plan, op):
    """The round's life as (name, action) pairs; operator actions take the Operator to use."""
    now = {}

    def open_(o):
        from tournament.chain.devchain import chain_now
        now.setdefault("t", chain_now(harness.w3))
        return o.open_round(plan.round_id, now["t"] + 86_400, now["t"] + 3 * 86_400, plan.live_ids)

    return [
        ("open", open_),
        ("stake", None),
        ("resolve", None),
        ("collect", lambda o: o.collect(plan.round_id)),
        ("score", lambda o: o.score(plan.round_id, plan.targets_path)),
        ("propose", lambda o: o.propose(plan.round_id)),
        ("challenge", None),
        ("settle", lambda o: o.settle(plan.round_id)),
    ]


def stake_all(harness, plan):
    from eth_hash.auto import keccak
    for spec in plan.specs:
        harness.tx(spec.owner).transact(harness.t.functions.stake(
            plan.round_id, spec.model_id, spec.stake_wei, spec.corr_mult, 0, keccak(spec.raw)), "stake")
    plan.wallets_before = {o.address: harness.t.functions.balanceOf(o.address).call() for o in harness.owners}
    plan.supply_before = harness.nmr.functions.totalSupply().call()


@pytest.mark.parametrize("point,times", POINTS, ids=[f"{p}#{n}" for p, n in POINTS])
def test_crash_then_rerun_finishes_round_exactly_once(owners, kinds, tmp_path, point, times):
    harness = owners
    plan = harness.plan_round(kinds(N_MODELS))
    work = tmp_path / "work"
    crashing = harness.operator(work, hook=crash_at(point, times), max_batch_leaves=BATCH)
    crashed = False
    for name, action in stages(harness, plan, crashing):
        if name == "stake":
            stake_all(harness, plan)
        elif name == "resolve":
            harness.to_resolvable(plan)
        elif name == "challenge":
            harness.past_challenge()
        else:
            try:
                action(crashing)
            except Crash:
                crashed = True
                # A new process: nothing survives but the chain and the round folder.
                action(harness.operator(work, max_batch_leaves=BATCH))
                # And running the same step once more is a no-op for the chain.
                action(harness.operator(work, max_batch_leaves=BATCH))
    assert crashed, f"the hook never fired at {point}"
    proposals = harness.t.events.ResultsProposed().get_logs(from_block=0, argument_filters={"roundId": plan.round_id})
    assert len(proposals) == 1
    harness.check_wallets(plan)
    final = harness.operator(work, max_batch_leaves=BATCH).run(plan.round_id)
    assert final.phase == "Settled" and final.actions == []


def test_proposal_sent_but_unmined_at_crash_is_not_sent_twice(owners, kinds, tmp_path):
    """The crash happens while the proposal sits in the mempool; the rerun waits for it."""
    harness = owners
    plan = harness.plan_round(kinds(N_MODELS))
    work = tmp_path / "work"
    op = harness.operator(work)
    harness.open_and_stake(op, plan)
    harness.to_resolvable(plan)
    op.collect(plan.round_id)
    op.score(plan.round_id, plan.targets_path)
    set_automine(harness.w3, False)
    try:
        with pytest.raises(Crash):
            harness.operator(work, hook=crash_at("propose:sent")).propose(plan.round_id)
        assert harness.t.functions.phase(plan.round_id).call() == 3  # still Resolvable: not mined

        def mine_later():
            time.sleep(0.5)
            harness.w3.provider.make_request("evm_mine", [])
        threading.Thread(target=mine_later).start()
        status = harness.operator(work).propose(plan.round_id)
    finally:
        set_automine(harness.w3, True)
    # Depending on when the block lands, the rerun finds it mined at once or after waiting.
    assert status.phase == "Proposed"
    assert status.actions in (["an earlier proposal was mined"], ["already Proposed"])
    harness.past_challenge()
    harness.operator(work).run(plan.round_id)
    proposals = harness.t.events.ResultsProposed().get_logs(from_block=0, argument_filters={"roundId": plan.round_id})
    assert len(proposals) == 1
    harness.check_wallets(plan)


def test_stuck_proposal_is_cancelled_and_proposed_again(owners, kinds, tmp_path):
    """A proposal that never gets mined: the rerun replaces its nonce with a higher-fee
    cancel, then proposes again; still exactly one proposal on-chain."""
    harness = owners
    plan = harness.plan_round(kinds(N_MODELS))
    work = tmp_path / "work"
    op = harness.operator(work)
    harness.open_and_stake(op, plan)
    harness.to_resolvable(plan)
    op.collect(plan.round_id)
    op.score(plan.round_id, plan.targets_path)
    set_automine(harness.w3, False)
    try:
        with pytest.raises(Crash):
            harness.operator(work, hook=crash_at("propose:sent")).propose(plan.round_id)
        rerun = harness.operator(work)
        rerun.tx.receipt_timeout_s = 0.3  # the stuck tx is given up on quickly
        rerun.tx.max_replacements = 30     # ... and re-bumped until the (slow) chain mines

        def mine_cancel_later():
            time.sleep(1.5)
            set_automine(harness.w3, True)
            harness.w3.provider.make_request("evm_mine", [])
        threading.Thread(target=mine_cancel_later).start()
        rerun.tx.settle_pending(wait_s=0.3)
    finally:
        time.sleep(1.6)
        set_automine(harness.w3, True)
    assert harness.t.functions.phase(plan.round_id).call() == 3  # the cancel won: still Resolvable
    status = harness.operator(work).propose(plan.round_id)
    assert status.phase == "Proposed"
    harness.past_challenge()
    harness.operator(work).run(plan.round_id)
    proposals = harness.t.events.ResultsProposed().get_logs(from_block=0, argument_filters={"roundId": plan.round_id})
    assert len(proposals) == 1
    harness.check_wallets(plan)
