"""The submission API (tournament.operator.submission_service.app) on anvil, through Flask's test client.

Uploads are signed exactly as the client signs them (tournament.participant.client.sign_upload); the
chain decides ownership and the round's close by its own clock. Each refusal is pinned to its
status code and to words of its message: bad signature, someone else's model, after close,
expired or replayed signature, oversized, invalid file, unpublished live ids, rate limit; and
files are only served after close.
"""
from __future__ import annotations

import numpy as np
import pytest
from web3 import Web3

from tournament.chain.devchain import increase_time
from tournament.operator.submission_service.app import ApiSettings, TokenBuckets, create_app
from tournament.operator.submission_service.store import SubmissionStore, hash_hex
from tournament.participant.client import sign_upload

DAY = 86_400
IDS = [f"n{k:04d}" for k in range(100)]


def csv_bytes(seed: int, ids=IDS) -> bytes:
    values = np.random.default_rng(seed).uniform(0, 1, len(ids))
    return ("id,prediction\n" + "".join(f"{i},{v:.6f}\n" for i, v in zip(ids, values))).encode()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def api(deployed, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    live_ids_csv = ("id\n" + "\n".join(IDS) + "\n").encode()
    for round_id in (1, 2):
        (work / "rounds" / str(round_id)).mkdir(parents=True)
        (work / "rounds" / str(round_id) / "live_ids.csv").write_bytes(live_ids_csv)
    clock = Clock()
    data = tmp_path_factory.mktemp("api")
    app = create_app(ApiSettings(deployed.w3, deployed.deployment, data, work, max_upload_bytes=64 * 1024,
                                 rate_per_minute=60, rate_burst=5, clock=clock))
    t = deployed.tournament
    operator = deployed.transactor(deployed.operator)
    now = deployed.w3.eth.get_block("latest")["timestamp"]
    live_ids_hash = Web3.keccak(live_ids_csv)  # (v2) committed at open
    for round_id in (1, 2, 3):  # round 3 has no published live ids (its hash commits a file never served)
        operator.transact(t.functions.openRound(round_id, now + 7 * DAY, now + 40 * DAY, live_ids_hash), "opening")
    owner_key, stranger_key = deployed.keys[3], deployed.keys[4]
    model_id = t.events.ModelCreated().process_receipt(
        deployed.transactor(owner_key).transact(t.functions.createModel("owned"), "creating"))[0]["args"]["modelId"]
    return {"client": app.test_client(), "app": app, "clock": clock, "data": data, "model": model_id,
            "owner": owner_key, "stranger": stranger_key, "deployed": deployed}


def post(api, round_id, raw, *, key=None, model=None, expiry=None, signature=None, claimed=None):
    deployed = api["deployed"]
    model = api["model"] if model is None else model
    key = key or api["owner"]
    if expiry is None:
        expiry = deployed.w3.eth.get_block("latest")["timestamp"] + 600
    digest = claimed or hash_hex(raw)
    if signature is None:
        signature = sign_upload(key, deployed.w3.eth.chain_id, deployed.deployment.tournament, round_id, model,
                                digest, expiry)
    api["clock"].now += 10  # refill the bucket: rate limits are tested on their own
    return api["client"].post(f"/v1/rounds/{round_id}/models/{model}/submission", data=raw, headers={
        "X-Signature": signature, "X-Expiry": str(expiry), "X-Submission-Hash": digest,
        "Content-Type": "application/octet-stream"})


def test_health_names_the_chain_and_tournament(api):
    answer = api["client"].get("/v1/health").get_json()
    assert answer["status"] == "ok" and answer["chainId"] == 31337
    assert answer["tournament"] == api["deployed"].deployment.tournament


def test_owner_upload_is_stored_by_hash_and_repeat_is_idempotent(api):
    raw = csv_bytes(1)
    response = post(api, 1, raw)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["submissionHash"] == hash_hex(raw) and body["predictions"] == len(IDS)
    assert (api["data"] / "files" / hash_hex(raw)).read_bytes() == raw
    again = post(api, 1, raw)
    assert again.status_code == 200 and again.get_json()["status"] == "unchanged"
    assert len(SubmissionStore(api["data"]).history(1, api["model"])) == 1


def test_bad_signature_is_refused(api):
    raw = csv_bytes(2)
    garbage = post(api, 1, raw, signature="0x1234")
    assert garbage.status_code == 401 and "not a 65-byte" in garbage.get_json()["error"]
    # A real signature over a different hash recovers to some other address: not the owner.
    other = post(api, 1, raw, signature=sign_upload(api["owner"], 31337, api["deployed"].deployment.tournament,
                                                     1, api["model"], hash_hex(b"other"), 10**10))
    assert other.status_code == 403 and "only the model's owner" in other.get_json()["error"]
    mismatch = post(api, 1, raw, claimed=hash_hex(b"something else"))
    assert mismatch.status_code == 400 and "not the signed" in mismatch.get_json()["error"]


def test_upload_for_someone_elses_model_is_refused(api):
    response = post(api, 1, csv_bytes(3), key=api["stranger"])
    assert response.status_code == 403
    assert f"signed by {api['stranger'].address}" in response.get_json()["error"]
    assert SubmissionStore(api["data"]).latest(1, api["model"]).file_hash == hash_hex(csv_bytes(1))


def test_unknown_model_and_unknown_round_are_404(api):
    assert post(api, 1, csv_bytes(3), model=999).status_code == 404
    assert post(api, 77, csv_bytes(3)).status_code == 404


def test_invalid_file_gets_the_validate_message(api):
    raw = csv_bytes(4, IDS[:-3])
    response = post(api, 1, raw)
    assert response.status_code == 400
    assert "3 id(s) missing (first: n0097); every live id must have a prediction" in response.get_json()["error"]
    assert not (api["data"] / "files" / hash_hex(raw)).exists()


def test_oversized_upload_is_413(api):
    raw = b"id,prediction\n" + b"x" * (70 * 1024)
    response = post(api, 1, raw)
    assert response.status_code == 413 and "more than the 65,536 allowed" in response.get_json()["error"]


def test_round_without_published_live_ids_is_refused(api):
    response = post(api, 3, csv_bytes(5))
    assert response.status_code == 409 and "no published live ids" in response.get_json()["error"]


def test_expired_and_replayed_signatures_are_refused(api):
    deployed = api["deployed"]
    now = deployed.w3.eth.get_block("latest")["timestamp"]
    expired = post(api, 2, csv_bytes(6), expiry=now - 1)
    assert expired.status_code == 401 and "expired" in expired.get_json()["error"]
    first, second = csv_bytes(6), csv_bytes(7)
    expiry = now + 600
    signature = sign_upload(api["owner"], 31337, deployed.deployment.tournament, 2, api["model"],
                            hash_hex(first), expiry)
    assert post(api, 2, first, expiry=expiry, signature=signature).status_code == 201
    assert post(api, 2, second).status_code == 201
    replay = post(api, 2, first, expiry=expiry, signature=signature)
    assert replay.status_code == 409 and "already used" in replay.get_json()["error"]
    assert api["client"].get(f"/v1/rounds/2/models/{api['model']}/uploads").get_json()["latest"] == hash_hex(second)


def test_rate_limit_answers_429_with_retry_after(api):
    buckets = TokenBuckets(rate_per_s=1.0, burst=2, clock=lambda: 100.0)
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(1.0) and buckets.take("b") == 0.0
    raw = csv_bytes(1)
    responses = []
    for _ in range(7):  # burst 5 with the clock standing still
        responses.append(api["client"].post(f"/v1/rounds/1/models/{api['model']}/submission", data=raw, headers={
            "X-Signature": sign_upload(api["owner"], 31337, api["deployed"].deployment.tournament, 1, api["model"],
                                       hash_hex(raw), 10**10),
            "X-Expiry": str(10**10), "X-Submission-Hash": hash_hex(raw)}))
    assert responses[-1].status_code == 429 and int(responses[-1].headers["Retry-After"]) >= 1
    assert "too many uploads" in responses[-1].get_json()["error"]
    api["clock"].now += 60
    # Fresh keys do not escape: the per-IP bucket (4x the per-address one) stops them.
    from eth_account import Account
    statuses = []
    expiry = api["deployed"].w3.eth.get_block("latest")["timestamp"] + 600
    for _ in range(22):
        key = Account.create()
        statuses.append(api["client"].post(f"/v1/rounds/1/models/{api['model']}/submission", data=raw, headers={
            "X-Signature": sign_upload(key, 31337, api["deployed"].deployment.tournament, 1, api["model"],
                                       hash_hex(raw), expiry),
            "X-Expiry": str(expiry), "X-Submission-Hash": hash_hex(raw)}).status_code)
    assert statuses[:20] == [403] * 20 and statuses[20:] == [429, 429]
    api["clock"].now += 60


def test_files_are_served_only_after_close(api):
    deployed, client, model = api["deployed"], api["client"], api["model"]
    early = client.get(f"/v1/rounds/1/models/{model}/submission")
    assert early.status_code == 403 and "served only after it closes" in early.get_json()["error"]
    increase_time(deployed.w3, 8 * DAY)
    late_upload = post(api, 1, csv_bytes(8))
    assert late_upload.status_code == 403 and "round 1 closed at" in late_upload.get_json()["error"]
    served = client.get(f"/v1/rounds/1/models/{model}/submission")
    assert served.status_code == 200 and served.data == csv_bytes(1)
    assert served.headers["X-Submission-Hash"] == hash_hex(csv_bytes(1))
    assert client.get(f"/v1/rounds/1/models/{model + 50}/submission").status_code == 404
    # The operator asks for the committed file by its hash: served if it was uploaded, else 404.
    by_hash = client.get(f"/v1/rounds/1/models/{model}/submission?hash={hash_hex(csv_bytes(1))}")
    assert by_hash.status_code == 200 and by_hash.data == csv_bytes(1)
    never = client.get(f"/v1/rounds/1/models/{model}/submission?hash={hash_hex(csv_bytes(8))}")
    assert never.status_code == 404 and "no upload with hash" in never.get_json()["error"]


def test_receipt_key_signs_every_accepted_upload_and_lists_the_rounds_receipts(api, tmp_path):
    """(v2) With a receipt key: each accepted upload is answered with an UploadReceipt in the tournament's
    domain, the same receipt again for the same file, none for a refused upload; GET .../receipts lists them."""
    from tournament.protocol.receipts import parse_receipts, receipt_from_json
    from tournament.protocol.signing import domain_from_eip712_domain_call, recover_receipt_signer

    deployed = api["deployed"]
    receipt_key = deployed.keys[5]
    now = deployed.w3.eth.get_block("latest")["timestamp"]
    deployed.transactor(deployed.operator).transact(deployed.tournament.functions.openRound(
        4, now + 7 * DAY, now + 40 * DAY, Web3.keccak(text="live ids 4")), "opening")   # open whatever ran before
    work = tmp_path / "work" / "rounds" / "4"
    work.mkdir(parents=True)
    (work / "live_ids.csv").write_text("id\n" + "\n".join(IDS) + "\n")
    app = create_app(ApiSettings(deployed.w3, deployed.deployment, tmp_path / "data", tmp_path / "work",
                                 max_upload_bytes=64 * 1024, rate_per_minute=60, rate_burst=5, clock=api["clock"],
                                 receipt_key=receipt_key))
    signing_api = {**api, "client": app.test_client()}
    raw = csv_bytes(11)
    first = post(signing_api, 4, raw)
    assert first.status_code == 201, first.get_json()
    receipt = receipt_from_json(first.get_json()["receipt"])
    domain = domain_from_eip712_domain_call(deployed.tournament.functions.eip712Domain().call(), expect_version=None)
    assert recover_receipt_signer(domain, receipt.receipt, receipt.signature) == receipt_key.address
    assert (receipt.receipt.round_id, receipt.receipt.model_id) == (4, api["model"])
    assert "0x" + receipt.receipt.submission_hash.hex() == hash_hex(raw)
    assert receipt.receipt.received_at <= deployed.w3.eth.get_block("latest")["timestamp"]
    again = post(signing_api, 4, raw)
    assert again.status_code == 200 and again.get_json()["receipt"] == first.get_json()["receipt"]
    refused = post(signing_api, 4, b"id,prediction\n" + b"".join(f"{i},0.5\n".encode() for i in IDS))
    assert refused.status_code == 400 and "receipt" not in (refused.get_json() or {})
    listed = parse_receipts(signing_api["client"].get("/v1/rounds/4/receipts").get_data())
    assert listed == [receipt]
    assert parse_receipts(signing_api["client"].get("/v1/rounds/1/receipts").get_data()) == []
    # Without a receipt key the answer carries no receipt.
    keyless = create_app(ApiSettings(deployed.w3, deployed.deployment, tmp_path / "keyless", tmp_path / "work",
                                     max_upload_bytes=64 * 1024, rate_per_minute=60, rate_burst=5, clock=api["clock"]))
    answer = post({**api, "client": keyless.test_client()}, 4, csv_bytes(12))
    assert answer.status_code == 201 and answer.get_json()["receipt"] is None
