"""Stakes: stake (first stake, top-up, replacing multipliers and the commitment) and unstake
while a round is Open, and every refusal: unknown round or model, not the owner, multipliers
outside the round's bounds, empty commitment, below minStake, insufficient balance or stake,
after close (a stake never changes after its round's close), and pause (blocks stake only).
"""
from __future__ import annotations

from tournament_testlib import NMR_WEI, SEED_PRESET, TX_TIME, ZERO_BYTES32, reverts_with, submission_hash

MIN_STAKE = SEED_PRESET["minStake"]


def _setup(h, tournament, owner, deposit_wei=100 * NMR_WEI):
    round_id = h.open_round()
    model = h.create_model(owner)
    tournament.deposit(deposit_wei, {"from": owner})
    return round_id, model


def test_first_stake_and_top_up(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    tx = tournament.stake(round_id, model, 10 * NMR_WEI, 200, 0, submission_hash("v1"), {"from": alice})
    assert tx.events["StakeChanged"] == {"roundId": round_id, "modelId": model, "owner": alice,
                                         "total": 10 * NMR_WEI, "corrMult": 200, "mmcMult": 0,
                                         "submissionHash": "0x" + submission_hash("v1").hex()}
    assert tournament.balanceOf(alice) == 90 * NMR_WEI
    position, closed = tournament.getStake(round_id, model)
    assert list(position) == [10 * NMR_WEI, 200, 0] and not closed
    r = h.round(round_id)
    assert r["stakedCount"] == 1 and r["totalAtRisk"] == 10 * NMR_WEI
    # top-up replaces the multipliers and the commitment, the count stays
    tx = tournament.stake(round_id, model, 5 * NMR_WEI, 300, 0, submission_hash("v2"), {"from": alice})
    assert tx.events["StakeChanged"]["total"] == 15 * NMR_WEI
    assert tx.events["StakeChanged"]["submissionHash"] == "0x" + submission_hash("v2").hex()
    assert list(tournament.getStake(round_id, model)[0]) == [15 * NMR_WEI, 300, 0]
    r = h.round(round_id)
    assert r["stakedCount"] == 1 and r["totalAtRisk"] == 15 * NMR_WEI
    assert tournament.balanceOf(alice) == 85 * NMR_WEI


def test_zero_amount_restake_changes_only_multipliers_and_hash(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    tournament.stake(round_id, model, NMR_WEI, 200, 0, submission_hash("v1"), {"from": alice})
    tx = tournament.stake(round_id, model, 0, 50, 0, submission_hash("v2"), {"from": alice})
    assert tx.events["StakeChanged"]["total"] == NMR_WEI
    assert list(tournament.getStake(round_id, model)[0]) == [NMR_WEI, 50, 0]
    assert tournament.balanceOf(alice) == 99 * NMR_WEI


def test_many_models_of_one_owner_and_of_many_owners(tournament, h, alice, bob):
    round_id = h.open_round()
    models = [h.create_model(alice), h.create_model(alice), h.create_model(bob)]
    tournament.deposit(10 * NMR_WEI, {"from": alice})
    tournament.deposit(10 * NMR_WEI, {"from": bob})
    for model, owner in zip(models, (alice, alice, bob)):
        tournament.stake(round_id, model, 2 * NMR_WEI, 100, 0, submission_hash(str(model)), {"from": owner})
    r = h.round(round_id)
    assert r["stakedCount"] == 3 and r["totalAtRisk"] == 6 * NMR_WEI
    assert tournament.balanceOf(alice) == 6 * NMR_WEI and tournament.balanceOf(bob) == 8 * NMR_WEI


def test_stake_on_unknown_round_reverts(tournament, h, alice):
    _, model = _setup(h, tournament, alice)
    with reverts_with("UnknownRound", 777):
        tournament.stake(777, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})


def test_stake_on_unknown_model_reverts(tournament, h, alice):
    round_id, _ = _setup(h, tournament, alice)
    with reverts_with("UnknownModel", 99):
        tournament.stake(round_id, 99, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})


def test_stake_on_another_owners_model_reverts(tournament, h, alice, bob):
    round_id, model = _setup(h, tournament, alice)
    tournament.deposit(10 * NMR_WEI, {"from": bob})
    with reverts_with("NotModelOwner", model, alice, bob):
        tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": bob})


def test_stake_multipliers_out_of_bounds_revert(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    with reverts_with("MultiplierOutOfBounds", "corr", 49, 50, 300):
        tournament.stake(round_id, model, NMR_WEI, 49, 0, submission_hash("x"), {"from": alice})
    with reverts_with("MultiplierOutOfBounds", "corr", 301, 50, 300):
        tournament.stake(round_id, model, NMR_WEI, 301, 0, submission_hash("x"), {"from": alice})
    with reverts_with("MultiplierOutOfBounds", "mmc", 1, 0, 0):
        tournament.stake(round_id, model, NMR_WEI, 100, 1, submission_hash("x"), {"from": alice})
    tournament.stake(round_id, model, NMR_WEI, 50, 0, submission_hash("x"), {"from": alice})
    tournament.stake(round_id, model, NMR_WEI, 300, 0, submission_hash("x"), {"from": alice})


def test_stake_with_empty_commitment_reverts(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    with reverts_with("EmptySubmissionHash"):
        tournament.stake(round_id, model, NMR_WEI, 100, 0, ZERO_BYTES32, {"from": alice})


def test_stake_below_min_stake_reverts(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    with reverts_with("StakeBelowMinimum", MIN_STAKE - 1, MIN_STAKE):
        tournament.stake(round_id, model, MIN_STAKE - 1, 100, 0, submission_hash("x"), {"from": alice})
    with reverts_with("StakeBelowMinimum", 0, MIN_STAKE):
        tournament.stake(round_id, model, 0, 100, 0, submission_hash("x"), {"from": alice})
    tournament.stake(round_id, model, MIN_STAKE, 100, 0, submission_hash("x"), {"from": alice})
    assert tournament.getStake(round_id, model)[0][0] == MIN_STAKE


def test_stake_beyond_wallet_balance_reverts(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice, deposit_wei=3 * NMR_WEI)
    with reverts_with("InsufficientBalance", alice, 3 * NMR_WEI, 3 * NMR_WEI + 1):
        tournament.stake(round_id, model, 3 * NMR_WEI + 1, 100, 0, submission_hash("x"), {"from": alice})


def test_stake_after_close_reverts(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})
    close_time = h.round(round_id)["closeTime"]
    h.to_close(round_id)
    with reverts_with("RoundNotOpen", round_id, close_time, TX_TIME):
        tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})
    with reverts_with("RoundNotOpen", round_id, close_time, TX_TIME):
        tournament.stake(round_id, model, 0, 200, 0, submission_hash("y"), {"from": alice})
    assert list(tournament.getStake(round_id, model)[0]) == [NMR_WEI, 100, 0]


def test_stake_while_paused_reverts(tournament, h, alice, guardian):
    round_id, model = _setup(h, tournament, alice)
    tournament.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})


def test_partial_unstake(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    tournament.stake(round_id, model, 10 * NMR_WEI, 200, 0, submission_hash("x"), {"from": alice})
    tx = tournament.unstake(round_id, model, 4 * NMR_WEI, {"from": alice})
    # the commitment is unchanged, so the event carries a zero hash
    assert tx.events["StakeChanged"] == {"roundId": round_id, "modelId": model, "owner": alice,
                                         "total": 6 * NMR_WEI, "corrMult": 200, "mmcMult": 0,
                                         "submissionHash": "0x" + "00" * 32}
    assert tournament.balanceOf(alice) == 94 * NMR_WEI
    r = h.round(round_id)
    assert r["stakedCount"] == 1 and r["totalAtRisk"] == 6 * NMR_WEI


def test_full_unstake_removes_the_stake(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    tournament.stake(round_id, model, 10 * NMR_WEI, 200, 0, submission_hash("x"), {"from": alice})
    tx = tournament.unstake(round_id, model, 10 * NMR_WEI, {"from": alice})
    assert tx.events["StakeChanged"]["total"] == 0
    assert list(tournament.getStake(round_id, model)[0]) == [0, 0, 0]
    r = h.round(round_id)
    assert r["stakedCount"] == 0 and r["totalAtRisk"] == 0
    assert tournament.balanceOf(alice) == 100 * NMR_WEI
    # staking again counts the model again
    tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})
    assert h.round(round_id)["stakedCount"] == 1


def test_unstake_zero_reverts(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})
    with reverts_with("ZeroAmount"):
        tournament.unstake(round_id, model, 0, {"from": alice})


def test_unstake_more_than_staked_reverts(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    with reverts_with("InsufficientStake", 0, 1):
        tournament.unstake(round_id, model, 1, {"from": alice})
    tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})
    with reverts_with("InsufficientStake", NMR_WEI, NMR_WEI + 1):
        tournament.unstake(round_id, model, NMR_WEI + 1, {"from": alice})


def test_unstake_leaving_dust_reverts(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})
    with reverts_with("StakeBelowMinimum", MIN_STAKE - 1, MIN_STAKE):
        tournament.unstake(round_id, model, NMR_WEI - MIN_STAKE + 1, {"from": alice})
    tournament.unstake(round_id, model, NMR_WEI - MIN_STAKE, {"from": alice})


def test_unstake_identity_checks(tournament, h, alice, bob):
    round_id, model = _setup(h, tournament, alice)
    tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})
    with reverts_with("NotModelOwner", model, alice, bob):
        tournament.unstake(round_id, model, NMR_WEI, {"from": bob})
    with reverts_with("UnknownModel", 55):
        tournament.unstake(round_id, 55, NMR_WEI, {"from": alice})
    with reverts_with("UnknownRound", 555):
        tournament.unstake(555, model, NMR_WEI, {"from": alice})


def test_unstake_after_close_reverts(tournament, h, alice):
    round_id, model = _setup(h, tournament, alice)
    tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})
    h.to_close(round_id)
    with reverts_with("RoundNotOpen", round_id, h.round(round_id)["closeTime"], TX_TIME):
        tournament.unstake(round_id, model, NMR_WEI, {"from": alice})


def test_unstake_works_while_paused(tournament, h, alice, guardian):
    round_id, model = _setup(h, tournament, alice)
    tournament.stake(round_id, model, NMR_WEI, 100, 0, submission_hash("x"), {"from": alice})
    tournament.pause({"from": guardian})
    tournament.unstake(round_id, model, NMR_WEI, {"from": alice})
    assert tournament.balanceOf(alice) == 100 * NMR_WEI


def test_stakes_in_overlapping_rounds_are_independent(tournament, h, alice):
    first = h.open_round()
    second = h.open_round()
    model = h.create_model(alice)
    tournament.deposit(10 * NMR_WEI, {"from": alice})
    tournament.stake(first, model, 3 * NMR_WEI, 100, 0, submission_hash("1"), {"from": alice})
    tournament.stake(second, model, 4 * NMR_WEI, 200, 0, submission_hash("2"), {"from": alice})
    tournament.unstake(first, model, 3 * NMR_WEI, {"from": alice})
    assert list(tournament.getStake(second, model)[0]) == [4 * NMR_WEI, 200, 0]
    assert h.round(first)["totalAtRisk"] == 0 and h.round(second)["totalAtRisk"] == 4 * NMR_WEI
