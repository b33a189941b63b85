"""Every tampering with a settled round is caught and named: stake, field, expected, found.

The round is built without a chain (tests/audit/pure_round.py: the protocol's own code plays
every honest part, and the ChainView is what a v2 chain reader fills in); each test changes
one side (the chain view or the artifacts) of a deep copy, or lets a dishonest operator
re-score other inputs and re-sign them with colluding signers, and runs the pure verifier.
"""
from __future__ import annotations

import copy
import csv
import io
import json

import pytest
from eth_hash.auto import keccak
from pure_round import OUTSIDER, SIGNERS, build_pure_round, republish

from tournament.auditor.verify import verify_round
from tournament.auditor.views import VetoView
from tournament.protocol.artifacts import MANIFEST_NAME, artifacts_hash, build_manifest, file_entry
from tournament.protocol.payout import payout_wei
from tournament.protocol.receipts import SignedReceipt, receipts_to_json
from tournament.protocol.results import Leaf, ResultsTree
from tournament.protocol.round_scoring import RoundInputs
from tournament.protocol.signing import Results, UploadReceipt, sign_receipt, sign_results


@pytest.fixture(scope="module")
def honest():
    pure = build_pure_round()
    report = verify_round(pure.chain, pure.artifacts)
    assert report.verdict == "PASS", [str(f) for f in report.findings]
    return pure


@pytest.fixture
def pure(honest):
    return honest.copy()


@pytest.fixture
def chain(pure):
    return pure.chain


@pytest.fixture
def artifacts(pure):
    return pure.artifacts


def remanifest(chain, artifacts):
    """Rewrite the manifest over the (tampered) files and point the chain's artifactsHash at it,
    so only the deeper checks can catch the change."""
    files = {p: b for p, b in artifacts.files.items() if p != MANIFEST_NAME}
    manifest = build_manifest(chain.round_id, [file_entry(p, b) for p, b in files.items()])
    artifacts.files[MANIFEST_NAME] = manifest
    chain.accepted.artifacts_hash = artifacts_hash(manifest)


def resign(chain):
    """The colluding signers sign whatever the chain view now says (root, artifacts hash)."""
    p = chain.accepted
    results = Results(chain.round_id, p.attempt, p.results_root, p.leaf_count, p.scored_at_risk_wei,
                      p.artifacts_hash, p.signer_set_version)
    from pure_round import CHAIN_ID, TOURNAMENT

    from tournament.protocol.signing import Domain
    p.signatures = sign_results(Domain(CHAIN_ID, TOURNAMENT), results, [k.key for k in SIGNERS[:2]])
    p.calldata_results = None


def findings(report, model_id=None, field=None):
    return [f for f in report.findings
            if (model_id is None or f.model_id == model_id) and (field is None or f.field == field)]


def fields(report):
    return {(f.model_id, f.field) for f in report.findings}


def _inputs(pure, **changes) -> RoundInputs:
    values = {"round_id": pure.inputs.round_id, "stakes": pure.inputs.stakes, "files": dict(pure.inputs.files),
              "live_ids_raw": pure.inputs.live_ids_raw, "targets_raw": pure.inputs.targets_raw,
              "receipts": list(pure.inputs.receipts)}
    values.update(changes)
    return RoundInputs(**values)


# ------------------------------------------------------------------ v1 tampering, still caught

def test_changed_score_signed_by_colluding_signers_is_caught_by_recomputation(chain, artifacts, pure):
    model_id = pure.model_ids["good_a"]
    leaves = json.loads(artifacts.files["leaves.json"])
    entry = next(item for item in leaves if item["modelId"] == model_id)
    honest = entry["corr"]
    entry["corr"] = honest + 40_000_000
    artifacts.files["leaves.json"] = json.dumps(leaves).encode()
    rows = list(csv.DictReader(io.StringIO(artifacts.files["scores.csv"].decode())))
    next(r for r in rows if int(r["model_id"]) == model_id)["corr_nanos"] = str(entry["corr"])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    artifacts.files["scores.csv"] = out.getvalue().encode()
    remanifest(chain, artifacts)
    chain.accepted.results_root = ResultsTree([Leaf(i["roundId"], i["modelId"], i["status"], i["corr"], i["mmc"])
                                               for i in leaves]).root
    resign(chain)
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


def test_changed_score_in_leaves_alone_breaks_manifest_entry_root_and_score(chain, artifacts, pure):
    model_id = pure.model_ids["good_c"]
    leaves = json.loads(artifacts.files["leaves.json"])
    next(item for item in leaves if item["modelId"] == model_id)["mmc"] += 7
    artifacts.files["leaves.json"] = json.dumps(leaves).encode()
    report = verify_round(chain, artifacts)
    assert {(None, "file:leaves.json"), (None, "results_root"),
            (model_id, "mmc"), (model_id, "settled.mmc_nanos")} <= fields(report)


def test_swapped_submission_file_is_named_by_stake(chain, artifacts, pure):
    victim, other = pure.model_ids["good_a"], pure.model_ids["good_c"]
    artifacts.files[f"submissions/{victim}.csv"] = artifacts.files[f"submissions/{other}.csv"]
    remanifest(chain, artifacts)
    resign(chain)
    report = verify_round(chain, artifacts)
    status = findings(report, victim, "status")
    assert status and status[0].expected == "INVALID" and status[0].found == "SCORED"
    assert "hash mismatch" in status[0].message
    assert findings(report, victim, "receipt:file"), "the victim's receipt proves the committed file was uploaded"


def test_swapped_file_without_new_manifest_is_caught_by_the_manifest(chain, artifacts, pure):
    victim, other = pure.model_ids["good_b"], pure.model_ids["good_c"]
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


def test_payout_off_by_one_wei_is_named(chain, artifacts, pure):
    model_id = pure.model_ids["good_a"]
    event = chain.settled[model_id][0]
    expected = event.payout_wei
    event.payout_wei += 1
    report = verify_round(chain, artifacts)
    [finding] = findings(report, model_id, "payout_wei")
    assert (finding.expected, finding.found) == (expected, expected + 1)
    assert findings(report, None, "round.rewards_wei")


def test_burn_off_by_one_wei_is_named_and_breaks_the_supply(chain, artifacts, pure):
    model_id = pure.model_ids["good_b"]
    event = chain.settled[model_id][0]
    assert event.burned_wei > 0
    event.burned_wei -= 1
    report = verify_round(chain, artifacts)
    [finding] = findings(report, model_id, "burned_wei")
    assert finding.found == finding.expected - 1
    assert findings(report, None, "round.burned_wei")
    chain.tournament_burns_wei -= 1
    assert findings(verify_round(chain, artifacts), None, "supply_fall_wei")


def test_forged_signature_is_named(chain, artifacts, pure):
    p = chain.accepted
    results = Results(chain.round_id, p.attempt, p.results_root, p.leaf_count, p.scored_at_risk_wei,
                      p.artifacts_hash, p.signer_set_version)
    p.signatures = sign_results(pure.domain, results, [SIGNERS[0].key, OUTSIDER.key])
    report = verify_round(chain, artifacts)
    [finding] = findings(report, None, "signatures")
    assert OUTSIDER.address in finding.found
    assert "not a current signer" in finding.message


def test_below_threshold_signatures_are_named(chain, artifacts):
    chain.accepted.signatures = chain.accepted.signatures[:1]
    [finding] = findings(verify_round(chain, artifacts), None, "signatures")
    assert "threshold is 2" in finding.message


def test_missing_submission_file_is_named(chain, artifacts, pure):
    model_id = pure.model_ids["good_b"]
    del artifacts.files[f"submissions/{model_id}.csv"]
    report = verify_round(chain, artifacts)
    [missing] = findings(report, model_id, f"file:submissions/{model_id}.csv")
    assert missing.found == "missing"
    [status] = findings(report, model_id, "status")
    assert (status.expected, status.found, status.message) == ("INVALID", "SCORED", "no submission file received")


def test_leaf_count_and_stake_cross_checks(chain, artifacts, pure):
    chain.accepted.leaf_count -= 1
    model_id = pure.model_ids["good_c"]
    chain.stakes[model_id].get_stake_wei += 5
    report = verify_round(chain, artifacts)
    assert findings(report, None, "leaf_count")[0].found == chain.staked_count - 1
    assert findings(report, model_id, "stake_wei")


def test_unsettled_stake_past_timeout_is_named_as_refundable(chain, artifacts, pure):
    model_id = pure.model_ids["constant"]
    del chain.settled[model_id]
    chain.round_settled = None
    chain.now = chain.accepted.challenge_end + 60
    report = verify_round(chain, artifacts)
    assert report.verdict == "PASS", "before the settle timeout an open stake is only pending"
    assert next(r for r in report.stakes if r.model_id == model_id).result == "PENDING"
    assert not any("refundable" in note for note in report.notes)
    chain.now = chain.accepted.challenge_end + chain.config["settleTimeout"]
    report = verify_round(chain, artifacts)
    # A late keeper is not a wrong payout: the protocol's refund applies, and the audit names it.
    assert report.verdict == "PASS"
    [note] = [n for n in report.notes if "refundable" in n]
    assert f"models {model_id} are refundable" in note and "refund()" in note


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


def test_scores_table_contradicting_the_leaves_is_named(chain, artifacts, pure):
    model_id = pure.model_ids["constant"]
    artifacts.files["scores.csv"] = artifacts.files["scores.csv"].replace(
        f"\n{model_id},".encode(), f"\n{model_id},".encode(), 1)
    text = artifacts.files["scores.csv"].decode().split("\n")
    line = next(k for k, row in enumerate(text) if row.startswith(f"{model_id},"))
    text[line] = text[line].replace(",INVALID,", ",SCORED,")
    artifacts.files["scores.csv"] = "\n".join(text).encode()
    remanifest(chain, artifacts)
    resign(chain)
    [finding] = verify_round(chain, artifacts).findings
    assert (finding.model_id, finding.field, finding.expected, finding.found) == \
        (model_id, "scores.csv.status", "INVALID", "SCORED")


def test_a_false_invalid_reason_in_the_scores_table_is_named(chain, artifacts, pure):
    model_id = pure.model_ids["constant"]
    artifacts.files["scores.csv"] = artifacts.files["scores.csv"].replace(
        b"all 300 predictions are equal", b"the file was late")
    remanifest(chain, artifacts)
    resign(chain)
    [finding] = verify_round(chain, artifacts).findings
    assert (finding.model_id, finding.field) == (model_id, "scores.csv.message")
    assert "all 300 predictions are equal" in finding.expected


# ------------------------------------------------------------------ v2: the attacks of 2026-11-30 now fail

def test_withheld_file_with_a_receipt_fails_naming_the_model_and_the_field(pure):
    victim = pure.model_ids["good_a"]
    files = {m: raw for m, raw in pure.inputs.files.items() if m != victim}
    # the operator withholds the file, drops its receipt from receipts.json, re-scores, re-signs, settles
    receipts = [r for r in pure.inputs.receipts if r.model_id != victim]
    cheat = republish(pure, _inputs(pure, files=files, receipts=receipts))
    assert verify_round(cheat.chain, cheat.artifacts).passed, "without the receipt the withheld file is invisible"
    report = verify_round(cheat.chain, cheat.artifacts, receipts=[pure.receipts[victim]])
    assert report.verdict == "FAIL"
    [file_finding] = findings(report, victim, "receipt:file")
    assert file_finding.found == "no file" and f"submissions/{victim}.*" in file_finding.expected
    assert "0x" + keccak(pure.committed[victim]).hex() in file_finding.expected
    [status] = findings(report, victim, "receipt:status")
    assert status.found == "INVALID" and "no submission file received" in status.message
    assert f"round 5 model {victim}: receipt:file" in str(file_finding)
    # the receipt in the artifacts' own receipts.json is enough too
    kept = republish(pure, _inputs(pure, files=files))
    assert {(victim, "receipt:file"), (victim, "receipt:status")} <= fields(verify_round(kept.chain, kept.artifacts))


def test_mismatching_copy_with_a_receipt_fails(pure):
    victim = pure.model_ids["good_c"]
    copy_ = pure.inputs.files[victim].replace(b"id0001,", b"id0001,0", 1)
    cheat = republish(pure, _inputs(pure, files={**pure.inputs.files, victim: copy_},
                                    receipts=[r for r in pure.inputs.receipts if r.model_id != victim]))
    assert cheat.scoring.outcome(victim).rule == "hash_mismatch"
    report = verify_round(cheat.chain, cheat.artifacts, receipts=[pure.receipts[victim]])
    [file_finding] = findings(report, victim, "receipt:file")
    assert file_finding.found.startswith(f"submissions/{victim}.csv with keccak256 0x")
    [status] = findings(report, victim, "receipt:status")
    assert "hash mismatch" in status.message


def test_receipts_that_do_not_bind_are_ignored_with_a_note(honest):
    victim = honest.model_ids["good_a"]
    good = honest.receipts[victim].receipt
    outsider = SignedReceipt(good, sign_receipt(OUTSIDER.key, honest.domain, good))
    late = UploadReceipt(good.round_id, good.model_id, good.submission_hash, honest.chain.close_time)
    late_signed = SignedReceipt(late, sign_receipt(SIGNERS[0].key, honest.domain, late))
    report = verify_round(honest.chain, honest.artifacts,
                          receipts=[outsider, late_signed, {"roundId": 5, "modelId": 1}])
    assert report.passed, [str(f) for f in report.findings]
    assert any("does not hold RECEIPT_ROLE" in n for n in report.notes)
    assert any("not before the close" in n for n in report.notes)
    assert any("unreadable receipt was ignored" in n and "submissionHash" in n for n in report.notes)


def test_live_ids_cut_after_open_fail(pure):
    lines = pure.inputs.live_ids_raw.decode().split("\n")
    cut = ("\n".join(lines[:251]) + "\n").encode()          # header + 250 of 300 ids
    cheat = republish(pure, _inputs(pure, live_ids_raw=cut))
    report = verify_round(cheat.chain, cheat.artifacts)
    [finding] = findings(report, None, "live_ids_hash")
    assert finding.expected == keccak(pure.inputs.live_ids_raw) and finding.found == keccak(cut)


def test_targets_differing_from_the_source_fail(pure):
    lines = pure.inputs.targets_raw.decode().split("\n")
    flipped = [lines[0]] + [f"{row.split(',')[0]},{1 - float(row.split(',')[1])}" for row in lines[1:] if row]
    other = ("\n".join(flipped) + "\n").encode()
    cheat = republish(pure, _inputs(pure, targets_raw=other))
    alone = verify_round(cheat.chain, cheat.artifacts)
    assert alone.passed and any("no targets source" in n for n in alone.notes)
    report = verify_round(cheat.chain, cheat.artifacts, targets_source=pure.inputs.targets_raw)
    [finding] = findings(report, None, "targets_source")
    assert finding.expected == "0x" + keccak(pure.inputs.targets_raw).hex()
    # the scores are recomputed from the source: every SCORED stake's corr is disputed
    assert {pure.model_ids[k] for k in ("good_a", "good_b", "good_c")} <= \
        {f.model_id for f in findings(report, field="corr")}
    assert verify_round(pure.chain, pure.artifacts, targets_source=pure.inputs.targets_raw).passed


@pytest.mark.parametrize("name", ["meta_model.csv", "scores.csv", "receipts.json", "leaves.json", "live_ids.csv",
                                  "targets.csv"])
def test_a_required_file_dropped_and_resigned_fails(chain, artifacts, name):
    del artifacts.files[name]
    remanifest(chain, artifacts)
    resign(chain)
    report = verify_round(chain, artifacts)
    assert report.verdict == "FAIL"
    [finding] = findings(report, None, f"file:{name}")
    assert (finding.expected, finding.found) == ("present", "missing") and name in finding.message


def test_a_missing_manifest_is_named(chain, artifacts):
    del artifacts.files[MANIFEST_NAME]
    report = verify_round(chain, artifacts)
    assert (None, f"file:{MANIFEST_NAME}") in fields(report)


def test_constant_targets_are_a_finding_not_a_traceback(chain, artifacts, pure):
    ids = [row for row in pure.inputs.live_ids_raw.decode().split("\n")[1:] if row]
    artifacts.files["targets.csv"] = ("id,target\n" + "".join(f"{i},0.5\n" for i in ids)).encode()
    remanifest(chain, artifacts)
    resign(chain)
    report = verify_round(chain, artifacts)
    [finding] = findings(report, None, "targets")
    assert finding.found == "constant" and "same target" in finding.message
    assert report.verdict == "FAIL" and len(report.stakes) == 6


@pytest.mark.parametrize("name, content, field", [
    ("targets.csv", b"PAR1\x00\x01 not really parquet", "file:targets.csv"),
    ("receipts.json", b"{not json", "file:receipts.json"),
    ("leaves.json", b"[{\"roundId\": 5}]", "file:leaves.json"),
    ("meta_model.csv", b"id,meta_model\nid0000,abc\n", "file:meta_model.csv"),
    ("scores.csv", b"\x00\x00binary", "file:scores.csv"),
    ("live_ids.csv", b"id\nx\nx\n", "file:live_ids.csv"),
])
def test_unreadable_inputs_are_findings_with_a_message(chain, artifacts, name, content, field):
    artifacts.files[name] = content
    remanifest(chain, artifacts)
    resign(chain)
    report = verify_round(chain, artifacts)
    assert report.verdict == "FAIL"
    named = findings(report, None, field)
    assert named and all(f.message and "\n" not in f.message for f in named), [str(f) for f in report.findings]
    assert not findings(report, None, "audit"), "the audit must finish, not stop on an exception"


def test_scored_at_risk_counting_an_invalid_whale_fails(pure):
    cheat = pure.copy()
    p = cheat.chain.accepted
    p.scored_at_risk_wei = cheat.chain.total_at_risk_wei          # the v1 rule: INVALID stakes dilute pf
    resign(cheat.chain)
    report = verify_round(cheat.chain, cheat.artifacts)
    [finding] = findings(report, None, "scored_at_risk_wei")
    assert (finding.expected, finding.found) == (pure.scoring.scored_at_risk_wei, cheat.chain.total_at_risk_wei)
    assert findings(report, None, "reserve_wei"), "the reserve follows scoredAtRisk"


def test_findings_print_where_they_are_not_a_bound_method(chain, artifacts, pure):
    chain.settled[pure.model_ids["good_a"]][0].payout_wei += 1
    report = verify_round(chain, artifacts)
    finding = findings(report, pure.model_ids["good_a"], "payout_wei")[0]
    assert finding.where == f"round 5 model {pure.model_ids['good_a']}"
    assert "bound method" not in str(finding) and str(finding).startswith(finding.where)
    assert report.to_json()["findings"][0]["where"].startswith("round 5")


def test_receipts_json_is_carried_byte_for_byte(honest):
    assert honest.artifacts.files["receipts.json"] == receipts_to_json(honest.receipts.values())
