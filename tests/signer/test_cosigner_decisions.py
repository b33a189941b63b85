"""The co-signer signs an honest round and refuses every tamper the auditor catches, naming it."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_hash.auto import keccak
from signer_world import NMR, ROUND, TOURNAMENT, set_state

from tournament.protocol.results import INVALID, SCORED, Leaf
from tournament.protocol.signing import Domain, Results, recover_signer
from tournament.signer.recompute import recompute


def _results(payload) -> Results:
    r = payload["results"]
    return Results(r["round_id"], r["attempt"], r["results_root"], r["leaf_count"], int(r["scored_at_risk"]),
                   r["artifacts_hash"], r["signer_set_version"])


def _refused(world, payload) -> str:
    status, body = world.service().handle_sign(payload)
    assert status == 409, body
    assert body["signer"] == world.signer_account.address
    return body["refused"]


def test_honest_round_is_signed_with_a_signature_the_contract_accepts(world):
    honest = world.honest()
    assert {leaf.status for leaf in honest.leaves} == {SCORED, INVALID}   # both kinds of leaf are covered
    payload = world.publish(honest)
    status, body = world.service().handle_sign(payload)
    assert status == 200, body
    assert body["signer"] == world.signer_account.address
    signature = bytes.fromhex(body["signature"][2:])
    assert len(signature) == 65 and signature[64] in (27, 28)
    assert recover_signer(Domain(31337, TOURNAMENT), _results(payload), signature) == world.signer_account.address
    assert body["results"] == payload["results"]
    log = [json.loads(line) for line in (world.root / "signer-state" / "decisions.jsonl").read_text().splitlines()]
    assert log[-1]["decision"] == "signed" and log[-1]["round"] == ROUND and log[-1]["attempt"] == 0
    assert log[-1]["root"] == payload["results"]["results_root"] and log[-1]["duration_s"] >= 0


def test_withheld_file_with_a_receipt_is_refused(world):
    files = {m: raw for m, raw in world.files.items() if m != 12}
    scoring = recompute(ROUND, world.stakes, files, world.live_ids_raw, world.targets_raw, world.receipts)
    assert scoring.results_root != world.honest().results_root
    reason = _refused(world, world.publish(scoring))
    assert reason == "leaf of model 12: status INVALID, expected SCORED (file with a valid receipt withheld)"


def test_withheld_file_whose_receipt_the_operator_dropped_is_still_found_via_the_submission_service(world):
    receipts = [r for r in world.receipts if r.receipt.model_id != 12]
    files = {m: raw for m, raw in world.files.items() if m != 12}
    scoring = recompute(ROUND, world.stakes, files, world.live_ids_raw, world.targets_raw, receipts)
    reason = _refused(world, world.publish(scoring))
    assert reason == "leaf of model 12: status INVALID, expected SCORED (file with a valid receipt withheld)"


def test_mismatching_copy_in_the_artifacts_is_refused(world):
    honest = world.honest()
    other = world.files[13].replace(world.files[13].splitlines()[1], b"n000,0.123456")
    assert keccak(other) != keccak(world.files[13])
    leaves = [Leaf.invalid(ROUND, 13) if leaf.model_id == 13 else leaf for leaf in honest.leaves]

    def swap(files):
        files["submissions/13.csv"] = other

    reason = _refused(world, world.publish(honest, edit=swap, leaves=leaves))
    assert reason == (f"model 13: the artifacts' submissions/13.csv has keccak256 0x{keccak(other).hex()}, the stake "
                      f"committed to 0x{keccak(world.files[13]).hex()} (the submission service serves the committed file)")


def test_other_targets_are_refused(world):
    lines = world.targets_raw.splitlines()
    flipped = [lines[0]] + [line.replace(b",0.0", b",1.0") if b",0.0" in line else line.replace(b",1.0", b",0.0")
                            for line in lines[1:]]
    other_targets = b"\n".join(flipped) + b"\n"
    assert other_targets != world.targets_raw
    scoring = recompute(ROUND, world.stakes, world.files, world.live_ids_raw, other_targets, world.receipts)
    reason = _refused(world, world.publish(scoring))
    assert reason.startswith("targets differ from the targets source (the artifacts' targets.csv has keccak256 "
                             f"0x{keccak(other_targets).hex()}")


def test_cut_live_ids_are_refused(world):
    cut = b"\n".join(world.live_ids_raw.splitlines()[:-5]) + b"\n"
    scoring = recompute(ROUND, world.stakes, world.files, cut, world.targets_raw, world.receipts)
    reason = _refused(world, world.publish(scoring))
    assert reason.startswith("live ids differ from the round's liveIdsHash (the artifacts' live_ids.csv has 35 ids")
    assert reason.endswith("the committed file has 40)")


def test_a_wrong_score_is_refused_naming_the_leaf(world):
    honest = world.honest()
    target = next(leaf for leaf in honest.leaves if leaf.status == SCORED)
    wrong = replace(target, corr_nanos=target.corr_nanos + 1000)
    leaves = [wrong if leaf.model_id == target.model_id else leaf for leaf in honest.leaves]
    reason = _refused(world, world.publish(honest, leaves=leaves))
    assert reason == (f"leaf of model {target.model_id}: corr {target.corr_nanos + 1000} nanos, "
                      f"expected {target.corr_nanos} nanos")


def test_a_duplicate_leaf_is_refused(world):
    honest = world.honest()
    leaves = list(honest.leaves) + [honest.leaves[2]]
    reason = _refused(world, world.publish(honest, leaves=leaves))
    assert reason == f"model {honest.leaves[2].model_id} has 2 leaves, expected 1"


def test_a_missing_leaf_is_refused(world):
    honest = world.honest()
    leaves = [leaf for leaf in honest.leaves if leaf.model_id != 15]
    reason = _refused(world, world.publish(honest, leaves=leaves))
    assert reason == "no leaf for model 15 (staked 50 NMR)"


def test_a_wrong_scored_at_risk_is_refused(world):
    honest = world.honest()
    assert honest.scored_at_risk_wei == (10 + 20 + 30 + 40 + 50) * NMR   # model 16 (constant) is INVALID
    reason = _refused(world, world.publish(honest, scored_at_risk=(10 + 20 + 30 + 40 + 50 + 60) * NMR))
    assert reason == "scored_at_risk 210 NMR, expected 150 NMR"


def test_an_extra_file_in_the_artifacts_is_refused_naming_the_file(world):
    def extra(files):
        files["notes.txt"] = b"hello\n"

    reason = _refused(world, world.publish(edit=extra))
    assert reason.startswith("artifacts_hash ") and reason.endswith("(notes.txt not expected)")


def test_without_readable_artifacts_the_first_differing_field_is_named(world):
    payload = world.publish(scored_at_risk=1 * NMR)
    payload["artifacts_url"] = f"file://{world.root}/no-such-folder"
    reason = _refused(world, payload)
    assert reason.startswith("scored_at_risk 1 NMR, expected 150 NMR (artifacts unavailable:")


def test_a_second_request_for_the_same_attempt_with_another_root_is_refused_also_after_a_restart(world):
    honest = world.publish()
    status, first = world.service().handle_sign(honest)
    assert status == 200
    other = world.publish(leaves=[leaf for leaf in world.honest().leaves if leaf.model_id != 11])
    reason = _refused(world, other)
    assert reason == (f"round {ROUND} attempt 0: already signed other results (root "
                      f"{honest['results']['results_root']}); a signer signs one result per attempt")
    restarted = world.service()                      # a new process on the same state folder
    status, body = restarted.handle_sign(other)
    assert status == 409 and "already signed other results" in body["refused"]
    status, again = restarted.handle_sign(honest)    # the same results again: the same signature
    assert status == 200 and again["signature"] == first["signature"]


def test_the_next_attempt_after_a_veto_can_be_signed(world):
    assert world.service().handle_sign(world.publish())[0] == 200
    set_state(world, attempt=1)
    status, body = world.service().handle_sign(world.publish(attempt=1))
    assert status == 200, body


@pytest.mark.parametrize("changes, status, message", [
    ({"phase": "Closed"}, 503, "round 1001 is Closed at confirmed block 100; results can be signed once it is Resolvable"),
    ({"phase": "Proposed"}, 409, "round 1001 is Proposed at confirmed block 100"),
    ({"attempt": 1}, 409, "round 1001: attempt 0 is not the current attempt 1"),
    ({"signer_set_version": 2}, 409, "signer_set_version 1, expected 2"),
    ({"signers": ()}, 409, "is not in the current signer set"),
])
def test_chain_state_is_checked_before_anything_is_recomputed(world, changes, status, message):
    set_state(world, **changes)
    got, body = world.service().handle_sign(world.publish())
    assert got == status
    assert message in (body.get("refused") or body.get("error"))


def test_targets_not_yet_published_is_retryable(world):
    world.sources = replace(world.sources, targets=str(world.root / "empty-targets"))
    (world.root / "empty-targets").mkdir()
    status, body = world.service().handle_sign(world.publish())
    assert status == 503 and body["error"].startswith("targets not yet published")


def test_a_receipted_file_the_submission_service_does_not_serve_is_refused(world):
    (world.root / "submissions" / ("0x" + keccak(world.files[14]).hex())).unlink()
    reason = _refused(world, world.publish())
    assert reason == (f"model 14: a valid upload receipt of 0x{keccak(world.files[14]).hex()} exists, but the "
                      "submission service does not serve that file; the round cannot be recomputed")


def test_live_ids_that_do_not_match_the_chain_are_refused(world):
    (world.root / "live_ids.csv").write_bytes(world.live_ids_raw + b"n999\n")
    assert "the round's liveIdsHash is 0x" in _refused(world, world.publish())


def test_receipts_by_a_key_without_receipt_role_do_not_count(world):
    world.chain.receipt_role = set()
    (world.root / "submissions" / ("0x" + keccak(world.files[14]).hex())).unlink()
    files = {m: raw for m, raw in world.files.items() if m != 14}
    scoring = recompute(ROUND, world.stakes, files, world.live_ids_raw, world.targets_raw, [])
    status, body = world.service().handle_sign(world.publish(scoring))
    assert status == 200, body   # no valid receipt: a missing file is INVALID, as the protocol says


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p.pop("results"), "results must be an object"),
    (lambda p: p["results"].update(results_root="0x12"), "results_root must be 0x followed by 64 hex digits"),
    (lambda p: p["results"].update(attempt=3), "results are for round 1001 attempt 3, the request for round 1001 attempt 0"),
    (lambda p: p.update(round_id="x"), "round_id must be an integer"),
])
def test_malformed_requests_are_400(world, mutate, message):
    payload = world.publish()
    mutate(payload)
    status, body = world.service().handle_sign(payload)
    assert status == 400 and message in body["error"]
