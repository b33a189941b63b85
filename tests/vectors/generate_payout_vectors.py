"""Regenerates tests/vectors/payout_vectors.json (protocol v2): `python tests/vectors/generate_payout_vectors.py`.

Each vector gives the contract's `computePayout` inputs and the expected `payout_wei`. Vectors
with a round context also give `scored_at_risk_wei`, `stake_threshold_wei`, the resulting
`payout_factor_wei` (v2: from scoredAtRisk) and `reserve_wei`; `total_at_risk_wei`, where present,
is larger than scoredAtRisk (INVALID stakes) and must NOT change pf or the reserve. Expected values
come from an independent exact-rational reference (fractions + math.trunc), and the script refuses
to write when tournament/protocol/payout.py disagrees with it.
"""
from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.payout import payout_factor_wei, payout_wei, reserve_wei

WAD = 10**18
THRESHOLD = 72_000 * NMR
PATH = Path(__file__).resolve().parent / "payout_vectors.json"


def reference_payout(stake, corr, mmc, a, b, pf, clip_bps) -> int:
    adjusted = math.trunc(Fraction((corr * a + mmc * b) * pf, WAD))
    bound = clip_bps * 10**7
    return math.trunc(Fraction(stake * min(max(adjusted, -bound), bound), 10**11))


def reference_pf(scored, threshold) -> int:
    return WAD if scored <= threshold else math.floor(Fraction(threshold * WAD, scored))


# (name, stake, corr, mmc, corr_mult, mmc_mult, clip_bps, pf or round context)
# round context: dict(scored=..., threshold=..., total=...optional); else an explicit pf.
CASES = [
    ("seed check: 10 NMR at 2x, corr 0.025 pays +0.5 NMR", 10 * NMR, 25_000_000, 0, 200, 0, 2500,
     dict(scored=1000 * NMR, threshold=THRESHOLD)),
    ("seed check: 50 NMR at 3x, corr -0.010 burns 1.5 NMR", 50 * NMR, -10_000_000, 0, 300, 0, 2500,
     dict(scored=1000 * NMR, threshold=THRESHOLD)),
    ("clip upper: corr 1.0 at 3x capped at 25%", 100 * NMR, 10**9, 0, 300, 0, 2500, WAD),
    ("clip lower: corr -1.0 at 5x capped at -25%", 100 * NMR, -10**9, 0, 500, 0, 2500, WAD),
    ("clip upper with mmc, 2024 preset", 7 * NMR + 3, 300_000_000, 200_000_000, 50, 200, 500, WAD),
    ("clip lower with mmc, 2024 preset", 7 * NMR + 3, -300_000_000, -200_000_000, 50, 200, 500, WAD),
    ("exactly at the clip bound", 40 * NMR, 125_000_000, 0, 200, 0, 2500, WAD),
    ("one unit past the clip bound (negative)", 40 * NMR, -125_000_001, 0, 200, 0, 2500, WAD),
    ("scored at risk equal to threshold: pf = 1", 12 * NMR, 31_415_926, -2_718_281, 150, 200, 2500,
     dict(scored=THRESHOLD, threshold=THRESHOLD)),
    ("pf = 0.5: scored at risk twice the threshold", 12 * NMR, 31_415_926, 0, 150, 0, 2500,
     dict(scored=2 * THRESHOLD, threshold=THRESHOLD)),
    ("pf < 1 with truncation: scored 3x threshold + 1 wei", 12 * NMR + 1, -31_415_926, 12_345_678, 150, 200, 2500,
     dict(scored=3 * THRESHOLD + 1, threshold=THRESHOLD)),
    ("pf < 1 negative exposure truncates toward zero", NMR - 1, -1_234_567, -7_654_321, 73, 211, 2500,
     dict(scored=7 * THRESHOLD + 13, threshold=THRESHOLD)),
    ("pf = 0: threshold 0 and a positive scored total", 10 * NMR, 25_000_000, 10_000_000, 200, 100, 2500,
     dict(scored=1, threshold=0)),
    ("zero stake", 0, 25_000_000, 0, 200, 0, 2500, WAD),
    ("zero scores", 10 * NMR, 0, 0, 200, 200, 2500, WAD),
    ("zero multipliers", 10 * NMR, 25_000_000, -5_000_000, 0, 0, 2500, WAD),
    ("zero clip", 10 * NMR, 25_000_000, 0, 200, 0, 0, WAD),
    ("corr and mmc cancel", 10 * NMR, 20_000_000, -10_000_000, 100, 200, 2500, WAD),
    ("max stake: whole supply at 100% clip wins all", 11_000_000 * NMR, 10**9, 10**9, 500, 500, 10_000, WAD),
    ("max stake: whole supply at 100% clip loses all", 11_000_000 * NMR, -10**9, -10**9, 500, 500, 10_000, WAD),
    ("max stake with pf < 1 and odd scores", 11_000_000 * NMR, -987_654_321, 123_456_789, 300, 200, 2500,
     dict(scored=11_000_000 * NMR, threshold=THRESHOLD)),
    ("int64 and uint16 extremes, clipped (positive)", 11_000_000 * NMR, 2**63 - 1, 2**63 - 1, 65535, 65535, 65535,
     WAD),
    ("int64 and uint16 extremes, clipped (negative)", 11_000_000 * NMR, -(2**63), -(2**63), 65535, 65535, 65535,
     WAD),
    ("negative rounding: adjusted -0.99 truncates to 0, not -1", 10 * NMR, -1, 0, 1, 0, 2500, WAD - 1),
    ("negative rounding: 1 wei stake, payout -0.x truncates to 0", 1, -10**9, 0, 500, 0, 2500, WAD),
    ("negative rounding: payout -33.3 wei truncates to -33, not -34", 33_333, -1_000_000, 0, 100, 0, 2500, WAD - 1),
    ("positive rounding: payout 33.3 wei truncates to 33", 33_333, 1_000_000, 0, 100, 0, 2500, WAD - 1),
    ("negative mmc only, 2024 preset", 1234 * NMR + 567, 0, -33_333_333, 50, 200, 500, WAD),
    ("small corr at 0.5x, seed preset minimum", NMR // 100, 1, 0, 50, 0, 2500, WAD),
    # v2: INVALID stakes no longer count
    ("v2: an INVALID whale (95,000 NMR) leaves pf at 1 and the reserve at the scored stakes' clip",
     10 * NMR, 25_000_000, 0, 200, 0, 2500, dict(scored=150 * NMR, total=95_150 * NMR, threshold=THRESHOLD)),
    ("v2: INVALID stakes above the threshold, SCORED below: pf = 1, burn unchanged",
     50 * NMR, -10_000_000, 0, 300, 0, 2500, dict(scored=70_000 * NMR, total=500_000 * NMR, threshold=THRESHOLD)),
    ("v2: SCORED stakes above the threshold: pf from scoredAtRisk, not the larger total",
     12 * NMR + 1, 31_415_926, 12_345_678, 150, 200, 2500,
     dict(scored=90_000 * NMR + 7, total=180_000 * NMR, threshold=THRESHOLD)),
    ("v2: every stake INVALID: scoredAtRisk 0, pf 1, no reserve", 0, 0, 0, 100, 0, 2500,
     dict(scored=0, total=1_000 * NMR, threshold=THRESHOLD)),
]


def build() -> list[dict]:
    vectors = []
    for name, stake, corr, mmc, a, b, clip, context in CASES:
        vector = {"name": name, "stake_wei": str(stake), "corr_nanos": corr, "mmc_nanos": mmc,
                  "corr_mult": a, "mmc_mult": b}
        if isinstance(context, dict):
            pf = reference_pf(context["scored"], context["threshold"])
            assert pf == payout_factor_wei(context["scored"], context["threshold"]), name
            vector["payout_factor_wei"] = str(pf)
            vector["clip_bps"] = clip
            vector["scored_at_risk_wei"] = str(context["scored"])
            if "total" in context:
                assert context["total"] > context["scored"], name
                vector["total_at_risk_wei"] = str(context["total"])
            vector["stake_threshold_wei"] = str(context["threshold"])
            reserve = context["scored"] * clip // 10_000
            assert reserve == reserve_wei(context["scored"], clip), name
            vector["reserve_wei"] = str(reserve)
        else:
            pf = context
            vector["payout_factor_wei"] = str(pf)
            vector["clip_bps"] = clip
        expected = reference_payout(stake, corr, mmc, a, b, pf, clip)
        assert expected == payout_wei(stake, corr, mmc, a, b, pf, clip), name
        vector["payout_wei"] = str(expected)
        vectors.append(vector)
    return vectors


if __name__ == "__main__":
    PATH.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {len(CASES)} vectors to {PATH}")
