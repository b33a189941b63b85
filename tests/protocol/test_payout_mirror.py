"""The Python payout mirror (protocol v2): the seed checks, the shared vectors (pf and reserve from
scoredAtRisk), and properties.

The contract-side test runs the same tests/vectors/payout_vectors.json against
computePayout on-chain; this file pins the Python side.
"""
from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.payout import (
    INVALID,
    SCORED,
    WAD,
    div_toward_zero,
    payout_factor_wei,
    payout_wei,
    reserve_wei,
    scored_at_risk_wei,
    settle_amounts,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "payout_vectors.json"
INPUT_KEYS = ["stake_wei", "corr_nanos", "mmc_nanos", "corr_mult", "mmc_mult",
              "payout_factor_wei", "clip_bps"]


def load_vectors() -> list[dict]:
    return json.loads(VECTORS.read_text())


def reference_payout(stake, corr, mmc, a, b, pf, clip_bps) -> int:
    """The protocol's formula with exact rationals and math.trunc: an independent oracle."""
    adjusted = math.trunc(Fraction((corr * a + mmc * b) * pf, 10**18))
    bound = clip_bps * 10**7
    adjusted = min(max(adjusted, -bound), bound)
    return math.trunc(Fraction(stake * adjusted, 10**11))


def test_seed_check_ten_nmr_at_2x_corr_0_025_pays_half_an_nmr():
    assert payout_wei(10 * NMR, 25_000_000, 0, 200, 0, WAD, 2500) == NMR // 2


def test_seed_check_fifty_nmr_at_3x_corr_minus_0_010_burns_one_and_a_half_nmr():
    paid = payout_wei(50 * NMR, -10_000_000, 0, 300, 0, WAD, 2500)
    assert paid == -3 * NMR // 2
    assert settle_amounts(50 * NMR, SCORED, -10_000_000, 0, 300, 0, WAD, 2500) == \
        (50 * NMR - 3 * NMR // 2, 3 * NMR // 2, 0)


def test_vectors_file_has_the_contract_inputs_and_matches_the_mirror():
    vectors = load_vectors()
    assert len(vectors) >= 20
    for v in vectors:
        assert set(INPUT_KEYS) <= set(v) and "payout_wei" in v, v
        args = [int(v[k]) for k in INPUT_KEYS]
        assert payout_wei(*args) == int(v["payout_wei"]), v["name"]
        assert reference_payout(*args) == int(v["payout_wei"]), v["name"]
        if "scored_at_risk_wei" in v:
            scored = int(v["scored_at_risk_wei"])
            assert payout_factor_wei(scored, int(v["stake_threshold_wei"])) == int(v["payout_factor_wei"]), v["name"]
            assert reserve_wei(scored, v["clip_bps"]) == int(v["reserve_wei"]), v["name"]
        if "total_at_risk_wei" in v:  # v2: INVALID stakes on top, which must not matter
            assert int(v["total_at_risk_wei"]) > int(v["scored_at_risk_wei"]), v["name"]


def test_vectors_are_the_generators_output():
    from tests.vectors.generate_payout_vectors import build
    assert load_vectors() == build()


def test_v2_vectors_where_the_total_would_have_given_another_pf():
    """In v1, pf came from the total at risk; the v2 vectors pin cases where that differs."""
    differs = [v for v in load_vectors() if "total_at_risk_wei" in v
               and payout_factor_wei(int(v["total_at_risk_wei"]), int(v["stake_threshold_wei"]))
               != int(v["payout_factor_wei"])]
    assert len(differs) >= 3


def test_scored_at_risk_counts_only_scored_stakes():
    stakes = {1: 10 * NMR, 2: 95_000 * NMR, 3: 5 * NMR}
    assert scored_at_risk_wei(stakes, {1: SCORED, 2: INVALID, 3: SCORED}) == 15 * NMR
    assert scored_at_risk_wei(stakes, {1: INVALID, 2: INVALID, 3: INVALID}) == 0
    assert scored_at_risk_wei({}, {}) == 0
    with pytest.raises(ValueError, match="no leaf status"):
        scored_at_risk_wei(stakes, {1: SCORED, 2: SCORED})
    with pytest.raises(ValueError, match="neither SCORED nor INVALID"):
        scored_at_risk_wei(stakes, {1: SCORED, 2: 3, 3: SCORED})
    assert reserve_wei(15 * NMR, 2500) == 15 * NMR // 4


def test_vectors_cover_the_edge_cases_the_issue_names():
    vectors = load_vectors()
    paid = {v["name"]: int(v["payout_wei"]) for v in vectors}
    stake = {v["name"]: int(v["stake_wei"]) for v in vectors}
    clip = {v["name"]: v["clip_bps"] for v in vectors}
    clipped_up = [n for n in paid if paid[n] > 0 and paid[n] == stake[n] * clip[n] // 10_000]
    clipped_down = [n for n in paid if paid[n] < 0 and -paid[n] == stake[n] * clip[n] // 10_000]
    assert clipped_up and clipped_down
    assert any(int(v["payout_factor_wei"]) < WAD for v in vectors)
    assert any(int(v["payout_factor_wei"]) == 0 for v in vectors)
    assert any(paid[n] == 0 for n in paid)
    assert any(int(v["stake_wei"]) == 11_000_000 * NMR for v in vectors)
    # at least one vector where flooring instead of truncating would give another answer
    floors_differ = 0
    for v in vectors:
        args = [int(v[k]) for k in INPUT_KEYS]
        exposure = args[1] * args[3] + args[2] * args[4]
        bound = args[6] * 10**7
        adjusted = min(max((exposure * args[5]) // WAD, -bound), bound)
        if (args[0] * adjusted) // 10**11 != int(v["payout_wei"]):
            floors_differ += 1
    assert floors_differ >= 3


def test_division_truncates_toward_zero_like_solidity():
    assert div_toward_zero(-7, 2) == -3
    assert div_toward_zero(7, -2) == -3
    assert div_toward_zero(-7, -2) == 3
    assert div_toward_zero(7, 2) == 3
    assert div_toward_zero(-1, 10**11) == 0
    with pytest.raises(ZeroDivisionError):
        div_toward_zero(1, 0)


def test_payout_factor_is_one_up_to_the_threshold_and_proportional_after():
    assert payout_factor_wei(0, 72_000 * NMR) == WAD
    assert payout_factor_wei(72_000 * NMR, 72_000 * NMR) == WAD
    assert payout_factor_wei(144_000 * NMR, 72_000 * NMR) == WAD // 2
    assert payout_factor_wei(3, 1) == 333_333_333_333_333_333


def test_invalid_returns_the_stake_whole():
    assert settle_amounts(5 * NMR, INVALID, 999, 999, 300, 200, WAD, 2500) == (5 * NMR, 0, 0)


def test_reward_is_credited_with_the_stake():
    assert settle_amounts(10 * NMR, SCORED, 25_000_000, 0, 200, 0, WAD, 2500) == \
        (10 * NMR + NMR // 2, 0, NMR // 2)


def test_unknown_status_and_out_of_range_inputs_are_refused():
    with pytest.raises(ValueError, match="status"):
        settle_amounts(NMR, 0, 0, 0, 100, 0, WAD, 2500)
    with pytest.raises(ValueError, match="corr_nanos"):
        payout_wei(NMR, 2**63, 0, 100, 0, WAD, 2500)
    with pytest.raises(ValueError, match="corr_mult"):
        payout_wei(NMR, 0, 0, 2**16, 0, WAD, 2500)
    with pytest.raises(ValueError, match="stake_wei"):
        payout_wei(-1, 0, 0, 100, 0, WAD, 2500)
    with pytest.raises(ValueError, match="must be an int"):
        payout_wei(NMR, 0.5, 0, 100, 0, WAD, 2500)


stakes = st.integers(min_value=0, max_value=11_000_000 * NMR)
nanos = st.integers(min_value=-10**9, max_value=10**9)
mults = st.integers(min_value=0, max_value=500)
clips = st.integers(min_value=0, max_value=10_000)
pfs = st.integers(min_value=0, max_value=WAD)


@settings(max_examples=400, deadline=None)
@given(stakes, nanos, nanos, mults, mults, pfs, clips)
def test_payout_is_bounded_by_the_clip_and_follows_the_exposure_sign(s, c, m, a, b, pf, clip):
    paid = payout_wei(s, c, m, a, b, pf, clip)
    assert abs(paid) <= s * clip // 10_000
    exposure = c * a + m * b
    assert paid == 0 or (paid > 0) == (exposure > 0)
    assert paid == reference_payout(s, c, m, a, b, pf, clip)
    credit, burned, reward = settle_amounts(s, SCORED, c, m, a, b, pf, clip)
    assert credit == s + paid and burned >= 0 and reward >= 0 and burned * reward == 0
    assert credit - reward + burned == s


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**30), st.integers(min_value=0, max_value=10**30),
       st.integers(min_value=0, max_value=10**30))
def test_payout_factor_is_monotone_and_at_most_one(total, extra, threshold):
    pf = payout_factor_wei(total, threshold)
    assert 0 <= pf <= WAD
    assert payout_factor_wei(total + extra, threshold) <= pf
    assert payout_factor_wei(total, threshold + extra) >= pf


@settings(max_examples=200, deadline=None)
@given(stakes, nanos, mults, pfs, pfs, clips)
def test_a_smaller_payout_factor_never_pays_or_burns_more(s, c, a, pf1, pf2, clip):
    lo, hi = sorted((pf1, pf2))
    assert abs(payout_wei(s, c, 0, a, 0, lo, clip)) <= abs(payout_wei(s, c, 0, a, 0, hi, clip))
