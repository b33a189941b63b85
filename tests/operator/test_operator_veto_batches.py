"""A guardian's veto, a re-score with corrected targets and a re-proposal (attempt 1); and
settlement split into gas-sized batches that each stay under the gas target."""
from __future__ import annotations

import pytest

from tournament.guardian.actions import GuardianError, veto
from tournament.operator.common import OperatorError


@pytest.fixture(scope="module")
def owners(harness):
    harness.add_owners(6, 4)
    return harness


def test_veto_then_rescore_and_repropose_with_next_attempt(owners, kinds, tmp_path):
    harness = owners
    plan = harness.plan_round(kinds(20))
    wrong_targets = tmp_path / "wrong-targets.csv"
    flipped = 1.0 - plan.targets
    wrong_targets.write_text("id,target\n" + "".join(f"{i},{t}\n" for i, t in zip(plan.live_ids, flipped)))
    op = harness.operator(tmp_path / "work")
    harness.open_and_stake(op, plan)
    harness.to_resolvable(plan)
    first = op.run(plan.round_id, wrong_targets)
    assert first.phase == "Proposed" and first.attempt == 0

    veto(harness.w3, harness.world.deployment, harness.world.guardian, plan.round_id, "targets were flipped")
    assert op.phase(plan.round_id) == "Resolvable"
    assert op.next_action(plan.round_id).next_step.startswith(
        "re-propose: attempt 0 was vetoed ('targets were flipped'); fix what the veto names, re-score, then "
        "propose attempt 1")
    with pytest.raises(GuardianError, match="is Resolvable: only Proposed results"):
        veto(harness.w3, harness.world.deployment, harness.world.guardian, plan.round_id, "again")
    second = op.run(plan.round_id, plan.targets_path)
    assert second.phase == "Proposed" and second.attempt == 1, second
    proposals = harness.t.events.ResultsProposed().get_logs(from_block=0, argument_filters={"roundId": plan.round_id})
    assert [p["args"]["attempt"] for p in proposals] == [0, 1]
    assert proposals[0]["args"]["resultsRoot"] != proposals[1]["args"]["resultsRoot"]
    # Re-running while Proposed must not propose again, and must not rewrite the proposed artifacts.
    assert op.run(plan.round_id, plan.targets_path).actions == []
    assert op.score(plan.round_id, plan.targets_path).actions == ["results already proposed; artifacts match"]
    assert op.propose(plan.round_id).actions == ["already Proposed"]
    assert len(harness.t.events.ResultsProposed().get_logs(
        from_block=0, argument_filters={"roundId": plan.round_id})) == 2
    harness.past_challenge()
    assert op.run(plan.round_id).phase == "Settled"
    harness.check_wallets(plan)          # paid on the corrected targets, not the vetoed ones


def test_settlement_is_split_into_gas_sized_batches(owners, kinds, tmp_path):
    harness = owners
    plan = harness.plan_round(kinds(24))
    block_gas = harness.w3.eth.get_block("latest")["gasLimit"]
    target_gas = 250_000
    op = harness.operator(tmp_path / "work", block_gas_fraction=target_gas / block_gas)
    harness.open_and_stake(op, plan)
    harness.to_resolvable(plan)
    op.run(plan.round_id, plan.targets_path)
    harness.past_challenge()
    status = op.run(plan.round_id)
    assert status.phase == "Settled"
    sizes = [n for n, _ in op.last_settle_gas]
    assert sum(sizes) == 24 and len(sizes) >= 3, sizes
    assert all(gas <= target_gas for _, gas in op.last_settle_gas), op.last_settle_gas
    harness.check_wallets(plan)


def test_settle_before_acceptance_says_when(owners, kinds, tmp_path):
    harness = owners
    plan = harness.plan_round(kinds(4))
    op = harness.operator(tmp_path / "work")
    harness.open_and_stake(op, plan)
    with pytest.raises(OperatorError, match="is Open: collect after its close time"):
        op.collect(plan.round_id)
    harness.to_resolvable(plan)
    status = op.run(plan.round_id, plan.targets_path)
    assert "challenge window ends" in status.next_step
    with pytest.raises(OperatorError, match="is Proposed: settle only once results are Accepted"):
        op.settle(plan.round_id)
    harness.past_challenge()
    op.run(plan.round_id)
    harness.check_wallets(plan)


def test_round_without_results_in_time_is_refunded_in_full(owners, kinds, tmp_path):
    harness = owners
    plan = harness.plan_round(kinds(6))
    op = harness.operator(tmp_path / "work")
    harness.open_and_stake(op, plan)
    harness.to_resolvable(plan)
    from tournament.chain.devchain import increase_time
    increase_time(harness.w3, 14 * 86_400 + 1)        # resultsTimeout passes without a proposal
    assert op.phase(plan.round_id) == "Refunding"
    status = op.run(plan.round_id)
    assert status.phase == "Settled" and status.actions == ["refunded 6 stakes"], status
    for owner in harness.owners:                        # every stake back, nothing burned
        staked = sum(s.stake_wei for s in plan.specs if s.owner.address == owner.address)
        assert harness.t.functions.balanceOf(owner.address).call() == plan.wallets_before[owner.address] + staked
    assert harness.nmr.functions.totalSupply().call() == plan.supply_before
