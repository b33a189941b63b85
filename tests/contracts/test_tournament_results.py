"""Proposing results and the guardian's veto: the happy path (reserve taken from the pool, payout
factor, challenge window), every refusal of proposeResults (phase, attempt, signer-set version,
leaf count, empty root, role, pause, reward pool) and every signature attack: below threshold,
duplicate signer, unsorted signers, non-signer, malleable s, bad length, wrong chain id, wrong
contract, an old attempt after a veto, an old signer set after rotation, another round's results.
Signatures come from tournament.protocol.signing, roots from tournament.protocol.results.
"""
from __future__ import annotations

import pytest
from brownie import chain
from tournament_testlib import (
    ACCEPTED,
    ARTIFACTS_HASH,
    CLOSED,
    DAY,
    GUARDIAN_ROLE,
    NMR_WEI,
    OPEN,
    OPERATOR_ROLE,
    PROPOSED,
    REFUNDING,
    RESOLVABLE,
    REWARD_POOL_WEI,
    SEED_PRESET,
    SIGNER_KEYS,
    now,
    reverts_with,
    travel_to,
)

from tournament.protocol.results import ResultsTree
from tournament.protocol.signing import Domain, make_high_s, recover_signer


@pytest.fixture
def resolvable(h, alice, bob):
    """A Resolvable round with two stakes (10 and 30 NMR) and its results tree."""
    round_id, models = h.staked_round([(alice, 10 * NMR_WEI, 200, 0), (bob, 30 * NMR_WEI, 100, 0)])
    h.to_resolve(round_id)
    tree = ResultsTree(h.leaves(round_id, {models[0]: (25_000_000, 0), models[1]: (-10_000_000, 0)}), round_id)
    return round_id, models, tree


def _propose_raw(h, results, signatures, sender=None):
    return h.t.proposeResults(h.results_tuple(results), signatures, {"from": sender or h.operator})


def test_propose_reserves_from_pool_and_starts_window(tournament, h, resolvable):
    round_id, models, tree = resolvable
    pool = tournament.rewardPool()
    tx, _ = h.propose(round_id, tree)
    reserve = 40 * NMR_WEI * 2500 // 10_000
    block_time = chain[tx.block_number].timestamp
    assert tx.events["ResultsProposed"] == {
        "roundId": round_id, "attempt": 0, "resultsRoot": "0x" + tree.root.hex(),
        "artifactsHash": "0x" + ARTIFACTS_HASH.hex(), "leafCount": 2, "scoredAtRisk": 40 * NMR_WEI,
        "payoutFactor": 10**18, "reserve": reserve, "challengeEnd": block_time + DAY, "signerSetVersion": 1}
    assert tournament.rewardPool() == pool - reserve
    r = h.round(round_id)
    assert r["reserve"] == reserve and r["resultsRoot"] == "0x" + tree.root.hex()
    assert r["payoutFactor"] == 10**18 and r["challengeEnd"] == block_time + DAY and r["leafCount"] == 2
    assert r["scoredAtRisk"] == 40 * NMR_WEI and r["scoredSettled"] == 0
    assert tournament.tournamentTime() == now()  # never paused: tournament time is wall time
    assert tournament.phase(round_id) == PROPOSED
    h.to_accepted(round_id)
    assert tournament.phase(round_id) == ACCEPTED
    assert tournament.refundableAt(round_id) == block_time + DAY + SEED_PRESET["settleTimeout"]


def test_results_digest_matches_oracle_signing(tournament, h, resolvable):
    from tournament.protocol.signing import results_digest
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    assert tournament.resultsDigest(h.results_tuple(results)) == "0x" + results_digest(h.domain, results).hex()
    for leaf in tree.leaves:
        assert tournament.leafHash(leaf.values()) == "0x" + tree.tree.leaf_hash(leaf.values()).hex()


def test_propose_with_all_signers_and_three_of_three(tournament, h, admin, resolvable):
    round_id, _, tree = resolvable
    tournament.setSigners([k.address for k in SIGNER_KEYS[:3]], 3, {"from": admin})
    results = h.results(round_id, tree)
    with reverts_with("NotEnoughSignatures", 2, 3):
        _propose_raw(h, results, h.sign(results, SIGNER_KEYS[:2]))
    _propose_raw(h, results, h.sign(results, SIGNER_KEYS[:3]))
    assert tournament.phase(round_id) == PROPOSED


def test_propose_in_wrong_phase_reverts(tournament, h, alice):
    round_id, models = h.staked_round([(alice, NMR_WEI, 100, 0)])
    tree = ResultsTree(h.leaves(round_id, {models[0]: (1, 0)}), round_id)
    results = h.results(round_id, tree)
    signatures = h.sign(results)
    with reverts_with("WrongPhase", round_id, RESOLVABLE, OPEN):
        _propose_raw(h, results, signatures)
    h.to_close(round_id)
    with reverts_with("WrongPhase", round_id, RESOLVABLE, CLOSED):
        _propose_raw(h, results, signatures)
    h.to_resolve(round_id)
    _propose_raw(h, results, signatures)
    with reverts_with("WrongPhase", round_id, RESOLVABLE, PROPOSED):
        _propose_raw(h, results, signatures)
    h.to_accepted(round_id)
    with reverts_with("WrongPhase", round_id, RESOLVABLE, ACCEPTED):
        _propose_raw(h, results, signatures)


def test_propose_unknown_round_reverts(h, resolvable):
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    from tournament.protocol.signing import Results
    other = Results(4242, 0, results.results_root, 2, 0, ARTIFACTS_HASH, 1)
    with reverts_with("UnknownRound", 4242):
        _propose_raw(h, other, h.sign(other))


def test_propose_after_results_timeout_reverts(tournament, h, resolvable):
    round_id, _, tree = resolvable
    travel_to(h.round(round_id)["resolveTime"] + SEED_PRESET["resultsTimeout"])
    results = h.results(round_id, tree)
    with reverts_with("WrongPhase", round_id, RESOLVABLE, REFUNDING):
        _propose_raw(h, results, h.sign(results))


def test_propose_field_checks(tournament, h, resolvable):
    round_id, _, tree = resolvable
    for overrides, error in [
        (dict(attempt=1), ("WrongAttempt", round_id, 0, 1)),
        (dict(version=2), ("StaleSignerSet", 1, 2)),
        (dict(version=0), ("StaleSignerSet", 1, 0)),
        (dict(leaf_count=3), ("LeafCountMismatch", round_id, 2, 3)),
        (dict(leaf_count=1), ("LeafCountMismatch", round_id, 2, 1)),
        (dict(scored_at_risk=40 * NMR_WEI + 1), ("ScoredAtRiskAboveTotal", round_id, 40 * NMR_WEI + 1, 40 * NMR_WEI)),
        (dict(scored_at_risk=2**128 - 1), ("ScoredAtRiskAboveTotal", round_id, 2**128 - 1, 40 * NMR_WEI)),
    ]:
        results = h.results(round_id, tree, **overrides)
        with reverts_with(*error):
            _propose_raw(h, results, h.sign(results))
    from tournament.protocol.signing import Results
    empty = Results(round_id, 0, b"\x00" * 32, 2, 40 * NMR_WEI, ARTIFACTS_HASH, 1)
    with reverts_with("EmptyResultsRoot"):
        _propose_raw(h, empty, h.sign(empty))


def test_propose_only_operator(h, resolvable, outsider, guardian):
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    for account in (outsider, guardian):
        with reverts_with("AccessControlUnauthorizedAccount", account, OPERATOR_ROLE):
            _propose_raw(h, results, h.sign(results), sender=account)


def test_propose_while_paused_reverts(tournament, h, resolvable, guardian):
    round_id, _, tree = resolvable
    tournament.pause({"from": guardian})
    results = h.results(round_id, tree)
    with reverts_with("EnforcedPause"):
        _propose_raw(h, results, h.sign(results))


def test_propose_fails_while_pool_cannot_cover_reserve(tournament, h, alice, bob, carol, treasury):
    stakes = [(p, 100_000 * NMR_WEI, 100, 0) for p in (alice, bob, carol)]
    round_id, models = h.staked_round(stakes)
    h.to_resolve(round_id)
    tree = ResultsTree(h.leaves(round_id, {m: (0, 0) for m in models}), round_id)
    needed = 300_000 * NMR_WEI * 2500 // 10_000
    pool = tournament.rewardPool()
    assert pool == REWARD_POOL_WEI < needed
    results = h.results(round_id, tree)
    with reverts_with("InsufficientRewardPool", needed, pool):
        _propose_raw(h, results, h.sign(results))
    tournament.fundRewards(needed - pool - 1, {"from": treasury})
    with reverts_with("InsufficientRewardPool", needed, needed - 1):
        _propose_raw(h, results, h.sign(results))
    tournament.fundRewards(1, {"from": treasury})
    _propose_raw(h, results, h.sign(results))
    assert tournament.rewardPool() == 0


# ------------------------------------------------------------------ signatures

def test_signatures_below_threshold_rejected(h, resolvable):
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    with reverts_with("NotEnoughSignatures", 1, 2):
        _propose_raw(h, results, h.sign(results, SIGNER_KEYS[:1]))
    with reverts_with("NotEnoughSignatures", 0, 2):
        _propose_raw(h, results, [])


def test_duplicate_signer_rejected(h, resolvable):
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    signature = h.sign(results, SIGNER_KEYS[:1])[0]
    with reverts_with("DuplicateSigner", 1, SIGNER_KEYS[0].address):
        _propose_raw(h, results, [signature, signature])


def test_unsorted_signers_rejected(h, resolvable):
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    low, high = h.sign(results, SIGNER_KEYS[:2])
    with reverts_with("SignersNotAscending", 1, SIGNER_KEYS[0].address, SIGNER_KEYS[1].address):
        _propose_raw(h, results, [high, low])


def test_non_signer_rejected(h, resolvable):
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    # SIGNER_KEYS[3:] are not in the set (2 of SIGNER_KEYS[:3]); sorted, so the order check passes
    signatures = h.sign(results, [SIGNER_KEYS[0], SIGNER_KEYS[3]])
    with reverts_with("NotASigner", 1, SIGNER_KEYS[3].address):
        _propose_raw(h, results, signatures)


def test_extra_signature_by_non_signer_rejects_the_set(h, resolvable):
    """Two valid signatures meet the threshold, but every signature must come from a current signer."""
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    signatures = h.sign(results, [SIGNER_KEYS[0], SIGNER_KEYS[1], SIGNER_KEYS[4]])
    with reverts_with("NotASigner", 2, SIGNER_KEYS[4].address):
        _propose_raw(h, results, signatures)


def test_malleable_signature_rejected(h, resolvable):
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    first, second = h.sign(results)
    with reverts_with("InvalidSignature", 1):
        _propose_raw(h, results, [first, make_high_s(second)])
    with reverts_with("InvalidSignature", 0):
        _propose_raw(h, results, [make_high_s(first), second])


def test_bad_signature_bytes_rejected(h, resolvable):
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    first, second = h.sign(results)
    with reverts_with("InvalidSignature", 1):
        _propose_raw(h, results, [first, second[:64]])
    with reverts_with("InvalidSignature", 1):
        _propose_raw(h, results, [first, second + b"\x00"])
    with reverts_with("InvalidSignature", 1):
        _propose_raw(h, results, [first, second[:64] + bytes([29])])


def _wrong_domain_attempt(h, results, domain):
    signatures = h.sign(results, domain=domain)
    # Signed for another domain, the signatures recover to unrelated addresses here.
    recovered = sorted((recover_signer(h.domain, results, s), s) for s in signatures)
    recovered.sort(key=lambda pair: int(pair[0], 16))
    return [s for _, s in recovered], recovered[0][0]


def test_wrong_chain_id_rejected(h, resolvable):
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    signatures, first = _wrong_domain_attempt(h, results, Domain(chain_id=1, verifying_contract=h.t.address))
    with reverts_with("NotASigner", 0, first):
        _propose_raw(h, results, signatures)


def test_wrong_contract_rejected(h, resolvable, nmr):
    round_id, _, tree = resolvable
    results = h.results(round_id, tree)
    signatures, first = _wrong_domain_attempt(h, results, Domain(chain_id=chain.id, verifying_contract=nmr.address))
    with reverts_with("NotASigner", 0, first):
        _propose_raw(h, results, signatures)


def test_another_rounds_results_rejected(tournament, h, alice, resolvable):
    round_id, models, tree = resolvable
    # a second round, also Resolvable, with the same number of stakes
    other_round, other_models = h.staked_round([(alice, NMR_WEI, 100, 0), (alice, NMR_WEI, 100, 0)])
    h.to_resolve(other_round)
    other_tree = ResultsTree(h.leaves(other_round, {m: (5, 0) for m in other_models}), other_round)
    signed_for_other = h.results(other_round, other_tree)
    other_signatures = h.sign(signed_for_other)
    # the other round's signatures on this round's struct (its root included): recover to strangers
    from tournament.protocol.signing import Results
    replay = Results(round_id, 0, other_tree.root, 2, signed_for_other.scored_at_risk, ARTIFACTS_HASH, 1)
    first = min((recover_signer(h.domain, replay, s) for s in other_signatures), key=lambda a: int(a, 16))
    ordered = sorted(other_signatures, key=lambda s: int(recover_signer(h.domain, replay, s), 16))
    with reverts_with("NotASigner", 0, first):
        _propose_raw(h, replay, ordered)
    # and this round's own signed results still go through
    h.propose(round_id, tree)


def test_old_attempt_after_veto_rejected(tournament, h, guardian, resolvable):
    round_id, _, tree = resolvable
    vetoed = h.results(round_id, tree)
    vetoed_signatures = h.sign(vetoed)
    _propose_raw(h, vetoed, vetoed_signatures)
    tournament.veto(round_id, "wrong targets", {"from": guardian})
    with reverts_with("WrongAttempt", round_id, 1, 0):
        _propose_raw(h, vetoed, vetoed_signatures)
    # the vetoed signatures on the new attempt's struct recover to strangers
    from tournament.protocol.signing import Results
    bumped = Results(round_id, 1, tree.root, 2, vetoed.scored_at_risk, ARTIFACTS_HASH, 1)
    first = min((recover_signer(h.domain, bumped, s) for s in vetoed_signatures), key=lambda a: int(a, 16))
    ordered = sorted(vetoed_signatures, key=lambda s: int(recover_signer(h.domain, bumped, s), 16))
    with reverts_with("NotASigner", 0, first):
        _propose_raw(h, bumped, ordered)
    tx, _ = h.propose(round_id, tree)
    assert tx.events["ResultsProposed"]["attempt"] == 1


def test_old_signer_set_after_rotation_rejected(tournament, h, admin, resolvable):
    round_id, _, tree = resolvable
    old = h.results(round_id, tree)
    old_signatures = h.sign(old)
    tournament.setSigners([k.address for k in SIGNER_KEYS[3:6]], 2, {"from": admin})
    with reverts_with("StaleSignerSet", 2, 1):
        _propose_raw(h, old, old_signatures)
    # old signers signing the new version are no longer signers
    current = h.results(round_id, tree)
    with reverts_with("NotASigner", 0, SIGNER_KEYS[0].address):
        _propose_raw(h, current, h.sign(current, SIGNER_KEYS[:2]))
    _propose_raw(h, current, h.sign(current, SIGNER_KEYS[3:5]))
    assert tournament.phase(round_id) == PROPOSED


def test_rotation_back_to_an_old_member_needs_the_new_version(tournament, h, admin, resolvable):
    round_id, _, tree = resolvable
    tournament.setSigners([k.address for k in SIGNER_KEYS[3:6]], 2, {"from": admin})
    tournament.setSigners([k.address for k in SIGNER_KEYS[:3]], 2, {"from": admin})
    results = h.results(round_id, tree)
    assert results.signer_set_version == 3
    _propose_raw(h, results, h.sign(results, SIGNER_KEYS[:2]))


# ------------------------------------------------------------------ veto

def test_veto_returns_reserve_and_bumps_attempt(tournament, h, guardian, resolvable):
    round_id, _, tree = resolvable
    pool = tournament.rewardPool()
    h.propose(round_id, tree)
    tx = tournament.veto(round_id, "targets were wrong", {"from": guardian})
    assert tx.events["ResultsVetoed"] == {"roundId": round_id, "attempt": 0, "guardian": guardian,
                                          "reason": "targets were wrong"}
    assert tournament.rewardPool() == pool
    r = h.round(round_id)
    assert r["attempt"] == 1 and r["reserve"] == 0 and r["challengeEnd"] == 0
    assert r["resultsRoot"] == "0x" + "00" * 32 and r["payoutFactor"] == 0 and r["leafCount"] == 0
    assert tournament.phase(round_id) == RESOLVABLE
    assert tournament.refundableAt(round_id) == 0


def test_veto_only_guardian(h, resolvable, operator, admin):
    round_id, _, tree = resolvable
    h.propose(round_id, tree)
    for account in (operator, admin):
        with reverts_with("AccessControlUnauthorizedAccount", account, GUARDIAN_ROLE):
            h.t.veto(round_id, "no", {"from": account})


def test_veto_outside_window_reverts(tournament, h, guardian, resolvable):
    round_id, _, tree = resolvable
    with reverts_with("WrongPhase", round_id, PROPOSED, RESOLVABLE):
        tournament.veto(round_id, "early", {"from": guardian})
    with reverts_with("UnknownRound", 31337):
        tournament.veto(31337, "none", {"from": guardian})
    h.propose(round_id, tree)
    h.to_accepted(round_id)
    with reverts_with("WrongPhase", round_id, PROPOSED, ACCEPTED):
        tournament.veto(round_id, "late", {"from": guardian})


def test_veto_works_while_paused(tournament, h, guardian, resolvable):
    round_id, _, tree = resolvable
    h.propose(round_id, tree)
    tournament.pause({"from": guardian})
    tournament.veto(round_id, "paused", {"from": guardian})
    assert tournament.phase(round_id) == RESOLVABLE


def test_veto_after_results_timeout_leads_to_refunding(tournament, h, guardian, resolvable):
    round_id, _, tree = resolvable
    travel_to(h.round(round_id)["resolveTime"] + SEED_PRESET["resultsTimeout"] - 3600)
    h.propose(round_id, tree)
    travel_to(now() + 7200)
    assert tournament.phase(round_id) == PROPOSED
    tournament.veto(round_id, "late and wrong", {"from": guardian})
    assert tournament.phase(round_id) == REFUNDING


def test_an_operator_cannot_change_the_signed_scored_at_risk(tournament, h, resolvable):
    """scoredAtRisk is part of the signed struct: a lower one (a higher pf) needs new signatures."""
    from dataclasses import replace
    round_id, _, tree = resolvable
    signed = h.results(round_id, tree)
    signatures = h.sign(signed)
    lowered = replace(signed, scored_at_risk=signed.scored_at_risk // 2)
    first = min((recover_signer(h.domain, lowered, s) for s in signatures), key=lambda a: int(a, 16))
    ordered = sorted(signatures, key=lambda s: int(recover_signer(h.domain, lowered, s), 16))
    with reverts_with("NotASigner", 0, first):
        _propose_raw(h, lowered, ordered)
    _propose_raw(h, signed, signatures)
    assert h.round(round_id)["scoredAtRisk"] == signed.scored_at_risk


def test_veto_clears_the_scored_at_risk(tournament, h, guardian, resolvable):
    round_id, _, tree = resolvable
    h.propose(round_id, tree)
    tournament.veto(round_id, "wrong", {"from": guardian})
    r = h.round(round_id)
    assert r["scoredAtRisk"] == 0 and r["payoutFactor"] == 0 and r["reserve"] == 0
