"""Scores above 1 in magnitude: leaves carry them clipped to [-1, 1] (to_nanos), and the audit agrees.

A model that is (nearly) the targets, against a meta model that is noise, has an MMC above 1
(correlation_contribution scales the targets by 4). The operator posts it as 1e9 nanos; the
auditor must compare its recomputed score clipped the same way, or it fails an honest round
(and a watchtower would veto it).
"""
from __future__ import annotations

import json

from pure_round import build_pure_round

from tournament.auditor.verify import verify_round

PLAN = [("oracle", 1, 100, "oracle"), ("noise", 1000, 100, "random")]


def test_an_honest_round_with_mmc_above_one_passes():
    pure = build_pure_round(PLAN)
    oracle = next(o for o in pure.scoring.outcomes if o.model_id == pure.model_ids["oracle"])
    assert oracle.mmc is not None and oracle.mmc > 1.0, "the case needs an unclipped MMC above 1"
    assert oracle.mmc_nanos == 1_000_000_000
    report = verify_round(pure.chain, pure.artifacts)
    assert report.verdict == "PASS", [str(f) for f in report.findings]


def test_a_posted_score_below_the_clipped_value_is_still_caught():
    pure = build_pure_round(PLAN)
    model_id = pure.model_ids["oracle"]
    leaves = json.loads(pure.artifacts.files["leaves.json"])
    next(item for item in leaves if item["modelId"] == model_id)["mmc"] = 900_000_000
    pure.artifacts.files["leaves.json"] = json.dumps(leaves).encode()
    report = verify_round(pure.chain, pure.artifacts)
    mmc = [f for f in report.findings if f.model_id == model_id and f.field == "mmc"]
    assert len(mmc) == 1 and mmc[0].expected == "1.000000000" and mmc[0].found == "0.900000000", \
        [str(f) for f in report.findings]
