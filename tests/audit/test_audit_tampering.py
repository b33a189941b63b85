"""Every tampering with a settled round is caught and named: stake, field, expected, found.

The round is read once from a real chain (tests/audit/conftest.py); each test changes one
side (the chain view or the artifacts) of a deep copy and runs the pure verifier on it.
"""
from __future__ import annotations

import copy
import io
import json

import pandas as pd

import pytest

from tournament.protocol.artifacts import MANIFEST_NAME, artifacts_hash, build_manifest, file_entry
from tournament.auditor.audit import VetoView, read_artifacts, read_chain_view, verify_round
from tournament.protocol.payout import payout_wei
from tournament.protocol.results import Leaf, ResultsTree
from tournament.protocol.signing import Domain, Results, sign_results


@pytest.fixture(scope="module")
def views(settled_round):
    world = settled_round.world
    chain = read_chain_view(world.w3, world.deployment, settled_round.round_id)
    artifacts = read_artifacts(str(settled_round.artifacts_dir))
    assert verify_round(chain, artifacts).verdict == "PASS"
    return chain, artifacts


@pytest.fixture
def chain(views):
    return copy.deepcopy(views[0])


@pytest.fixture
def artifacts(views):
    return copy.deepcopy(views[1])


def remanifest(chain, artifacts):
    """Rewrite the manifest over the (tampered) files and point the chain's artifactsHash at it,
    so only the deeper checks can catch the change."""
    files = {p: b for p, b in artifacts.files.items() if p != MANIFEST_NAME}
    manifest = build_manifest(chain.round_id, [file_entry(p, b) for p, b in files.items()])
    artifacts.files[MANIFEST_NAME] = manifest
    chain.accepted.artifacts_hash = artifacts_hash(manifest)


def resign(chain, settled_round):
    """The colluding signers sign whatever the chain view now says (root, artifacts hash)."""
    p = chain.accepted
    domain = Domain(chain.chain_id, chain.tournament)
    results = Results(chain.round_id, p.attempt, p.results_root, p.leaf_count, p.artifacts_hash,
                      p.signer_set_version)
    p.signatures = sign_results(domain, results, [k.key for k in settled_round.signer_keys[:2]])
    p.calldata_results = None


def findings(report, model_id=None, field=None):
    return [f for f in report.findings
            if (model_id is None or f.model_id == model_id) and (field is None or f.field == field)]


def test_changed_score_signed_by_colluding_signers_is_caught_by_recomputation(chain, artifacts, settled_round):
    model_id = settled_round.model_ids["good_a"]
    leaves = json.loads(artifacts.files["leaves.json"])
    entry = next(item for item in leaves if item["modelId"] == model_id)
    honest = entry["corr"]
    entry["corr"] = honest + 40_000_000
    artifacts.files["leaves.json"] = json.dumps(leaves).encode()
    table = pd.read_csv(io.BytesIO(artifacts.files["scores.csv"]))
    table.loc[table.model_id == model_id, "corr_nanos"] = entry["corr"]
    artifacts.files["scores.csv"] = table.to_csv(index=False).encode()
    remanifest(chain, artifacts)
    tree = ResultsTree([Leaf(i["roundId"], i["modelId"], i["status"], i["corr"], i["mmc"]) for i in leaves])
    chain.accepted.results_root = tree.root
    resign(chain, settled_round)
    # ... and the settlement paid on the inflated score, consistently
    event = chain.settled[model_id][0]
    stake = chain.stakes[model_id]
    new_payout = payout_wei(stake.stake_wei, entry["corr"], entry["mmc"], stake.corr_mult, stake.mmc_mult,
                            chain.accepted.payout_factor_wei, chain.config["clipBps"])
    chain.round_settled["rewards"] += new_payout - event.payout_wei
    chain.round_settled["reserveReleased"] -= new_payout - event.payout_wei
    event.corr_nanos, event.payout_wei = entry["corr"], new_payout

    report = verify_round(chain, artifacts)
    assert report.verdict == "FAIL"
    assert [(f.model_id, f.field) for f in report.findings] == [(model_id, "corr")]
    finding = report.findings[0]
    assert abs(float(finding.expected) - honest * 1e-9) <= 2e-9
    assert float(finding.found) == pytest.approx((honest + 40_000_000) * 1e-9)
    assert next(r for r in report.stakes if r.model_id == model_id).result == "FAIL"


def test_changed_score_in_leaves_alone_breaks_manifest_entry_root_and_score(chain, artifacts, settled_round):
    model_id = settled_round.model_ids["good_c"]
    leaves = json.loads(artifacts.files["leaves.json"])
    next(item for item in leaves if item["modelId"] == model_id)["mmc"] += 7
    artifacts.files["leaves.json"] = json.dumps(leaves).encode()
    report = verify_round(chain, artifacts)
    fields = {(f.model_id, f.field) for f in report.findings}
    assert {(None, "file:leaves.json"), (None, "results_root"),
            (model_id, "mmc"), (model_id, "settled.mmc_nanos")} <= fields


def test_swapped_submission_file_is_named_by_stake(chain, artifacts, settled_round):
    victim, other = settled_round.model_ids["good_a"], settled_round.model_ids["good_c"]
    artifacts.files[f"submissions/{victim}.csv"] = artifacts.files[f"submissions/{other}.csv"]
    remanifest(chain, artifacts)
    resign(chain, settled_round)
    report = verify_round(chain, artifacts)
    status = findings(report, victim, "status")
    assert status and status[0].expected == "INVALID" and status[0].found == "SCORED"
    assert "hash mismatch" in status[0].message


def test_swapped_file_without_new_manifest_is_caught_by_the_manifest(chain, artifacts, settled_round):
    victim, other = settled_round.model_ids["good_b"], settled_round.model_ids["good_c"]
    artifacts.files[f"submissions/{victim}.csv"] = artifacts.files[f"submissions/{other}.csv"]
    report = verify_round(chain, artifacts)
    [finding] = findings(report, victim, f"file:submissions/{victim}.csv")
    assert finding.expected != finding.found and finding.found.startswith("0x")


def test_wrong_root_is_named(chain, artifacts):
    chain.accepted.results_root = b"\x11" * 32
    report = verify_round(chain, artifacts)
    [finding] = findings(report, None, "results_root")
    assert finding.expected == b"\x11" * 32 and finding.found != finding.expected
    assert findings(report, None, "signatures"), "signatures over the real root do not sign a wrong one"


def test_payout_off_by_one_wei_is_named(chain, artifacts, settled_round):
    model_id = settled_round.model_ids["good_a"]
    event = chain.settled[model_id][0]
    expected = event.payout_wei
    event.payout_wei += 1
    report = verify_round(chain, artifacts)
    [finding] = findings(report, model_id, "payout_wei")
    assert (finding.expected, finding.found) == (expected, expected + 1)
    assert findings(report, None, "round.rewards_wei")


def test_burn_off_by_one_wei_is_named_and_breaks_the_supply(chain, artifacts, settled_round):
    model_id = settled_round.model_ids["good_b"]
    event = chain.settled[model_id][0]
    assert event.burned_wei > 0
    event.burned_wei -= 1
    report = verify_round(chain, artifacts)
    [finding] = findings(report, model_id, "burned_wei")
    assert finding.found == finding.expected - 1
    assert findings(report, None, "round.burned_wei")
    chain.tournament_burns_wei -= 1
    assert findings(verify_round(chain, artifacts), None, "supply_fall_wei")


def test_forged_signature_is_named(chain, artifacts, settled_round):
    p = chain.accepted
    domain = Domain(chain.chain_id, chain.tournament)
    results = Results(chain.round_id, p.attempt, p.results_root, p.leaf_count, p.artifacts_hash,
                      p.signer_set_version)
    forged = sign_results(domain, results, [settled_round.signer_keys[0].key, settled_round.outsider_key.key])
    p.signatures = forged
    report = verify_round(chain, artifacts)
    [finding] = findings(report, None, "signatures")
    assert settled_round.outsider_key.address in finding.found
    assert "not a current signer" in finding.message


def test_below_threshold_signatures_are_named(chain, artifacts):
    chain.accepted.signatures = chain.accepted.signatures[:1]
    [finding] = findings(verify_round(chain, artifacts), None, "signatures")
    assert "threshold is 2" in finding.message


def test_missing_submission_file_is_named(chain, artifacts, settled_round):
    model_id = settled_round.model_ids["good_b"]
    del artifacts.files[f"submissions/{model_id}.csv"]
    report = verify_round(chain, artifacts)
    [missing] = findings(report, model_id, f"file:submissions/{model_id}.csv")
    assert missing.found == "missing"
    [status] = findings(report, model_id, "status")
    assert (status.expected, status.found, status.message) == ("INVALID", "SCORED", "no submission file received")


def test_leaf_count_and_stake_cross_checks(chain, artifacts, settled_round):
    chain.accepted.leaf_count -= 1
    model_id = settled_round.model_ids["good_c"]
    chain.stakes[model_id].get_stake_wei += 5
    report = verify_round(chain, artifacts)
    assert findings(report, None, "leaf_count")[0].found == chain.staked_count - 1
    assert findings(report, model_id, "stake_wei")


def test_unsettled_stake_past_timeout_is_named(chain, artifacts, settled_round):
    model_id = settled_round.model_ids["constant"]
    del chain.settled[model_id]
    chain.round_settled = None
    report = verify_round(chain, artifacts)
    assert report.verdict == "PASS", "before the settle timeout an open stake is only pending"
    assert next(r for r in report.stakes if r.model_id == model_id).result == "PENDING"
    chain.now = chain.accepted.challenge_end + chain.config["settleTimeout"]
    [finding] = findings(verify_round(chain, artifacts), model_id, "closed")
    assert "refund" in finding.message


def test_vetoed_attempt_is_reported_and_the_accepted_one_audited(chain, artifacts):
    rejected = copy.deepcopy(chain.accepted)
    rejected.attempt, rejected.results_root = 0, b"\x22" * 32
    chain.accepted.attempt = 1
    chain.proposals.insert(0, rejected)
    chain.vetoes.append(VetoView(0, "0x" + "ab" * 20, "wrong targets"))
    report = verify_round(chain, artifacts)
    assert any("vetoed" in n and "wrong targets" in n for n in report.notes)
    # the attempt-1 proposal carries attempt-0 calldata and signatures in this copy: caught
    assert {f.field for f in report.findings} == {"calldata.attempt", "signatures"}
    assert report.summary["attempt"] == 1 and report.summary["vetoes"] == 1


def test_scores_table_contradicting_the_leaves_is_named(chain, artifacts, settled_round):
    model_id = settled_round.model_ids["constant"]
    table = pd.read_csv(io.BytesIO(artifacts.files["scores.csv"]))
    table.loc[table.model_id == model_id, "status"] = "SCORED"
    artifacts.files["scores.csv"] = table.to_csv(index=False).encode()
    remanifest(chain, artifacts)
    resign(chain, settled_round)
    [finding] = verify_round(chain, artifacts).findings
    assert (finding.model_id, finding.field, finding.expected, finding.found) == \
        (model_id, "scores.csv.status", "INVALID", "SCORED")
