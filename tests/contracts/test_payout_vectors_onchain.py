"""(protocol v2) The shared payout vectors (tests/vectors/payout_vectors.json) run against the contract's
`computePayout` to the wei, with oracle/payout.py's `payout_wei` agreeing; `payoutFactor`
against the Python mirror; and the pure views' edge behaviour (SafeCast on absurd inputs).
"""
from __future__ import annotations

import pytest
from tournament_testlib import NMR_WEI, load_payout_vectors, reverts_with

from tournament.protocol.payout import payout_factor_wei, payout_wei

VECTORS = load_payout_vectors()
INPUTS = ["stake_wei", "corr_nanos", "mmc_nanos", "corr_mult", "mmc_mult", "payout_factor_wei", "clip_bps"]


def _inputs(vector: dict) -> list[int]:
    return [int(vector[key]) for key in INPUTS]


def test_vectors_are_present():
    assert len(VECTORS) >= 10
    names = [v.get("name", "") for v in VECTORS]
    assert any("seed check" in n for n in names)


@pytest.mark.parametrize("vector", VECTORS, ids=[v.get("name", str(i)) for i, v in enumerate(VECTORS)])
def test_vector_on_chain_and_in_python(tournament, vector):
    args = _inputs(vector)
    expected = int(vector["payout_wei"])
    assert tournament.computePayout(*args) == expected, "contract disagrees with the vector"
    assert payout_wei(*args) == expected, "oracle/payout.py disagrees with the vector"


def test_vectors_with_totals_agree_on_payout_factor(tournament):
    checked = 0
    for vector in VECTORS:
        if "scored_at_risk_wei" not in vector:
            continue
        scored, threshold = int(vector["scored_at_risk_wei"]), int(vector["stake_threshold_wei"])
        factor = payout_factor_wei(scored, threshold)
        assert tournament.payoutFactor(scored, threshold) == factor
        assert factor == int(vector["payout_factor_wei"]), vector.get("name")
        checked += 1
    assert checked >= 6


def test_seed_checks_via_compute_payout(tournament):
    assert tournament.computePayout(10 * NMR_WEI, 25_000_000, 0, 200, 0, 10**18, 2500) == NMR_WEI // 2
    assert tournament.computePayout(50 * NMR_WEI, -10_000_000, 0, 300, 0, 10**18, 2500) == -3 * NMR_WEI // 2


@pytest.mark.parametrize("total,threshold", [
    (0, 1), (72_000 * NMR_WEI, 72_000 * NMR_WEI), (72_000 * NMR_WEI + 1, 72_000 * NMR_WEI),
    (3 * 72_000 * NMR_WEI + 1, 72_000 * NMR_WEI), (11_000_000 * NMR_WEI, 1),
])
def test_payout_factor_matches_mirror(tournament, total, threshold):
    assert tournament.payoutFactor(total, threshold) == payout_factor_wei(total, threshold)


def test_compute_payout_rejects_values_beyond_int256(tournament):
    with reverts_with("SafeCastOverflowedUintToInt", 2**255):
        tournament.computePayout(2**255, 1, 0, 100, 0, 10**18, 2500)
