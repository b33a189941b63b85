"""Models, rounds and administration: createModel, openRound (v2: first id bounded, then last + 1;
bounded times; live ids committed;
configuration snapshot), setConfig bounds and presets, the derived phases, roles, pause and
unpause (what pause blocks and what it never blocks), and setSigners.
"""
from __future__ import annotations

import pytest
from brownie import web3
from tournament_testlib import (
    CLOSED,
    DAY,
    DEFAULT_ADMIN_ROLE,
    GUARDIAN_ROLE,
    MAX_FIRST_ROUND_ID,
    MAX_PERIOD,
    NMR_WEI,
    NONE,
    OPEN,
    OPERATOR_ROLE,
    PRESET_2024,
    REFUNDING,
    RESOLVABLE,
    SEED_PRESET,
    SETTLED,
    SIGNER_KEYS,
    TX_TIME,
    ZERO_ADDRESS,
    config_tuple,
    live_ids_hash,
    now,
    reverts_with,
    submission_hash,
    travel_to,
)

# ------------------------------------------------------------------ models

def test_create_model_gives_sequential_ids_to_the_caller(tournament, alice, bob):
    tx1 = tournament.createModel("alpha", {"from": alice})
    tx2 = tournament.createModel("beta", {"from": bob})
    tx3 = tournament.createModel("gamma", {"from": alice})
    assert [tx1.return_value, tx2.return_value, tx3.return_value] == [1, 2, 3]
    assert tx1.events["ModelCreated"] == {"modelId": 1, "owner": alice, "name": "alpha"}
    assert tournament.modelOwner(1) == alice and tournament.modelOwner(2) == bob
    assert tournament.modelCountOf(alice) == 2 and tournament.modelCountOf(bob) == 1
    assert tournament.lastModelId() == 3
    assert tournament.modelOwner(4) == ZERO_ADDRESS


def test_create_model_name_bounds(tournament, alice):
    with reverts_with("InvalidModelName", 0, 64):
        tournament.createModel("", {"from": alice})
    with reverts_with("InvalidModelName", 65, 64):
        tournament.createModel("x" * 65, {"from": alice})
    assert tournament.createModel("x" * 64, {"from": alice}).return_value == 1


def test_create_model_while_paused_reverts(tournament, guardian, alice):
    tournament.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        tournament.createModel("alpha", {"from": alice})


# ------------------------------------------------------------------ rounds

LIVE = live_ids_hash(0)


def test_open_round_snapshots_config_and_commits_the_live_ids(tournament, operator):
    close_time = now() + 7 * DAY
    tx = tournament.openRound(5, close_time, close_time + 28 * DAY, live_ids_hash(5), {"from": operator})
    event = tx.events["RoundOpened"]
    assert event["roundId"] == 5 and event["closeTime"] == close_time
    assert event["resolveTime"] == close_time + 28 * DAY
    assert event["liveIdsHash"] == "0x" + live_ids_hash(5).hex()
    assert list(event["config"]) == list(config_tuple())
    r = tournament.getRound(5)
    assert r[0] == close_time and r[1] == close_time + 28 * DAY and list(r[15]) == list(config_tuple())
    assert r[16] == 0 and r[17] == 0 and r[18] == "0x" + live_ids_hash(5).hex()
    assert tournament.lastRoundId() == 5
    assert tournament.phase(5) == OPEN


def test_a_far_first_round_id_now_fails(tournament, operator):
    """v1 took any increasing id: one huge id (2**256 - 1) ended the tournament for good."""
    close_time = now() + DAY
    for bad in (0, MAX_FIRST_ROUND_ID + 1, 2**256 - 1):
        with reverts_with("InvalidFirstRoundId", bad, 1, MAX_FIRST_ROUND_ID):
            tournament.openRound(bad, close_time, close_time + DAY, LIVE, {"from": operator})
    tournament.openRound(MAX_FIRST_ROUND_ID, close_time, close_time + DAY, LIVE, {"from": operator})
    assert tournament.lastRoundId() == MAX_FIRST_ROUND_ID


def test_a_round_id_gap_now_fails_every_later_id_is_last_plus_one(tournament, operator):
    close_time = now() + DAY
    tournament.openRound(10, close_time, close_time + DAY, LIVE, {"from": operator})
    for bad in (10, 9, 0, 12, 2**255):
        with reverts_with("InvalidRoundId", bad, 11):
            tournament.openRound(bad, close_time, close_time + DAY, LIVE, {"from": operator})
    tournament.openRound(11, close_time, close_time + DAY, LIVE, {"from": operator})
    with reverts_with("InvalidRoundId", 13, 12):
        tournament.openRound(13, close_time, close_time + DAY, LIVE, {"from": operator})


def test_an_empty_live_ids_hash_is_refused(tournament, operator):
    close_time = now() + DAY
    with reverts_with("EmptyLiveIdsHash"):
        tournament.openRound(1, close_time, close_time + DAY, b"\x00" * 32, {"from": operator})


def test_open_round_time_checks(tournament, operator):
    delay = SEED_PRESET["minResolutionDelay"]
    past = now() - 10
    with reverts_with("InvalidRoundTimes", past, past + delay, TX_TIME, delay, MAX_PERIOD):
        tournament.openRound(1, past, past + delay, LIVE, {"from": operator})
    close_time = now() + DAY
    with reverts_with("InvalidRoundTimes", close_time, close_time + delay - 1, TX_TIME, delay, MAX_PERIOD):
        tournament.openRound(1, close_time, close_time + delay - 1, LIVE, {"from": operator})
    tournament.openRound(1, close_time, close_time + delay, LIVE, {"from": operator})


def test_a_far_close_or_resolve_time_now_fails(tournament, operator):
    """v1 took any future time: a round closing in 2**63 seconds locked its stakes for ever."""
    delay = SEED_PRESET["minResolutionDelay"]
    block_time = now() + 50
    web3.provider.make_request("evm_setNextBlockTimestamp", [block_time])
    far_close = block_time + MAX_PERIOD + 1
    with reverts_with("InvalidRoundTimes", far_close, far_close + delay, block_time, delay, MAX_PERIOD):
        tournament.openRound(1, far_close, far_close + delay, LIVE, {"from": operator})
    web3.provider.make_request("evm_setNextBlockTimestamp", [block_time + 1])
    close_time = block_time + DAY
    with reverts_with("InvalidRoundTimes", close_time, close_time + MAX_PERIOD + 1, block_time + 1, delay,
                      MAX_PERIOD):
        tournament.openRound(1, close_time, close_time + MAX_PERIOD + 1, LIVE, {"from": operator})
    with reverts_with("InvalidRoundTimes", 2**64 - 1, 2**64 - 1, TX_TIME, delay, MAX_PERIOD):
        tournament.openRound(1, 2**64 - 1, 2**64 - 1, LIVE, {"from": operator})
    # the edges themselves are accepted
    web3.provider.make_request("evm_setNextBlockTimestamp", [block_time + 10])
    edge_close = block_time + 10 + MAX_PERIOD
    tournament.openRound(1, edge_close, edge_close + MAX_PERIOD, LIVE, {"from": operator})
    assert tournament.getRound(1)[1] == edge_close + MAX_PERIOD


def test_open_round_close_time_must_be_in_the_future(tournament, operator):
    # closeTime equal to the transaction's own block time is not in the future
    block_time = now() + 50
    web3.provider.make_request("evm_setNextBlockTimestamp", [block_time])
    delay = SEED_PRESET["minResolutionDelay"]
    with reverts_with("InvalidRoundTimes", block_time, block_time + delay, block_time, delay, MAX_PERIOD):
        tournament.openRound(1, block_time, block_time + delay, LIVE, {"from": operator})
    web3.provider.make_request("evm_setNextBlockTimestamp", [block_time + 10])
    tournament.openRound(1, block_time + 11, block_time + 11 + delay, LIVE, {"from": operator})


def test_open_round_only_operator(tournament, outsider, admin):
    close_time = now() + DAY
    for account in (outsider, admin):
        with reverts_with("AccessControlUnauthorizedAccount", account, OPERATOR_ROLE):
            tournament.openRound(1, close_time, close_time + DAY, LIVE, {"from": account})


def test_open_round_while_paused_reverts(tournament, operator, guardian):
    tournament.pause({"from": guardian})
    close_time = now() + DAY
    with reverts_with("EnforcedPause"):
        tournament.openRound(1, close_time, close_time + DAY, LIVE, {"from": operator})


def test_phases_follow_time_and_state(tournament, h, alice):
    assert tournament.phase(999) == NONE
    # The empty round closes days before the staked one (a margin, not a race on block times).
    empty_round = h.open_round(close_in=DAY)
    round_id = h.open_round()
    model = h.create_model(alice)
    h.deposit_and_stake(alice, round_id, model, NMR_WEI)
    assert tournament.phase(round_id) == OPEN
    h.to_close(round_id)
    assert tournament.phase(round_id) == CLOSED
    # a round nobody staked in is Settled once closed
    assert tournament.phase(empty_round) == SETTLED
    h.to_resolve(round_id)
    assert tournament.phase(round_id) == RESOLVABLE
    travel_to(h.round(round_id)["resolveTime"] + SEED_PRESET["resultsTimeout"])
    assert tournament.phase(round_id) == REFUNDING


# ------------------------------------------------------------------ configuration

@pytest.mark.parametrize("field,value", [
    ("corrMult", dict(corrMultMin=301, corrMultMax=300)),
    ("corrMult", dict(corrMultMax=501)),
    ("mmcMult", dict(mmcMultMin=1, mmcMultMax=0)),
    ("mmcMult", dict(mmcMultMax=501)),
    ("clipBps", dict(clipBps=10_001)),
    ("challengePeriod", dict(challengePeriod=3599)),
    ("challengePeriod", dict(challengePeriod=30 * DAY + 1)),
    ("resultsTimeout", dict(resultsTimeout=DAY - 1)),
    ("resultsTimeout", dict(resultsTimeout=365 * DAY + 1)),
    ("settleTimeout", dict(settleTimeout=DAY - 1)),
    ("settleTimeout", dict(settleTimeout=365 * DAY + 1)),
    ("minResolutionDelay", dict(minResolutionDelay=365 * DAY + 1)),
    ("stakeThreshold", dict(stakeThreshold=0)),
    ("minStake", dict(minStake=0)),
])
def test_set_config_bounds(tournament, admin, field, value):
    with reverts_with("InvalidConfig", field):
        tournament.setConfig(config_tuple(**value), {"from": admin})


def test_set_config_accepts_the_edges(tournament, admin):
    edges = config_tuple(corrMultMin=500, corrMultMax=500, mmcMultMin=500, mmcMultMax=500, clipBps=10_000,
                         challengePeriod=3600, resultsTimeout=DAY, settleTimeout=365 * DAY,
                         minResolutionDelay=0, stakeThreshold=1, minStake=1)
    tx = tournament.setConfig(edges, {"from": admin})
    assert list(tx.events["ConfigUpdated"]["config"]) == list(edges)
    assert list(tournament.config()) == list(edges)


def test_both_presets_are_valid(tournament, admin):
    for preset in (PRESET_2024, SEED_PRESET):
        tournament.setConfig(config_tuple(**preset), {"from": admin})
        assert list(tournament.config()) == list(config_tuple(**preset))


def test_set_config_only_admin(tournament, operator):
    with reverts_with("AccessControlUnauthorizedAccount", operator, DEFAULT_ADMIN_ROLE):
        tournament.setConfig(config_tuple(), {"from": operator})


def test_round_keeps_its_snapshot_after_set_config(tournament, h, admin, alice):
    old_round = h.open_round()
    tournament.setConfig(config_tuple(**PRESET_2024), {"from": admin})
    new_round = h.open_round()
    assert list(h.round(old_round)["config"]) == list(config_tuple())
    assert list(h.round(new_round)["config"]) == list(config_tuple(**PRESET_2024))
    model = h.create_model(alice)
    tournament.deposit(2 * NMR_WEI, {"from": alice})
    # 3x corr, no mmc: allowed by the seed snapshot, not by the 2024 preset
    tournament.stake(old_round, model, NMR_WEI, 300, 0, submission_hash("a"), {"from": alice})
    with reverts_with("MultiplierOutOfBounds", "corr", 300, 50, 50):
        tournament.stake(new_round, model, NMR_WEI, 300, 0, submission_hash("a"), {"from": alice})
    tournament.stake(new_round, model, NMR_WEI, 50, 200, submission_hash("a"), {"from": alice})
    # a config change after opening leaves both snapshots alone
    tournament.setConfig(config_tuple(clipBps=100, minStake=5 * NMR_WEI), {"from": admin})
    assert h.round(old_round)["config"][4] == 2500 and h.round(new_round)["config"][4] == 500


# ------------------------------------------------------------------ roles and pause

def test_pause_and_unpause_roles(tournament, admin, guardian, operator):
    with reverts_with("AccessControlUnauthorizedAccount", operator, GUARDIAN_ROLE):
        tournament.pause({"from": operator})
    with reverts_with("AccessControlUnauthorizedAccount", admin, GUARDIAN_ROLE):
        tournament.pause({"from": admin})
    tx = tournament.pause({"from": guardian})
    assert tx.events["Paused"]["account"] == guardian and tournament.paused()
    with reverts_with("EnforcedPause"):
        tournament.pause({"from": guardian})
    with reverts_with("AccessControlUnauthorizedAccount", guardian, DEFAULT_ADMIN_ROLE):
        tournament.unpause({"from": guardian})
    tournament.unpause({"from": admin})
    assert not tournament.paused()
    with reverts_with("ExpectedPause"):
        tournament.unpause({"from": admin})


def test_only_admin_grants_roles(tournament, admin, operator, outsider):
    with reverts_with("AccessControlUnauthorizedAccount", operator, DEFAULT_ADMIN_ROLE):
        tournament.grantRole(OPERATOR_ROLE, outsider, {"from": operator})
    tournament.grantRole(OPERATOR_ROLE, outsider, {"from": admin})
    close_time = now() + DAY
    tournament.openRound(1, close_time, close_time + DAY, LIVE, {"from": outsider})
    tournament.revokeRole(OPERATOR_ROLE, outsider, {"from": admin})
    with reverts_with("AccessControlUnauthorizedAccount", outsider, OPERATOR_ROLE):
        tournament.openRound(2, close_time, close_time + DAY, LIVE, {"from": outsider})


# ------------------------------------------------------------------ signer set

def test_set_signers_bumps_version(tournament, admin):
    assert tournament.signerSetVersion() == 1
    new = [k.address for k in SIGNER_KEYS[2:5]]
    tx = tournament.setSigners(new, 3, {"from": admin})
    assert tx.events["SignersUpdated"] == {"version": 2, "signers": new, "threshold": 3}
    signers, threshold, version = tournament.signerSet()
    assert list(signers) == new and threshold == 3 and version == 2


def test_set_signers_checks(tournament, admin):
    keys = [k.address for k in SIGNER_KEYS[:3]]
    with reverts_with("InvalidSignerSet", 3, 0):
        tournament.setSigners(keys, 0, {"from": admin})
    with reverts_with("InvalidSignerSet", 3, 4):
        tournament.setSigners(keys, 4, {"from": admin})
    with reverts_with("InvalidSignerSet", 0, 1):
        tournament.setSigners([], 1, {"from": admin})
    too_many = ["0x" + f"{i + 1:040x}" for i in range(33)]
    with reverts_with("InvalidSignerSet", 33, 2):
        tournament.setSigners(too_many, 2, {"from": admin})
    tournament.setSigners(too_many[:32], 32, {"from": admin})
    with reverts_with("InvalidSigner", ZERO_ADDRESS):
        tournament.setSigners([keys[0], ZERO_ADDRESS], 1, {"from": admin})
    with reverts_with("DuplicateSignerInSet", keys[1]):
        tournament.setSigners([keys[0], keys[1], keys[1]], 2, {"from": admin})


def test_set_signers_only_admin(tournament, operator):
    with reverts_with("AccessControlUnauthorizedAccount", operator, DEFAULT_ADMIN_ROLE):
        tournament.setSigners([SIGNER_KEYS[0].address], 1, {"from": operator})
