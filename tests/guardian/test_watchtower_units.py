"""Watchtower pieces without a chain: receipt rules, veto-reason lines, artifacts addresses, targets fallback."""
from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak

from tournament.auditor.audit import Finding
from tournament.guardian.receipts_inbox import ReceiptChecker, ReceiptRejected, ReceiptsInbox
from tournament.guardian.watch import (
    MAX_REASON_CHARS,
    ArtifactsNotPublished,
    WatchState,
    artifacts_location,
    fetch_published_targets,
    first_reason,
)
from tournament.protocol.signing import DOMAIN_TYPE_FIELDS, Domain, make_high_s

CONTRACT = "0x" + "ab" * 20
DOMAIN = Domain(31337, CONTRACT, version="1")
SERVICE = Account.from_key(keccak(b"unit-receipt-service"))
FILE_HASH = keccak(b"id,prediction\n")


def signed(key, round_id=3, model_id=7, digest=FILE_HASH, received_at=1000) -> dict:
    typed = {"types": {"EIP712Domain": DOMAIN_TYPE_FIELDS,
                       "UploadReceipt": [{"name": "roundId", "type": "uint256"}, {"name": "modelId", "type": "uint256"},
                                         {"name": "submissionHash", "type": "bytes32"},
                                         {"name": "receivedAt", "type": "uint64"}]},
             "primaryType": "UploadReceipt", "domain": DOMAIN.as_dict(),
             "message": {"roundId": round_id, "modelId": model_id, "submissionHash": digest, "receivedAt": received_at}}
    signature = Account.sign_message(encode_typed_data(full_message=typed), key.key).signature
    return {"round_id": round_id, "model_id": model_id, "submission_hash": "0x" + digest.hex(),
            "received_at": received_at, "signature": "0x" + bytes(signature).hex()}


@pytest.fixture
def checker():
    return ReceiptChecker(DOMAIN, has_role=lambda a: a == SERVICE.address,
                          commitments=lambda r, m: {FILE_HASH} if (r, m) == (3, 7) else set())


def test_a_receipt_by_the_service_of_a_real_stake_counts(checker):
    receipt = checker.check(signed(SERVICE))
    assert (receipt.signer, receipt.round_id, receipt.model_id, receipt.submission_hash) == (SERVICE.address, 3, 7,
                                                                                              FILE_HASH)


@pytest.mark.parametrize("change, reason", [
    (lambda r: signed(Account.from_key(keccak(b"someone"))), "not_receipt_role"),
    (lambda r: signed(SERVICE, model_id=8), "no_stake"),
    (lambda r: signed(SERVICE, digest=keccak(b"other")), "no_stake"),
    (lambda r: dict(r, signature="0x" + make_high_s(r["signature"]).hex()), "bad_signature"),
    (lambda r: dict(r, signature=r["signature"][:-2] + "00"), "bad_signature"),
    (lambda r: dict(r, signature="0x1234"), "malformed"),
    (lambda r: dict(r, submission_hash="0x12"), "malformed"),
    (lambda r: dict(r, received_at=-1), "malformed"),
    (lambda r: dict(r, round_id=True), "malformed"),
    (lambda r: [r], "malformed"),
])
def test_receipts_that_do_not_count_say_why(checker, change, reason):
    with pytest.raises(ReceiptRejected) as caught:
        checker.check(change(signed(SERVICE)))
    assert caught.value.reason == reason


def test_the_inbox_keeps_one_file_per_receipt_and_reads_participants_drops(tmp_path, checker):
    inbox = ReceiptsInbox(tmp_path)
    first = inbox.add(checker.check(signed(SERVICE)))
    assert inbox.add(checker.check(signed(SERVICE))) == first
    (tmp_path / "drop.json").write_text(json.dumps([signed(SERVICE, received_at=5),
                                                    signed(Account.from_key(keccak(b"forger")), received_at=6)]))
    (tmp_path / "junk.json").write_text("{not json")
    valid = inbox.valid_receipts(checker, 3)
    assert sorted(r.received_at for r in valid) == [5, 1000]
    assert inbox.valid_receipts(checker, 4) == []


def test_veto_reason_is_one_short_line():
    finding = Finding(5, 12, "status", "SCORED", "INVALID", "receipt shows the committed file was uploaded")
    assert first_reason(finding) == "model 12 status: expected SCORED, found INVALID (receipt shows the committed file was uploaded)"
    long = Finding(5, None, "results_root", b"\x01" * 32, b"\x02" * 32, "line one\nline two " * 40)
    reason = first_reason(long)
    assert reason.startswith("round 5 results_root: expected 0x0101") and "\n" not in reason
    assert len(reason) == MAX_REASON_CHARS and reason.endswith("...")


def test_artifacts_are_found_in_either_published_layout(tmp_path):
    (tmp_path / "rounds" / "4" / "artifacts").mkdir(parents=True)
    (tmp_path / "rounds" / "4" / "artifacts" / "manifest.json").write_text("{}")
    (tmp_path / "9").mkdir()
    (tmp_path / "9" / "manifest.json").write_text("{}")
    assert artifacts_location(str(tmp_path), 4) == f"{tmp_path}/rounds/4/artifacts"
    assert artifacts_location(str(tmp_path), 9) == f"{tmp_path}/9"
    assert artifacts_location(str(tmp_path) + "/{round}", 9) == f"{tmp_path}/9"
    with pytest.raises(ArtifactsNotPublished, match="round 5: no manifest.json"):
        artifacts_location(str(tmp_path), 5)


def test_targets_come_from_the_source_byte_for_byte(tmp_path):
    (tmp_path / "4").mkdir()
    (tmp_path / "4" / "targets.csv").write_bytes(b"id,target\na,0.5\n")
    assert fetch_published_targets(str(tmp_path), 4) == b"id,target\na,0.5\n"
    with pytest.raises(Exception, match="not published"):
        fetch_published_targets(str(tmp_path), 5)


def test_state_file_survives_and_a_corrupt_one_means_rescan(tmp_path):
    state = WatchState(tmp_path / "state.json")
    state.cursor, state.decisions = 42, {"1:0:0xab": {"verdict": "PASS"}}
    state.save()
    again = WatchState(tmp_path / "state.json")
    assert (again.cursor, again.decisions) == (42, {"1:0:0xab": {"verdict": "PASS"}})
    (tmp_path / "state.json").write_text("{broken")
    assert WatchState(tmp_path / "state.json").cursor is None


def test_receipts_in_the_published_camel_case_spelling_count_too(tmp_path, checker):
    snake = signed(SERVICE)
    camel = {"roundId": snake["round_id"], "modelId": snake["model_id"], "submissionHash": snake["submission_hash"],
             "receivedAt": snake["received_at"], "signature": snake["signature"]}
    assert checker.check(camel).signer == SERVICE.address
    (tmp_path / "receipts.json").write_text(json.dumps({"receipts": [camel]}))
    assert [r.model_id for r in ReceiptsInbox(tmp_path).valid_receipts(checker, 3)] == [7]
