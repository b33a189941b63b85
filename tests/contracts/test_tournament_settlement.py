"""Settlement and refunds: the protocol's seed checks on-chain, payout factor and clip, both
configuration presets, INVALID leaves, one batch, many batches, a batch repeating settled leaves,
a leaf not in the tree, a leaf for a model that did not stake, malformed leaves, settling before
the window ends or after a veto, the reserve released at RoundSettled, and both refund paths
(the oracle never posts; results accepted but a stake left unsettled). Expected amounts come
from tournament.protocol.payout, the protocol's Python mirror.
"""
from __future__ import annotations

import pytest
from tournament_testlib import (
    ACCEPTED,
    NMR_WEI,
    PRESET_2024,
    PROPOSED,
    REFUNDING,
    RESOLVABLE,
    SEED_PRESET,
    SETTLED,
    TOTAL_SUPPLY_WEI,
    config_tuple,
    now,
    reverts_with,
    travel_to,
)

from tournament.protocol.payout import payout_factor_wei, settle_amounts
from tournament.protocol.results import INVALID, SCORED


def _accepted(h, stakes, scores, round_id=None):
    """Stake, resolve, propose `scores` (list aligned with stakes), pass the window."""
    round_id, models = h.staked_round(stakes, round_id)
    h.to_resolve(round_id)
    tx, tree = h.propose(round_id, dict(zip(models, scores)))
    h.to_accepted(round_id)
    return round_id, models, tree, tx


def _expected(h, round_id, model, leaf):
    r = h.round(round_id)
    position, _ = h.t.getStake(round_id, model)
    return settle_amounts(position[0], leaf.status, leaf.corr_nanos, leaf.mmc_nanos, position[1], position[2],
                          r["payoutFactor"], r["config"][4])


def test_seed_checks_on_chain(tournament, nmr, h, alice, bob):
    """10 NMR at 2x with corr 0.025 pays +0.5 NMR; 50 NMR at 3x with corr -0.010 burns 1.5 NMR."""
    round_id, (m_alice, m_bob), tree, proposed = _accepted(
        h, [(alice, 10 * NMR_WEI, 200, 0), (bob, 50 * NMR_WEI, 300, 0)],
        [(25_000_000, 0), (-10_000_000, 0)])
    reserve = 60 * NMR_WEI * 2500 // 10_000
    assert proposed.events["ResultsProposed"]["reserve"] == reserve
    pool_after_proposal = tournament.rewardPool()
    supply = nmr.totalSupply()
    (tx,) = h.settle(round_id, tree)
    settled = {e["modelId"]: e for e in tx.events["StakeSettled"]}
    assert settled[m_alice]["payout"] == NMR_WEI // 2 and settled[m_alice]["burned"] == 0
    assert settled[m_bob]["payout"] == -3 * NMR_WEI // 2 and settled[m_bob]["burned"] == 3 * NMR_WEI // 2
    assert settled[m_alice]["stake"] == 10 * NMR_WEI and settled[m_alice]["corr"] == 25_000_000
    assert settled[m_alice]["status"] == SCORED and settled[m_alice]["owner"] == alice
    assert tournament.balanceOf(alice) == 10 * NMR_WEI + NMR_WEI // 2
    assert tournament.balanceOf(bob) == 50 * NMR_WEI - 3 * NMR_WEI // 2
    assert nmr.totalSupply() == supply - 3 * NMR_WEI // 2
    assert tx.events["RoundSettled"] == {"roundId": round_id, "rewards": NMR_WEI // 2,
                                         "burned": 3 * NMR_WEI // 2, "reserveReleased": reserve - NMR_WEI // 2}
    assert tournament.rewardPool() == pool_after_proposal + reserve - NMR_WEI // 2
    r = h.round(round_id)
    assert r["settled"] and r["reserve"] == 0 and r["rewardsPaid"] == NMR_WEI // 2
    assert r["burned"] == 3 * NMR_WEI // 2 and r["closedCount"] == 2 and r["closedAmount"] == 60 * NMR_WEI
    assert tournament.phase(round_id) == SETTLED
    assert tournament.isStakeClosed(round_id, m_alice) and tournament.getStake(round_id, m_bob)[1]
    # the stake itself is not rewritten by settlement
    assert list(tournament.getStake(round_id, m_bob)[0]) == [50 * NMR_WEI, 300, 0]


def test_clip_bounds_rewards_and_burns(tournament, h, alice, bob):
    round_id, (m1, m2), tree, _ = _accepted(
        h, [(alice, 100 * NMR_WEI, 300, 0), (bob, 100 * NMR_WEI, 300, 0)],
        [(1_000_000_000, 0), (-1_000_000_000, 0)])
    (tx,) = h.settle(round_id, tree)
    settled = {e["modelId"]: e for e in tx.events["StakeSettled"]}
    assert settled[m1]["payout"] == 25 * NMR_WEI
    assert settled[m2]["payout"] == -25 * NMR_WEI and settled[m2]["burned"] == 25 * NMR_WEI
    # the reserve (25% of 200) paid exactly one clipped reward; half is released
    assert tx.events["RoundSettled"]["reserveReleased"] == 25 * NMR_WEI


def test_payout_factor_scales_exposure(tournament, h, admin, alice, bob, carol):
    tournament.setConfig(config_tuple(stakeThreshold=150 * NMR_WEI), {"from": admin})
    stakes = [(alice, 100 * NMR_WEI, 200, 0), (bob, 200 * NMR_WEI + 7, 100, 0), (carol, 13 * NMR_WEI, 50, 0)]
    scores = [(30_000_000, 0), (-12_345_678, 0), (999_999_999, 0)]
    round_id, models, tree, proposed = _accepted(h, stakes, scores)
    total = sum(s[1] for s in stakes)
    factor = payout_factor_wei(total, 150 * NMR_WEI)
    assert factor < 10**18
    assert proposed.events["ResultsProposed"]["payoutFactor"] == factor
    assert tournament.payoutFactor(total, 150 * NMR_WEI) == factor
    expected = {m: _expected(h, round_id, m, tree.leaf_for(m)) for m in models}
    (tx,) = h.settle(round_id, tree)
    for event in tx.events["StakeSettled"]:
        credit, burned, reward = expected[event["modelId"]]
        assert event["payout"] == reward - burned and event["burned"] == burned
    for model, (owner, *_rest) in zip(models, stakes):
        assert tournament.balanceOf(owner) == expected[model][0]


def test_preset_2024_pays_corr_and_mmc(tournament, h, admin, alice, bob):
    tournament.setConfig(config_tuple(**PRESET_2024), {"from": admin})
    stakes = [(alice, 40 * NMR_WEI, 50, 200), (bob, 60 * NMR_WEI, 50, 200)]
    scores = [(20_000_000, 10_000_000), (-5_000_000, -30_000_000)]
    round_id, models, tree, proposed = _accepted(h, stakes, scores)
    assert proposed.events["ResultsProposed"]["reserve"] == 100 * NMR_WEI * 500 // 10_000
    (tx,) = h.settle(round_id, tree)
    settled = {e["modelId"]: e for e in tx.events["StakeSettled"]}
    # alice: 0.5*0.02 + 2*0.01 = 0.03 -> +1.2 NMR; bob: 0.5*-0.005 + 2*-0.03 = -0.0625 clipped to -0.05 -> -3 NMR
    assert settled[models[0]]["payout"] == 12 * NMR_WEI // 10
    assert settled[models[1]]["payout"] == -3 * NMR_WEI


def test_seed_preset_ignores_mmc(tournament, h, alice):
    round_id, (model,), tree, _ = _accepted(h, [(alice, 10 * NMR_WEI, 100, 0)], [(10_000_000, -900_000_000)])
    (tx,) = h.settle(round_id, tree)
    assert tx.events["StakeSettled"]["payout"] == NMR_WEI // 10


def test_invalid_leaf_returns_the_stake(tournament, h, alice, bob):
    round_id, (m1, m2), tree, _ = _accepted(h, [(alice, 10 * NMR_WEI, 300, 0), (bob, 5 * NMR_WEI, 100, 0)],
                                            [None, (50_000_000, 0)])
    (tx,) = h.settle(round_id, tree)
    settled = {e["modelId"]: e for e in tx.events["StakeSettled"]}
    assert settled[m1]["status"] == INVALID and settled[m1]["payout"] == 0 and settled[m1]["burned"] == 0
    assert tournament.balanceOf(alice) == 10 * NMR_WEI
    assert tournament.balanceOf(bob) == 5 * NMR_WEI + NMR_WEI // 4


def test_many_batches_settle_each_stake_once(tournament, h, alice, bob, carol, dave):
    owners = [alice, bob, carol, dave]
    stakes = [(owners[i % 4], (i + 1) * NMR_WEI, 50 + 25 * (i % 11), 0) for i in range(12)]
    scores = [((-1) ** i * (i * 3_000_000 + 17), 0) if i % 5 else None for i in range(12)]
    round_id, models, tree, _ = _accepted(h, stakes, scores)
    expected = {m: _expected(h, round_id, m, tree.leaf_for(m)) for m in models}
    txs = h.settle(round_id, tree, batch_size=5)
    assert len(txs) == 3
    events = [e for tx in txs for e in tx.events["StakeSettled"]]
    assert sorted(e["modelId"] for e in events) == sorted(models)
    assert "RoundSettled" not in txs[0].events and "RoundSettled" not in txs[1].events
    assert txs[2].events["RoundSettled"]["burned"] == sum(v[1] for v in expected.values())
    assert txs[2].events["RoundSettled"]["rewards"] == sum(v[2] for v in expected.values())
    for event in events:
        credit, burned, reward = expected[event["modelId"]]
        assert event["payout"] == reward - burned
    assert tournament.phase(round_id) == SETTLED


def test_batch_repeating_settled_leaves_skips_them(tournament, h, alice, bob, carol):
    stakes = [(alice, 10 * NMR_WEI, 200, 0), (bob, 20 * NMR_WEI, 100, 0), (carol, 30 * NMR_WEI, 100, 0)]
    round_id, models, tree, _ = _accepted(h, stakes, [(10_000_000, 0), (-20_000_000, 0), (30_000_000, 0)])
    first = tree.multiproof([tree.leaf_for(models[0])])
    tx = h.settle_batch(round_id, first)
    assert len(tx.events["StakeSettled"]) == 1
    balance = tournament.balanceOf(alice)
    # the very same batch again: nothing happens, no event, no double pay
    again = h.settle_batch(round_id, first)
    assert "StakeSettled" not in again.events and tournament.balanceOf(alice) == balance
    # an overlapping batch pays only the new leaves
    overlap = tree.multiproof([tree.leaf_for(m) for m in models[:2]])
    tx = h.settle_batch(round_id, overlap)
    assert [e["modelId"] for e in tx.events["StakeSettled"]] == [models[1]]
    assert tournament.balanceOf(alice) == balance
    h.settle(round_id, tree)
    assert tournament.phase(round_id) == SETTLED
    # once the round is Settled a late batch (a racing keeper) does nothing and does not revert
    balances = [tournament.balanceOf(a) for a in (alice, bob, carol)]
    late = h.settle_batch(round_id, first)
    assert late.status == 1 and "StakeSettled" not in late.events and "RoundSettled" not in late.events
    assert [tournament.balanceOf(a) for a in (alice, bob, carol)] == balances
    assert tournament.phase(round_id) == SETTLED


def test_leaf_not_in_tree_rejected(tournament, h, alice, bob):
    round_id, models, tree, _ = _accepted(h, [(alice, 10 * NMR_WEI, 200, 0), (bob, 10 * NMR_WEI, 200, 0)],
                                          [(10_000_000, 0), (-10_000_000, 0)])
    batch = tree.multiproof([tree.leaf_for(models[1])])
    forged = [(round_id, models[1], SCORED, 10_000_000, 0)]  # bob claims alice's score
    with reverts_with("InvalidProof", round_id):
        tournament.settle(round_id, forged, batch.proof_hex(), batch.proof_flags, {"from": h.keeper})
    invalid_claim = [(round_id, models[1], INVALID, 0, 0)]
    with reverts_with("InvalidProof", round_id):
        tournament.settle(round_id, invalid_claim, batch.proof_hex(), batch.proof_flags, {"from": h.keeper})


def test_malformed_multiproof_rejected(tournament, h, alice, bob, carol):
    stakes = [(alice, NMR_WEI, 100, 0), (bob, NMR_WEI, 100, 0), (carol, NMR_WEI, 100, 0)]
    round_id, models, tree, _ = _accepted(h, stakes, [(1, 0), (2, 0), (3, 0)])
    batch = tree.multiproof([tree.leaf_for(models[0])])
    with reverts_with("MerkleProofInvalidMultiproof"):
        tournament.settle(round_id, batch.leaf_values(), batch.proof_hex(), batch.proof_flags + [True],
                          {"from": h.keeper})


def test_leaf_for_model_that_did_not_stake_rejected(tournament, h, alice, bob):
    round_id, models = h.staked_round([(alice, 10 * NMR_WEI, 100, 0), (bob, 10 * NMR_WEI, 100, 0)])
    stranger = h.create_model(bob, "never staked")
    h.to_resolve(round_id)
    # a wrong tree with the right leaf count: one staked model replaced by a stranger
    tx, tree = h.propose(round_id, {models[0]: (1_000, 0), stranger: (2_000, 0)})
    h.to_accepted(round_id)
    batch = tree.multiproof([tree.leaf_for(stranger)])
    with reverts_with("NoStake", round_id, stranger):
        h.settle_batch(round_id, batch)
    h.settle(round_id, tree, [tree.leaf_for(models[0])])
    assert tournament.phase(round_id) == ACCEPTED  # models[1] is left for the refund path


def test_leaf_of_another_round_rejected(tournament, h, alice):
    round_id, (model,), tree, _ = _accepted(h, [(alice, NMR_WEI, 100, 0)], [(5, 0)])
    batch = tree.multiproof(tree.leaves)
    with reverts_with("LeafRoundMismatch", round_id, round_id + 1, model):
        tournament.settle(round_id, [(round_id + 1, model, SCORED, 5, 0)], batch.proof_hex(), batch.proof_flags,
                          {"from": h.keeper})
    with reverts_with("UnknownRound", 5):
        tournament.settle(5, batch.leaf_values(), batch.proof_hex(), batch.proof_flags, {"from": h.keeper})


@pytest.mark.parametrize("leaf,error", [
    ((3, 0, 0), ("InvalidLeafStatus", 3)),
    ((0, 0, 0), ("InvalidLeafStatus", 0)),
    ((INVALID, 1, 0), ("InvalidScore", 1, 0)),
    ((INVALID, 0, -1), ("InvalidScore", 0, -1)),
    ((SCORED, 1_000_000_001, 0), ("InvalidScore", 1_000_000_001, 0)),
    ((SCORED, 0, -1_000_000_001), ("InvalidScore", 0, -1_000_000_001)),
])
def test_malformed_leaves_rejected(tournament, h, alice, leaf, error):
    round_id, (model,), tree, _ = _accepted(h, [(alice, NMR_WEI, 100, 0)], [(5, 0)])
    status, corr, mmc = leaf
    name, *args = error
    with reverts_with(name, model, *args):
        tournament.settle(round_id, [(round_id, model, status, corr, mmc)], [], [], {"from": h.keeper})


def test_score_bounds_are_inclusive(tournament, h, alice, bob):
    round_id, models, tree, _ = _accepted(h, [(alice, NMR_WEI, 100, 0), (bob, NMR_WEI, 100, 0)],
                                          [(1_000_000_000, -1_000_000_000), (-1_000_000_000, 1_000_000_000)])
    (tx,) = h.settle(round_id, tree)
    assert len(tx.events["StakeSettled"]) == 2


def test_settle_before_window_ends_reverts(tournament, h, alice):
    round_id, (model,) = h.staked_round([(alice, NMR_WEI, 100, 0)])
    h.to_resolve(round_id)
    with reverts_with("WrongPhase", round_id, ACCEPTED, RESOLVABLE):
        tournament.settle(round_id, [], [], [], {"from": h.keeper})
    _, tree = h.propose(round_id, {model: (5, 0)})
    batch = tree.multiproof(tree.leaves)
    with reverts_with("WrongPhase", round_id, ACCEPTED, PROPOSED):
        h.settle_batch(round_id, batch)


def test_settle_after_veto_reverts(tournament, h, alice, guardian):
    round_id, (model,) = h.staked_round([(alice, NMR_WEI, 100, 0)])
    h.to_resolve(round_id)
    _, tree = h.propose(round_id, {model: (5, 0)})
    tournament.veto(round_id, "bad", {"from": guardian})
    travel_to(now() + 2 * 86_400)  # past where the vetoed window would have ended
    with reverts_with("WrongPhase", round_id, ACCEPTED, RESOLVABLE):
        h.settle_batch(round_id, tree.multiproof(tree.leaves))


def test_settle_while_paused_reverts(tournament, h, alice, guardian):
    round_id, _, tree, _ = _accepted(h, [(alice, NMR_WEI, 100, 0)], [(5, 0)])
    tournament.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        h.settle(round_id, tree)


def test_settle_is_permissionless(tournament, h, alice, outsider):
    round_id, _, tree, _ = _accepted(h, [(alice, NMR_WEI, 100, 0)], [(5, 0)])
    h.settle(round_id, tree, sender=outsider)
    assert tournament.phase(round_id) == SETTLED


def test_reserve_taken_at_propose_and_released_at_round_settled(tournament, h, alice, bob):
    pool = tournament.rewardPool()
    round_id, models = h.staked_round([(alice, 40 * NMR_WEI, 100, 0), (bob, 40 * NMR_WEI, 100, 0)])
    h.to_resolve(round_id)
    _, tree = h.propose(round_id, {models[0]: (100_000_000, 0), models[1]: (0, 0)})
    assert tournament.rewardPool() == pool - 20 * NMR_WEI
    h.to_accepted(round_id)
    h.settle(round_id, tree, [tree.leaf_for(models[0])])
    assert h.round(round_id)["reserve"] == 20 * NMR_WEI - 4 * NMR_WEI
    assert tournament.rewardPool() == pool - 20 * NMR_WEI  # nothing released before the last stake
    (tx,) = h.settle(round_id, tree, [tree.leaf_for(models[1])])
    assert tx.events["RoundSettled"]["reserveReleased"] == 16 * NMR_WEI
    assert tournament.rewardPool() == pool - 4 * NMR_WEI


def test_rounds_settle_independently(tournament, h, alice, bob):
    first = h.open_round()
    second = h.open_round()
    model = h.create_model(alice)
    other = h.create_model(bob)
    h.deposit_and_stake(alice, first, model, 10 * NMR_WEI, 200)
    h.deposit_and_stake(alice, second, model, 20 * NMR_WEI, 100)
    h.deposit_and_stake(bob, second, other, 5 * NMR_WEI, 100)
    h.to_resolve(second)
    _, tree1 = h.propose(first, {model: (10_000_000, 0)})
    _, tree2 = h.propose(second, {model: (-10_000_000, 0), other: None})
    travel_to(max(h.round(first)["challengeEnd"], h.round(second)["challengeEnd"]))
    # round 1's leaves and proof cannot settle round 2
    batch = tree1.multiproof(tree1.leaves)
    with reverts_with("LeafRoundMismatch", second, first, model):
        tournament.settle(second, batch.leaf_values(), batch.proof_hex(), batch.proof_flags, {"from": h.keeper})
    h.settle(second, tree2)
    assert tournament.phase(first) == ACCEPTED and tournament.phase(second) == SETTLED
    h.settle(first, tree1)
    assert tournament.balanceOf(alice) == 10 * NMR_WEI + NMR_WEI // 5 + 20 * NMR_WEI - NMR_WEI // 5


# ------------------------------------------------------------------ refunds

def test_refund_when_oracle_never_posts(tournament, nmr, h, alice, bob, keeper):
    round_id, models = h.staked_round([(alice, 10 * NMR_WEI, 200, 0), (bob, 7 * NMR_WEI, 100, 0)])
    deadline = h.round(round_id)["resolveTime"] + SEED_PRESET["resultsTimeout"]
    h.to_resolve(round_id)
    with reverts_with("RefundNotAvailable", round_id, RESOLVABLE, 0):
        tournament.refund(round_id, models, {"from": keeper})
    travel_to(deadline)
    assert tournament.phase(round_id) == REFUNDING
    supply = nmr.totalSupply()
    tx = tournament.refund(round_id, [models[0]], {"from": keeper})
    assert tx.events["StakeRefunded"] == {"roundId": round_id, "modelId": models[0], "owner": alice,
                                          "amount": 10 * NMR_WEI}
    assert tournament.balanceOf(alice) == 10 * NMR_WEI
    # refunding twice skips; the rest closes the round, with nothing reserved, burned or paid
    tx = tournament.refund(round_id, models, {"from": keeper})
    assert [e["modelId"] for e in tx.events["StakeRefunded"]] == [models[1]]
    assert tx.events["RoundSettled"] == {"roundId": round_id, "rewards": 0, "burned": 0, "reserveReleased": 0}
    assert tournament.balanceOf(bob) == 7 * NMR_WEI and nmr.totalSupply() == supply
    assert tournament.phase(round_id) == SETTLED
    with reverts_with("RefundNotAvailable", round_id, SETTLED, 0):
        tournament.refund(round_id, models, {"from": keeper})


def test_refund_of_model_without_stake_reverts(tournament, h, alice, keeper):
    round_id, models = h.staked_round([(alice, NMR_WEI, 100, 0)])
    travel_to(h.round(round_id)["resolveTime"] + SEED_PRESET["resultsTimeout"])
    with reverts_with("NoStake", round_id, models[0] + 1):
        tournament.refund(round_id, [models[0], models[0] + 1], {"from": keeper})


def test_a_refund_already_due_works_while_paused(tournament, h, alice, guardian, keeper):
    round_id, models = h.staked_round([(alice, NMR_WEI, 100, 0)])
    travel_to(h.round(round_id)["resolveTime"] + SEED_PRESET["resultsTimeout"])
    tournament.pause({"from": guardian})
    tournament.refund(round_id, models, {"from": keeper})
    assert tournament.balanceOf(alice) == NMR_WEI
    tournament.withdraw(NMR_WEI, {"from": alice})


def test_a_pause_never_makes_a_refund_due(tournament, h, alice, guardian, keeper):
    """v2: resultsTimeout runs on the tournament clock, which stops while paused (v1 refunded here)."""
    round_id, models = h.staked_round([(alice, NMR_WEI, 100, 0)])
    tournament.pause({"from": guardian})
    travel_to(h.round(round_id)["resolveTime"] + SEED_PRESET["resultsTimeout"])
    with reverts_with("RefundNotAvailable", round_id, RESOLVABLE, 0):
        tournament.refund(round_id, models, {"from": keeper})


def test_refund_not_available_in_early_phases(tournament, h, alice, keeper):
    round_id, models = h.staked_round([(alice, NMR_WEI, 100, 0)])
    with reverts_with("RefundNotAvailable", round_id, 1, 0):
        tournament.refund(round_id, models, {"from": keeper})
    with reverts_with("RefundNotAvailable", 999, 0, 0):
        tournament.refund(999, models, {"from": keeper})
    h.to_resolve(round_id)
    _, tree = h.propose(round_id, {models[0]: (5, 0)})
    refundable_at = tournament.refundableAt(round_id)
    with reverts_with("RefundNotAvailable", round_id, PROPOSED, refundable_at):
        tournament.refund(round_id, models, {"from": keeper})


def test_refund_of_stake_left_unsettled_after_acceptance(tournament, nmr, h, alice, bob, carol, keeper):
    stakes = [(alice, 10 * NMR_WEI, 200, 0), (bob, 20 * NMR_WEI, 100, 0), (carol, 30 * NMR_WEI, 100, 0)]
    round_id, models, tree, proposed = _accepted(h, stakes, [(50_000_000, 0), (-50_000_000, 0), (0, 0)])
    reserve = proposed.events["ResultsProposed"]["reserve"]
    refundable_at = tournament.refundableAt(round_id)
    assert refundable_at == h.round(round_id)["challengeEnd"] + SEED_PRESET["settleTimeout"]
    h.settle(round_id, tree, [tree.leaf_for(models[0]), tree.leaf_for(models[1])])
    with reverts_with("RefundNotAvailable", round_id, ACCEPTED, refundable_at):
        tournament.refund(round_id, [models[2]], {"from": keeper})
    travel_to(refundable_at)
    supply = nmr.totalSupply()
    # settled stakes are skipped (no event, no second credit); the unsettled one comes back whole
    tx = tournament.refund(round_id, models, {"from": keeper})
    assert [e["modelId"] for e in tx.events["StakeRefunded"]] == [models[2]]
    assert tx.events["RoundSettled"] == {"roundId": round_id, "rewards": NMR_WEI, "burned": NMR_WEI,
                                         "reserveReleased": reserve - NMR_WEI}
    assert tournament.balanceOf(alice) == 11 * NMR_WEI and tournament.balanceOf(bob) == 19 * NMR_WEI
    assert tournament.balanceOf(carol) == 30 * NMR_WEI and nmr.totalSupply() == supply
    assert tournament.phase(round_id) == SETTLED


def test_settle_still_possible_after_settle_timeout(tournament, h, alice):
    round_id, _, tree, _ = _accepted(h, [(alice, 10 * NMR_WEI, 200, 0)], [(50_000_000, 0)])
    travel_to(tournament.refundableAt(round_id))
    h.settle(round_id, tree)
    assert tournament.balanceOf(alice) == 11 * NMR_WEI


def test_refunded_stake_is_skipped_by_settle(tournament, h, alice, bob, keeper):
    round_id, models, tree, _ = _accepted(h, [(alice, 10 * NMR_WEI, 200, 0), (bob, 10 * NMR_WEI, 200, 0)],
                                          [(50_000_000, 0), (50_000_000, 0)])
    travel_to(tournament.refundableAt(round_id))
    tournament.refund(round_id, [models[0]], {"from": keeper})
    (tx,) = h.settle(round_id, tree)
    assert [e["modelId"] for e in tx.events["StakeSettled"]] == [models[1]]
    assert tournament.balanceOf(alice) == 10 * NMR_WEI and tournament.balanceOf(bob) == 11 * NMR_WEI


def test_supply_only_falls_by_burns(tournament, nmr, h, alice, bob):
    round_id, _, tree, _ = _accepted(h, [(alice, 10 * NMR_WEI, 300, 0), (bob, 10 * NMR_WEI, 300, 0)],
                                     [(-100_000_000, 0), (-1_000, 0)])
    h.settle(round_id, tree)
    burned = h.round(round_id)["burned"]
    assert burned == 25 * NMR_WEI // 10 + 10 * NMR_WEI * 300_000 // 10**11
    assert nmr.totalSupply() == TOTAL_SUPPLY_WEI - burned
