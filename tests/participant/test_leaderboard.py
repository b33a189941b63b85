"""The leaderboard (tournament.participant.leaderboard): pure from events, then from the chain.

Per round means (never sums), NMR earned and return from StakeSettled, INVALID and refunded
stakes counted apart, the 20-round weighted reputation; then the same rows read through the
ChainReader after two settled rounds on anvil, and the CLI table.
"""
from __future__ import annotations

import pytest

from tests.participant.test_participant_client import NMR, client, open_round, predictions_file  # noqa: F401
from tests.participant.test_participant_rounds import cli, settle_round
from tournament.chain.devchain import increase_time
from tournament.chain.types import EventLog
from tournament.participant.leaderboard import build_leaderboard, read_leaderboard, reputation

DAY = 86_400


def settled(round_id, model_id, corr, mmc, stake, payout, status=1, owner="0xA"):
    return EventLog("StakeSettled", {"roundId": round_id, "modelId": model_id, "owner": owner, "stake": stake,
                                     "status": status, "corr": corr, "mmc": mmc, "payout": payout,
                                     "burned": max(-payout, 0)}, round_id, 0, "0x")


def test_means_per_round_earned_return_and_reputation():
    events = [settled(1, 7, 20_000_000, 5_000_000, 10 * NMR, NMR // 2),
              settled(2, 7, -10_000_000, 1_000_000, 10 * NMR, -NMR // 5),
              settled(3, 7, 0, 0, 10 * NMR, 0, status=2),                  # INVALID: no score
              settled(1, 8, 50_000_000, 0, 4 * NMR, NMR // 4, owner="0xB")]
    refunds = [EventLog("StakeRefunded", {"roundId": 4, "modelId": 7, "owner": "0xA", "amount": 3 * NMR}, 4, 0, "0x")]
    rows = build_leaderboard(events, refunds, {7: "seven", 8: "eight"})
    by_id = {r.model_id: r for r in rows}
    seven = by_id[7]
    assert (seven.rounds, seven.invalid, seven.refunded, seven.last_round) == (2, 1, 1, 4)
    assert seven.mean_corr == pytest.approx(0.005)          # (0.02 - 0.01) / 2, not the sum 0.01
    assert seven.mean_mmc == pytest.approx(0.003)
    assert seven.earned_wei == NMR // 2 - NMR // 5 and seven.staked_wei == 30 * NMR
    assert seven.return_ratio == pytest.approx(0.3 / 30)
    assert seven.reputation == pytest.approx((1 * 0.02 + 2 * -0.01) / 3)  # the newer round weighs more
    assert [r.model_id for r in rows] == [8, 7]  # best reputation first
    assert by_id[8].model_name == "eight"


def test_reputation_keeps_the_newest_twenty_rounds():
    scores = {r: (1.0 if r <= 5 else 0.0) for r in range(1, 26)}
    assert reputation(scores) == 0.0                     # rounds 1-5 fell out of the window
    assert reputation({3: 0.01}) == pytest.approx(0.01)
    assert reputation({}) is None
    recent = {r: float(r) for r in range(1, 21)}
    assert reputation(recent) == pytest.approx(sum(r * r for r in range(1, 21)) / sum(range(1, 21)))


def test_leaderboard_from_the_chain_and_the_command(deployed, world, tmp_path):
    alice, bob = client(deployed, world, deployed.keys[3]), client(deployed, world, deployed.keys[4])
    a, b = alice.create_model("lb-alice"), bob.create_model("lb-bob")
    alice.deposit(200 * NMR)
    bob.deposit(200 * NMR)
    scores = {1: {a: (20_000_000, 4_000_000), b: (-10_000_000, 0)}, 2: {a: (10_000_000, 2_000_000)}}
    for round_id in (1, 2):
        open_round(deployed, world, round_id, close_in_s=DAY)
        alice.submit(round_id, a, predictions_file(tmp_path / f"a{round_id}.csv", world["ids"], round_id), 50 * NMR, 200)
        bob.submit(round_id, b, predictions_file(tmp_path / f"b{round_id}.csv", world["ids"], 9 + round_id),
                   20 * NMR, 100)
        increase_time(deployed.w3, 30 * DAY)
        settle_round(deployed, world["operator"], round_id, {a: 50 * NMR, b: 20 * NMR}, scores[round_id])

    rows = read_leaderboard(alice.reader())
    assert [r.model_id for r in rows] == [a, b]
    top = rows[0]
    assert (top.model_name, top.rounds, top.invalid) == ("lb-alice", 2, 0)
    assert top.mean_corr == pytest.approx(0.015) and top.mean_mmc == pytest.approx(0.003)
    history = alice.history()
    assert top.earned_wei == sum(h.payout_wei for h in history) > 0
    assert top.staked_wei == 100 * NMR
    assert top.reputation == pytest.approx((0.02 + 2 * 0.01) / 3)
    assert (rows[1].rounds, rows[1].invalid) == (1, 1)         # bob's round 2 had no score: INVALID

    run = cli(deployed, "participant", "leaderboard", "--rpc", deployed.rpc_url)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "corr/round" in lines[0] and "reputation (20r)" in lines[0]
    assert f"{a} lb-alice" in lines[1] and "+0.01500" in lines[1]
    assert "(1 invalid)" in lines[2]
    as_csv = cli(deployed, "participant", "leaderboard", "--csv", "--rpc", deployed.rpc_url).stdout.splitlines()
    assert as_csv[1].split(",")[:4] == [str(a), "lb-alice", alice.address, "2"]
