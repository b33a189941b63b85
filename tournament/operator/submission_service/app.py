"""The operator's submission API: signed prediction uploads in, files out to `collect` after close.

A Flask app (one process) in front of a `SubmissionStore`. A participant uploads the raw bytes
of a predictions file for (round, model) with an EIP-712 `Upload(roundId, modelId, fileHash,
expiry)` signature (domain "NumeraireTournament Submissions", version 1, the chain id, the
tournament address; see `tournament.protocol.uploads`). An upload is accepted only when
the signer owns the model on-chain, the round is still open by the chain's clock (latest block
timestamp, so time-travelled local chains behave), the signature has not expired, the body's
keccak256 is the signed hash, it is within the size and rate limits, and the file is valid
against the round's published live ids (the same messages as `tournament validate`). A
signature is good for its own upload only: replaying an older one after a newer upload is
refused (409), while repeating the latest upload is an idempotent 200. Files of a round are
served (to the operator's collect step, or anyone) only once the round has closed: nobody can
peek at other predictions while it is open. Errors are JSON `{"error": "..."}` that say what
was wrong and what to do, with 400/401/403/404/409/411/413/429/503 status codes.

Endpoints:
  GET  /v1/health
  GET  /v1/rounds/<roundId>/live_ids                     the published live_ids.csv
  POST /v1/rounds/<roundId>/models/<modelId>/submission  raw body + X-Signature, X-Expiry,
                                                         X-Submission-Hash headers
  GET  /v1/rounds/<roundId>/models/<modelId>/submission  after close: raw bytes, X-Submission-Hash
       [?hash=0x...]                                       (that upload, else the latest)
  GET  /v1/rounds/<roundId>/models/<modelId>/uploads     hashes and sizes only (no contents)
  GET  /v1/rounds/<roundId>/receipts                     the round's signed upload receipts (receipts.json form)

Receipts (protocol v2): with a `receipt_key` (an address holding RECEIPT_ROLE), every accepted
upload is answered with an EIP-712 `UploadReceipt(roundId, modelId, submissionHash, receivedAt)`
signed in the tournament's domain, `receivedAt` being the chain time the upload was checked
at (before close, by the same check). The answer's `receipt` is the participant's proof that
the file was uploaded; the receipts endpoint lists them all for co-signers and the operator.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TypeVar

import numpy as np
from flask import Flask, Response, jsonify, request
from web3 import Web3
from werkzeug.exceptions import HTTPException

from tournament.chain.contracts import Deployment
from tournament.chain.errors import ChainError
from tournament.chain.events import LogScanner
from tournament.chain.reader import ChainReader
from tournament.operator.submission_service.store import SubmissionStore, hash_hex
from tournament.protocol.receipts import SignedReceipt, receipts_to_json
from tournament.protocol.signing import Domain, UploadReceipt, domain_from_eip712_domain_call, sign_receipt
from tournament.protocol.units import format_time
from tournament.protocol.uploads import recover_upload_signer

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_RATE_PER_MINUTE = 30.0
DEFAULT_RATE_BURST = 10
DEFAULT_MAX_EXPIRY_S = 24 * 3600
IP_RATE_FACTOR = 4   # per-IP bucket = this many times the per-address one
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_SIGNATURE = re.compile(r"(0x)?[0-9a-fA-F]{130}")
_SECP256K1_HALF_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2


def canonical_signature(signature: str) -> str:
    """The one spelling of a 65-byte signature that replay checks compare: 0x + lowercase hex, v as 27/28.

    The same signature can be written with or without 0x, with v as 0/1 or 27/28, and (ECDSA
    malleability) as (r, n - s) with the other v; all recover the same signer. High-s forms are
    refused, the rest mapped to one string, so none of them can slip an old signature past the
    used-signature check.
    """
    raw = bytearray(bytes.fromhex(signature[2:] if signature[:2].lower() == "0x" else signature))
    if int.from_bytes(raw[32:64], "big") > _SECP256K1_HALF_N:
        raise ApiError(401, "X-Signature is not canonical (its s value is in the upper half); sign the Upload "
                            "message again with a standard library")
    if raw[64] < 27:
        raw[64] += 27
    return "0x" + bytes(raw).hex()


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class TokenBuckets:
    """Per-key token buckets in memory: `burst` requests at once, refilled at `rate_per_s`."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate_per_s, self.burst, self.clock = rate_per_s, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when a token was taken; otherwise the seconds until one is available."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate_per_s)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate_per_s if self.rate_per_s > 0 else float("inf")


@dataclass
class ApiSettings:
    """What the service needs: the chain, where to keep files, where live ids are published."""

    w3: Web3
    deployment: Deployment
    data_dir: Path
    rounds_dir: Optional[Path] = None        # the operator's work dir (holds rounds/<id>/live_ids.csv)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE
    rate_burst: int = DEFAULT_RATE_BURST
    max_expiry_s: int = DEFAULT_MAX_EXPIRY_S  # how far ahead a signature's expiry may lie
    receipt_key: Any = field(default=None, repr=False)  # RECEIPT_ROLE key (LocalAccount or hex): signs receipts
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)  # for the rate limiter


class _LiveIds:
    """Live ids per round, read from the operator's published live_ids.csv (re-read on change)."""

    def __init__(self, rounds_dir: Optional[Path]):
        self.rounds_dir = Path(rounds_dir) if rounds_dir else None
        self._cache: dict[int, tuple[float, np.ndarray]] = {}
        self._lock = threading.Lock()

    def path(self, round_id: int) -> Optional[Path]:
        if self.rounds_dir is None:
            return None
        for candidate in (self.rounds_dir / "rounds" / str(round_id) / "live_ids.csv",
                          self.rounds_dir / str(round_id) / "live_ids.csv"):
            if candidate.exists():
                return candidate
        return None

    def get(self, round_id: int) -> np.ndarray:
        from tournament.data.synthetic import read_live_ids
        path = self.path(round_id)
        if path is None:
            raise ApiError(409, f"round {round_id} has no published live ids yet, so uploads cannot be "
                                "validated; try again once the operator has published them")
        mtime = path.stat().st_mtime
        with self._lock:
            cached = self._cache.get(round_id)
            if cached and cached[0] == mtime:
                return cached[1]
        try:
            ids = read_live_ids(path)
        except (OSError, ValueError) as exc:
            log.error("round %d: cannot read %s: %s", round_id, path, exc)
            raise ApiError(503, f"round {round_id}: the published live ids cannot be read; "
                                "tell the operator, then try again") from None
        with self._lock:
            self._cache[round_id] = (mtime, ids)
        return ids


@dataclass(frozen=True)
class _UploadRequest:
    """The signed claims of an upload, parsed and checked for form (not yet authenticated)."""

    round_id: int
    model_id: int
    signature: str  # canonical spelling
    claimed_hash: str
    expiry: int


class SubmissionService:
    """The API's state (store, live ids, rate limits, chain) and one small method per step."""

    def __init__(self, settings: ApiSettings):
        self.settings = settings
        self.store = SubmissionStore(settings.data_dir)
        self.live_ids = _LiveIds(settings.rounds_dir)
        self.buckets = TokenBuckets(settings.rate_per_minute / 60.0, settings.rate_burst, settings.clock)
        # Fresh keys cost nothing, so one client could sign with many; a looser per-IP bucket caps that.
        self.ip_buckets = TokenBuckets(IP_RATE_FACTOR * settings.rate_per_minute / 60.0,
                                       IP_RATE_FACTOR * settings.rate_burst, settings.clock)
        self.scanner = LogScanner()
        self._reader = self._chain(lambda: ChainReader(settings.w3, settings.deployment, scanner=self.scanner),
                                   "connecting to the chain")
        self.chain_id = int(self._reader.chain_id)
        self._domain: Optional[Domain] = None

    # ---------------------------------------------------------------- chain
    @staticmethod
    def _chain(fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except ChainError as exc:
            log.error("%s", exc)
            raise ApiError(503, f"{what}: the chain node is unreachable; try again shortly") from None

    def reader(self) -> ChainReader:
        """A reader pinned at the head now: the round check, chain time and owner of one request agree."""
        reader = self._chain(lambda: self._reader.at("latest"), "reading the chain")
        self._reader = reader  # the newest pin; each request keeps its own reader
        return reader

    def round_times(self, reader: ChainReader, round_id: int) -> int:
        """The round's close time; 404 for a round that was never opened."""
        state = self._chain(lambda: reader.round(round_id, with_opened_block=False), f"reading round {round_id}")
        if not state.exists:
            raise ApiError(404, f"round {round_id} does not exist on the tournament; check the round number")
        return state.close_time

    # ---------------------------------------------------------------- upload steps
    def parse_upload(self, round_id: int, model_id: int) -> _UploadRequest:
        length = request.content_length
        if length is None:
            raise ApiError(411, "send the file as the raw request body with a Content-Length header")
        if length > self.settings.max_upload_bytes:
            raise ApiError(413, f"the upload is {length:,} bytes, more than the {self.settings.max_upload_bytes:,} "
                                "allowed; upload only the id and prediction columns")
        signature = request.headers.get("X-Signature", "").strip()
        claimed_hash = request.headers.get("X-Submission-Hash", "").strip().lower()
        expiry_text = request.headers.get("X-Expiry", "").strip()
        if not signature or not claimed_hash or not expiry_text:
            raise ApiError(401, "missing X-Signature, X-Expiry or X-Submission-Hash header; sign the upload "
                                "with the model owner's key (`tournament participant submit` does it)")
        if not _HASH.fullmatch(claimed_hash):
            raise ApiError(400, "X-Submission-Hash must be 0x followed by 64 hex digits (keccak256 of the file)")
        if not expiry_text.isdigit() or int(expiry_text) >= 2**64:
            raise ApiError(400, "X-Expiry must be a unix time in seconds")
        if not _SIGNATURE.fullmatch(signature):
            raise ApiError(401, "X-Signature is not a 65-byte hex signature; sign the Upload message again")
        return _UploadRequest(round_id, model_id, canonical_signature(signature), claimed_hash, int(expiry_text))

    def signer_of(self, upload: _UploadRequest) -> str:
        try:
            return recover_upload_signer(upload.signature, self.chain_id, self.settings.deployment.tournament,
                                         upload.round_id, upload.model_id, upload.claimed_hash, upload.expiry)
        except Exception:  # eth-keys raises several types for garbage signatures
            raise ApiError(401, "X-Signature cannot be verified (malformed signature); sign the Upload "
                                "message again") from None

    def rate_limit(self, signer: str) -> None:
        wait_s = max(self.buckets.take(signer.lower()), self.ip_buckets.take(request.remote_addr or "?"))
        if wait_s > 0:
            retry = max(1, int(wait_s + 0.999))
            raise ApiError(429, f"too many uploads from {signer}; wait {retry} s and try again",
                           {"Retry-After": str(retry)})

    def check_round_and_owner(self, upload: _UploadRequest, signer: str) -> int:
        """Open by chain time, expiry sane, signer owns the model: all read at one block; returns that chain time."""
        reader = self.reader()
        close_time = self.round_times(reader, upload.round_id)
        now = reader.now()
        if now >= close_time:
            raise ApiError(403, f"round {upload.round_id} closed at {format_time(close_time)}; uploads are no "
                                "longer accepted for it")
        if upload.expiry <= now:
            raise ApiError(401, f"the signature expired at {format_time(upload.expiry)} (chain time is "
                                f"{format_time(now)}); sign the upload again")
        if upload.expiry > now + self.settings.max_expiry_s:
            raise ApiError(400, f"the signature's expiry is more than {self.settings.max_expiry_s} s ahead; "
                                "sign with a shorter expiry")
        owner = self._chain(lambda: reader.model_owner(upload.model_id), f"reading model {upload.model_id}")
        if owner is None:
            raise ApiError(404, f"model {upload.model_id} does not exist; create it first")
        if owner.lower() != signer.lower():
            raise ApiError(403, f"model {upload.model_id} is owned by {owner}, but the upload was signed by "
                                f"{signer} (or the signature does not match round, model, hash and expiry); "
                                "only the model's owner may upload its predictions")
        return now

    def read_body(self, upload: _UploadRequest) -> bytes:
        raw = request.get_data(cache=False)
        if len(raw) > self.settings.max_upload_bytes:
            raise ApiError(413, f"the upload is larger than the {self.settings.max_upload_bytes:,} bytes allowed")
        digest = hash_hex(raw)
        if digest != upload.claimed_hash:
            raise ApiError(400, f"the body's keccak256 is {digest}, not the signed {upload.claimed_hash}; "
                                "the file changed or was cut off in transit; upload it again")
        return raw

    def domain(self) -> Domain:
        """The tournament's EIP-712 domain, read once (receipts are signed in it)."""
        if self._domain is None:
            reader = self.reader()
            self._domain = domain_from_eip712_domain_call(
                self._chain(reader.eip712_domain, "reading the EIP-712 domain"), expect_version=None)
        return self._domain

    def receipt(self, upload: _UploadRequest, received_at: int) -> Optional[dict]:
        """The signed receipt of an accepted upload (the first one kept for the same file), or None without a key."""
        if self.settings.receipt_key is None:
            return None
        unsigned = UploadReceipt(upload.round_id, upload.model_id, bytes.fromhex(upload.claimed_hash[2:]),
                                 int(received_at))
        signature = "0x" + sign_receipt(self.settings.receipt_key, self.domain(), unsigned).hex()
        kept_at, kept_signature = self.store.add_receipt(upload.round_id, upload.model_id, upload.claimed_hash,
                                                         unsigned.received_at, signature)
        kept = UploadReceipt(upload.round_id, upload.model_id, unsigned.submission_hash, kept_at)
        return SignedReceipt(kept, bytes.fromhex(kept_signature[2:])).to_json()

    def store_upload(self, upload: _UploadRequest, signer: str, raw: bytes, now: int) -> tuple[Response, int]:
        from tournament.protocol.submissions import validate_predictions

        latest = self.store.latest(upload.round_id, upload.model_id)
        if latest is not None and latest.file_hash == upload.claimed_hash:
            # The same bytes again: nothing changes, whatever signature came with them.
            return jsonify({**latest.as_json(), "status": "unchanged", "receipt": self.receipt(upload, now)}), 200
        if self.store.by_signature(upload.signature) is not None:
            raise ApiError(409, "this signature was already used for an earlier upload; sign this upload anew "
                                "(a replayed signature cannot bring back an older file)")
        result = validate_predictions(raw, self.live_ids.get(upload.round_id),
                                      name=f"round {upload.round_id} model {upload.model_id}",
                                      max_bytes=self.settings.max_upload_bytes)
        if not result.valid:
            raise ApiError(400, result.message)
        record = self.store.record(upload.round_id, upload.model_id, raw, uploader=signer,
                                   signature=upload.signature, expiry=upload.expiry)
        return jsonify({**record.as_json(), "status": "stored", "predictions": (0 if result.predictions is None else int(len(result.predictions))),
                        "receipt": self.receipt(upload, now)}), 201

    # ---------------------------------------------------------------- handlers
    def health(self) -> Response:
        reader = self.reader()
        return jsonify({"status": "ok", "chainId": self.chain_id, "tournament": self.settings.deployment.tournament,
                        "block": reader.block_number, "chainTime": reader.now(),
                        "maxUploadBytes": self.settings.max_upload_bytes})

    def get_live_ids(self, round_id: int) -> Response:
        path = self.live_ids.path(round_id)
        if path is None:
            raise ApiError(404, f"round {round_id} has no published live ids yet; try again after the round opens")
        return Response(path.read_bytes(), mimetype="text/csv")

    def upload(self, round_id: int, model_id: int) -> tuple[Response, int]:
        upload = self.parse_upload(round_id, model_id)
        signer = self.signer_of(upload)
        self.rate_limit(signer)
        now = self.check_round_and_owner(upload, signer)
        return self.store_upload(upload, signer, self.read_body(upload), now)

    def download(self, round_id: int, model_id: int) -> Response:
        reader = self.reader()
        close_time = self.round_times(reader, round_id)
        if reader.now() < close_time:
            raise ApiError(403, f"round {round_id} is open until {format_time(close_time)}; submissions are "
                                "served only after it closes")
        wanted = (request.args.get("hash") or "").lower()
        if wanted:
            # The operator asks for the file the stake committed to, which need not be the
            # latest upload (a participant may upload again and not re-stake).
            chosen = next((r for r in reversed(self.store.history(round_id, model_id))
                           if r.file_hash.lower() == wanted), None)
            if chosen is None:
                raise ApiError(404, f"no upload with hash {wanted} for model {model_id} in round {round_id}")
        else:
            chosen = self.store.latest(round_id, model_id)
            if chosen is None:
                raise ApiError(404, f"no submission was uploaded for model {model_id} in round {round_id}")
        response = Response(self.store.read_file(chosen.file_hash), mimetype="application/octet-stream")
        response.headers["X-Submission-Hash"] = chosen.file_hash
        return response

    def receipts(self, round_id: int) -> Response:
        """Every upload receipt of the round (receipts.json's canonical form; empty without a receipt key)."""
        signed = [SignedReceipt(UploadReceipt(round_id, model_id, bytes.fromhex(file_hash[2:]), received_at),
                                bytes.fromhex(signature[2:]))
                  for model_id, file_hash, received_at, signature in self.store.receipts(round_id)]
        return Response(receipts_to_json(signed), mimetype="application/json")

    def uploads(self, round_id: int, model_id: int) -> Response:
        history = self.store.history(round_id, model_id)
        return jsonify({"roundId": round_id, "modelId": model_id,
                        "latest": history[-1].file_hash if history else None,
                        "uploads": [r.as_json() for r in history]})


def _api_error(exc: ApiError) -> Response:
    response = jsonify({"error": exc.message})
    response.status_code = exc.status
    for key, value in exc.headers.items():
        response.headers[key] = value
    return response


def _http_error_handler(max_upload_bytes: int) -> Callable[[HTTPException], Response]:
    def handle(exc: HTTPException) -> Response:
        message = {
            404: "no such endpoint; see /v1/health and the API documentation (docs/PARTICIPANT.md)",
            405: f"method {request.method} is not allowed here",
            413: f"the upload is larger than the {max_upload_bytes:,} bytes allowed; "
                 "upload only the id and prediction columns",
        }.get(exc.code or 500, exc.description or exc.name)
        response = jsonify({"error": message})
        response.status_code = exc.code or 500
        return response
    return handle


def create_app(settings: ApiSettings) -> Flask:
    """The submission API as a Flask app (serve it with `tournament serve submissions`)."""
    service = SubmissionService(settings)
    app = Flask("tournament-submissions")
    # Werkzeug refuses bigger bodies while reading; leave a little room so our own check answers first.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + 1
    app.extensions["submission_store"] = service.store
    app.extensions["submission_service"] = service
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error_handler(settings.max_upload_bytes))
    submission = "/v1/rounds/<int:round_id>/models/<int:model_id>/submission"
    app.add_url_rule("/v1/health", "health", service.health, methods=["GET"])
    app.add_url_rule("/v1/rounds/<int:round_id>/live_ids", "live_ids", service.get_live_ids, methods=["GET"])
    app.add_url_rule(submission, "upload", service.upload, methods=["POST"])
    app.add_url_rule(submission, "download", service.download, methods=["GET"])
    app.add_url_rule("/v1/rounds/<int:round_id>/models/<int:model_id>/uploads", "uploads", service.uploads,
                     methods=["GET"])
    app.add_url_rule("/v1/rounds/<int:round_id>/receipts", "receipts", service.receipts, methods=["GET"])
    return app


def serve(app: Flask, host: str, port: int) -> None:
    """Runs the app in this process with werkzeug's threaded server until interrupted."""
    from werkzeug.serving import run_simple
    run_simple(host, port, app, threaded=True, use_reloader=False)
