"""Protocol v2, each test written as "the attack now fails": an INVALID whale can no longer dilute
the payout factor, inflate the reserve or block a proposal; SCORED stakes settled above the signed
scoredAtRisk revert; a pause delays outcomes and never changes them (challenge window, resultsTimeout
and settleTimeout run on the tournament clock); refunds already due and vetoes still work while
paused; upload receipts are checked by the contract's views; getStakes reads stakes in bulk.
The legacy mainnet NMR (burn via `mint`) and the ABI/interface check live in their own modules.
"""
from __future__ import annotations

from tournament_testlib import (
    ACCEPTED,
    CLOSED,
    DAY,
    NMR_WEI,
    PROPOSED,
    RECEIPT_ROLE,
    REFUNDING,
    RESOLVABLE,
    SEED_PRESET,
    SETTLED,
    ZERO_ADDRESS,
    now,
    reverts_with,
    submission_hash,
    travel_to,
)

from tournament.protocol.payout import SCORED, payout_factor_wei, settle_amounts
from tournament.protocol.results import ResultsTree
from tournament.protocol.signing import UploadReceipt, make_high_s, receipt_digest, sign_receipt

HONEST = [(100, 200), (40, 300), (10, 100)]  # (NMR, corr multiplier in hundredths)
HONEST_SCORES = [(25_000_000, 0), (-10_000_000, 0), (60_000_000, 0)]
WHALE_WEI = 95_000 * NMR_WEI  # above the 72,000 NMR stake threshold on its own


def _round_with(h, owners, whale_owner=None):
    stakes = [(owner, amount * NMR_WEI, mult, 0) for owner, (amount, mult) in zip(owners, HONEST)]
    if whale_owner is not None:
        stakes.append((whale_owner, WHALE_WEI, 300, 0))
    round_id, models = h.staked_round(stakes)
    h.to_resolve(round_id)
    scores = {m: s for m, s in zip(models, HONEST_SCORES)}
    if whale_owner is not None:
        scores[models[-1]] = None  # INVALID: the file was never uploaded
    return round_id, models, scores


def _settle_all(h, round_id, tree):
    return {e["modelId"]: (e["stake"], e["payout"], e["burned"])
            for tx in h.settle(round_id, tree) for e in tx.events["StakeSettled"]}


# ------------------------------------------------------------------ scoredAtRisk

def test_an_invalid_whale_leaves_pf_reserve_and_every_reward_unchanged(tournament, h, alice, bob, carol, dave):
    """v1: a 95,000 NMR stake behind a never-uploaded file cut pf to 72,000/95,150 and took a
    23,787 NMR reserve. v2: only SCORED stakes count, so the round pays exactly as without it."""
    without_id, without_models, without_scores = _round_with(h, [alice, bob, carol])
    _, without_tree = h.propose(without_id, without_scores)
    baseline = h.round(without_id)

    round_id, models, scores = _round_with(h, [alice, bob, carol], whale_owner=dave)
    tx, tree = h.propose(round_id, scores)
    event = tx.events["ResultsProposed"]
    honest_wei = sum(amount for amount, _ in HONEST) * NMR_WEI
    assert h.round(round_id)["totalAtRisk"] == honest_wei + WHALE_WEI
    assert event["scoredAtRisk"] == honest_wei == baseline["scoredAtRisk"]
    assert event["payoutFactor"] == baseline["payoutFactor"] == 10**18 == payout_factor_wei(honest_wei, 72_000 * NMR_WEI)
    assert event["reserve"] == baseline["reserve"] == honest_wei * 2500 // 10_000

    h.to_accepted(without_id)
    h.to_accepted(round_id)
    paid_without = _settle_all(h, without_id, without_tree)
    paid = _settle_all(h, round_id, tree)
    assert [paid[m][1:] for m in models[:3]] == [paid_without[m][1:] for m in without_models]
    assert paid[models[3]] == (WHALE_WEI, 0, 0)  # the whale gets its stake back, nothing else
    for m, (amount, mult), score in zip(models, HONEST, HONEST_SCORES):
        credit, burned, reward = settle_amounts(amount * NMR_WEI, SCORED, *score, mult, 0, 10**18, 2500)
        assert paid[m][1:] == (reward - burned, burned)
    assert tournament.phase(round_id) == SETTLED


def test_an_invalid_whale_cannot_block_the_proposal(tournament, h, admin, alice, bob, carol, dave):
    """v1 reserved totalAtRisk * clip: with the pool below the whale's 23,750 NMR the round could
    never be proposed and was refunded. v2 reserves only the SCORED stakes' clip (37.5 NMR)."""
    pool = tournament.rewardPool()
    tournament.withdrawRewards(pool - 1_000 * NMR_WEI, admin, {"from": admin})
    round_id, models, scores = _round_with(h, [alice, bob, carol], whale_owner=dave)
    assert WHALE_WEI * 2500 // 10_000 > tournament.rewardPool()
    tx, tree = h.propose(round_id, scores)
    assert tx.events["ResultsProposed"]["reserve"] == 150 * NMR_WEI * 2500 // 10_000
    assert tournament.phase(round_id) == PROPOSED


def test_settling_scored_stakes_above_the_signed_scored_at_risk_now_fails(tournament, h, alice, bob, carol, dave):
    """Signers claiming a small scoredAtRisk (a high pf, a small reserve) while the tree marks a
    whale SCORED: settlement refuses to settle more SCORED stake than was signed."""
    round_id, models, scores = _round_with(h, [alice, bob, carol], whale_owner=dave)
    scores[models[3]] = (1_000_000, 0)  # the whale SCORED in the tree...
    honest_wei = 150 * NMR_WEI
    tx, tree = h.propose(round_id, ResultsTree(h.leaves(round_id, scores), round_id),
                         scored_at_risk=honest_wei)  # ...but not in the signed scoredAtRisk
    assert tx.events["ResultsProposed"]["payoutFactor"] == 10**18
    h.to_accepted(round_id)
    honest_leaves = [tree.leaf_for(m) for m in models[:3]]
    h.settle(round_id, tree, honest_leaves)
    assert h.round(round_id)["scoredSettled"] == honest_wei
    with reverts_with("ScoredSettledAboveSigned", round_id, honest_wei + WHALE_WEI, honest_wei):
        h.settle(round_id, tree, [tree.leaf_for(models[3])])
    # the reverted batch closed nothing
    assert tournament.isStakeClosed(round_id, models[0]) and not tournament.isStakeClosed(round_id, models[3])
    # the whale's stake is not lost: it is refunded settleTimeout after acceptance
    travel_to(now() + tournament.refundableAt(round_id) - tournament.tournamentTime())
    refund = tournament.refund(round_id, [models[3]], {"from": h.keeper})
    assert refund.events["StakeRefunded"]["amount"] == WHALE_WEI
    assert tournament.phase(round_id) == SETTLED


def test_scored_at_risk_above_total_is_refused(tournament, h, alice, bob):
    round_id, models = h.staked_round([(alice, NMR_WEI, 100, 0), (bob, 2 * NMR_WEI, 100, 0)])
    h.to_resolve(round_id)
    tree = ResultsTree(h.leaves(round_id, {m: (1, 0) for m in models}), round_id)
    results = h.results(round_id, tree, scored_at_risk=3 * NMR_WEI + 1)
    with reverts_with("ScoredAtRiskAboveTotal", round_id, 3 * NMR_WEI + 1, 3 * NMR_WEI):
        tournament.proposeResults(results.as_tuple(), h.sign(results), {"from": h.operator})


def test_an_all_invalid_round_reserves_nothing_and_returns_every_stake(tournament, h, alice, bob):
    round_id, models = h.staked_round([(alice, 5 * NMR_WEI, 100, 0), (bob, 7 * NMR_WEI, 300, 0)])
    h.to_resolve(round_id)
    pool = tournament.rewardPool()
    tx, tree = h.propose(round_id, {m: None for m in models})
    assert tx.events["ResultsProposed"]["scoredAtRisk"] == 0 and tx.events["ResultsProposed"]["reserve"] == 0
    assert tournament.rewardPool() == pool
    h.to_accepted(round_id)
    paid = _settle_all(h, round_id, tree)
    assert paid == {models[0]: (5 * NMR_WEI, 0, 0), models[1]: (7 * NMR_WEI, 0, 0)}


# ------------------------------------------------------------------ the pause clock

def _accepted_round(h, alice, bob):
    round_id, models = h.staked_round([(alice, 50 * NMR_WEI, 300, 0), (bob, 10 * NMR_WEI, 200, 0)])
    h.to_resolve(round_id)
    scores = {models[0]: (-10_000_000, 0), models[1]: (25_000_000, 0)}  # the seed checks
    tx, tree = h.propose(round_id, scores)
    return round_id, models, tree, tx


def test_a_30_day_pause_after_acceptance_delays_settlement_and_never_refunds(tournament, nmr, h, admin, guardian,
                                                                             alice, bob, keeper):
    """v1: settleTimeout (14 days) ran during a pause, so a long pause turned accepted results
    into refunds: no burn, no reward. v2: the clock stops; settlement pays and burns as signed."""
    round_id, models, tree, _ = _accepted_round(h, alice, bob)
    h.to_accepted(round_id)
    assert tournament.phase(round_id) == ACCEPTED
    refundable = tournament.refundableAt(round_id)
    tournament.pause({"from": guardian})
    frozen = tournament.tournamentTime()
    travel_to(now() + 30 * DAY)
    assert tournament.tournamentTime() == frozen and tournament.phase(round_id) == ACCEPTED
    with reverts_with("RefundNotAvailable", round_id, ACCEPTED, refundable):
        tournament.refund(round_id, models, {"from": keeper})
    with reverts_with("EnforcedPause"):
        h.settle(round_id, tree)
    tournament.unpause({"from": admin})
    assert tournament.refundableAt(round_id) == refundable  # tournament time: unchanged by the pause
    assert tournament.tournamentTime() < refundable
    with reverts_with("RefundNotAvailable", round_id, ACCEPTED, refundable):
        tournament.refund(round_id, models, {"from": keeper})
    supply = nmr.totalSupply()
    paid = _settle_all(h, round_id, tree)
    assert paid[models[0]] == (50 * NMR_WEI, -3 * NMR_WEI // 2, 3 * NMR_WEI // 2)
    assert paid[models[1]] == (10 * NMR_WEI, NMR_WEI // 2, 0)
    assert nmr.totalSupply() == supply - 3 * NMR_WEI // 2
    assert tournament.phase(round_id) == SETTLED


def test_the_challenge_window_stands_still_while_paused_so_a_veto_stays_possible(tournament, h, admin, guardian,
                                                                               alice, bob):
    round_id, _, _, tx = _accepted_round(h, alice, bob)
    challenge_end = h.round(round_id)["challengeEnd"]
    travel_to(now() + DAY // 2)
    tournament.pause({"from": guardian})
    travel_to(now() + 10 * DAY)
    assert tournament.phase(round_id) == PROPOSED
    tournament.unpause({"from": admin})
    assert tournament.phase(round_id) == PROPOSED and h.round(round_id)["challengeEnd"] == challenge_end
    remaining = challenge_end - tournament.tournamentTime()
    assert 0 < remaining <= DAY // 2
    tournament.pause({"from": guardian})
    travel_to(now() + 3 * DAY)
    veto = tournament.veto(round_id, "found while paused", {"from": guardian})
    assert veto.events["ResultsVetoed"]["attempt"] == 0 and tournament.phase(round_id) == RESOLVABLE


def test_a_pause_past_results_timeout_does_not_make_a_waiting_round_refunding(tournament, h, admin, guardian,
                                                                             alice, bob, keeper):
    """v1: a guardian pause longer than resultsTimeout turned every waiting round into Refunding."""
    round_id, models = h.staked_round([(alice, NMR_WEI, 100, 0), (bob, 2 * NMR_WEI, 100, 0)])
    h.to_close(round_id)
    resolve_time = h.round(round_id)["resolveTime"]
    timeout = SEED_PRESET["resultsTimeout"]
    assert tournament.resultsDeadline(round_id) == resolve_time + timeout
    # a first pause spanning resolveTime: only its seconds after resolveTime delay the deadline
    travel_to(resolve_time - 3_600)
    tournament.pause({"from": guardian})
    start = now()
    travel_to(resolve_time + 2 * DAY)
    assert tournament.phase(round_id) == RESOLVABLE
    tournament.unpause({"from": admin})
    first_pause = now() - start
    after_resolve = now() - resolve_time
    # a second pause far past the wall-clock deadline
    travel_to(now() + 5 * DAY)
    tournament.pause({"from": guardian})
    start = now()
    travel_to(resolve_time + timeout + 20 * DAY)
    assert tournament.phase(round_id) == RESOLVABLE
    with reverts_with("RefundNotAvailable", round_id, RESOLVABLE, 0):
        tournament.refund(round_id, models, {"from": keeper})
    tournament.unpause({"from": admin})
    second_pause = now() - start
    assert tournament.phase(round_id) == RESOLVABLE
    deadline = tournament.resultsDeadline(round_id)
    assert deadline == resolve_time - (first_pause - after_resolve) + timeout
    assert tournament.tournamentTime() == now() - first_pause - second_pause
    # the results still go through after the pauses (simulated, so the round can be timed out below)...
    tree = ResultsTree(h.leaves(round_id, {m: (1_000, 0) for m in models}), round_id)
    results = h.results(round_id, tree)
    tournament.proposeResults.call(results.as_tuple(), h.sign(results), {"from": h.operator})
    # ...and without them, the round turns Refunding exactly when resultsTimeout unpaused seconds passed
    travel_to(now() + deadline - tournament.tournamentTime() - 2)
    assert tournament.phase(round_id) == RESOLVABLE
    travel_to(now() + deadline - tournament.tournamentTime())
    assert tournament.phase(round_id) == REFUNDING
    tournament.refund(round_id, models, {"from": keeper})


def test_refunds_already_due_still_work_while_paused(tournament, h, guardian, alice, bob, carol, keeper):
    # a Refunding round (no results in time)
    refunding, refunding_models = h.staked_round([(alice, NMR_WEI, 100, 0), (bob, NMR_WEI, 100, 0)])
    # an Accepted round whose settleTimeout has passed
    accepted, accepted_models, _, _ = _accepted_round(h, carol, bob)
    h.to_accepted(accepted)
    travel_to(now() + tournament.refundableAt(accepted) - tournament.tournamentTime())
    travel_to(max(now(), tournament.resultsDeadline(refunding)))
    assert tournament.phase(refunding) == REFUNDING
    tournament.pause({"from": guardian})
    travel_to(now() + DAY)
    first = tournament.refund(refunding, refunding_models, {"from": keeper})
    second = tournament.refund(accepted, accepted_models, {"from": keeper})
    assert len(first.events["StakeRefunded"]) == 2 and len(second.events["StakeRefunded"]) == 2
    assert tournament.phase(refunding) == SETTLED and tournament.phase(accepted) == SETTLED
    # withdrawing the refunds works while paused too
    tournament.withdraw(tournament.balanceOf(carol), {"from": carol})


def test_the_round_closes_and_resolves_on_the_wall_clock_even_while_paused(tournament, h, guardian, alice):
    round_id, _ = h.staked_round([(alice, NMR_WEI, 100, 0)])
    tournament.pause({"from": guardian})
    h.to_close(round_id)
    assert tournament.phase(round_id) == CLOSED
    h.to_resolve(round_id)
    assert tournament.phase(round_id) == RESOLVABLE


# ------------------------------------------------------------------ receipts and bulk reads

def test_receipt_digest_and_validity_match_the_python_mirror(tournament, h, admin, accounts):
    service = accounts.add()  # a fresh key the test holds
    key = service.private_key
    receipt = UploadReceipt(round_id=7, model_id=42, submission_hash=submission_hash("r"), received_at=now())
    assert tournament.receiptDigest(receipt.as_tuple()) == "0x" + receipt_digest(h.domain, receipt).hex()
    assert tournament.RECEIPT_ROLE() == "0x" + RECEIPT_ROLE.hex()
    signature = sign_receipt(key, h.domain, receipt)
    assert tuple(tournament.isValidReceipt(receipt.as_tuple(), signature)) == (False, service.address)
    tournament.grantRole(RECEIPT_ROLE, service.address, {"from": admin})
    assert tuple(tournament.isValidReceipt(receipt.as_tuple(), signature)) == (True, service.address)
    # a malleable twin, a short signature, another receipt: refused
    assert tuple(tournament.isValidReceipt(receipt.as_tuple(), make_high_s(signature))) == (False, ZERO_ADDRESS)
    assert tuple(tournament.isValidReceipt(receipt.as_tuple(), signature[:64])) == (False, ZERO_ADDRESS)
    other = UploadReceipt(7, 42, submission_hash("r"), receipt.received_at + 1)
    assert tournament.isValidReceipt(other.as_tuple(), signature)[0] is False
    tournament.revokeRole(RECEIPT_ROLE, service.address, {"from": admin})
    assert tournament.isValidReceipt(receipt.as_tuple(), signature)[0] is False


def test_get_stakes_reads_many_stakes_and_their_closed_flags(tournament, h, alice, bob):
    round_id, models = h.staked_round([(alice, NMR_WEI, 100, 0), (bob, 3 * NMR_WEI, 300, 0)])
    h.to_resolve(round_id)
    tx, tree = h.propose(round_id, {models[0]: (5, 0), models[1]: None})
    h.to_accepted(round_id)
    h.settle(round_id, tree, [tree.leaf_for(models[1])])
    ids = [models[1], 999_999, models[0]]
    positions, closed = tournament.getStakes(round_id, ids)
    assert [tuple(p) for p in positions] == [(3 * NMR_WEI, 300, 0), (0, 0, 0), (NMR_WEI, 100, 0)]
    assert list(closed) == [True, False, False]
    for model_id, position, flag in zip(ids, positions, closed):
        single, single_closed = tournament.getStake(round_id, model_id)
        assert tuple(single) == tuple(position) and single_closed == flag
    assert tournament.getStakes(round_id, []) == ((), ())
    big = list(range(1, 2_001))
    positions, closed = tournament.getStakes(round_id, big)
    assert len(positions) == 2_000 and sum(1 for p in positions if p[0]) == 2
