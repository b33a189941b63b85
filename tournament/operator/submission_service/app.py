"""The operator's submission API: signed prediction uploads in, files out to `collect` after close.

A Flask app (one process) in front of a `SubmissionStore`. A participant uploads the raw bytes
of a predictions file for (round, model) with an EIP-712 `Upload(roundId, modelId, fileHash,
expiry)` signature (domain "NumeraireTournament Submissions", version 1, the chain id, the
tournament address; see `tournament.participant.client.sign_upload`). An upload is accepted only when
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
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from flask import Flask, Response, jsonify, request
from web3 import Web3
from werkzeug.exceptions import HTTPException

from tournament.chain.client import ChainError, Deployment, tournament_contract, with_retries
from tournament.participant.client import format_time, recover_upload_signer
from tournament.operator.submission_service.store import SubmissionStore, hash_hex

log = logging.getLogger(__name__)

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


def create_app(settings: ApiSettings) -> Flask:
    """The submission API as a Flask app (serve it with `tournament serve submissions`)."""
    from tournament.protocol.submissions import validate_predictions

    app = Flask("tournament-submissions")
    # Werkzeug refuses bigger bodies while reading; leave a little room so our own check answers first.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + 1
    store = SubmissionStore(settings.data_dir)
    live_ids = _LiveIds(settings.rounds_dir)
    buckets = TokenBuckets(settings.rate_per_minute / 60.0, settings.rate_burst, settings.clock)
    # Fresh keys cost nothing, so one client could sign with many; a looser per-IP bucket caps that.
    ip_buckets = TokenBuckets(IP_RATE_FACTOR * settings.rate_per_minute / 60.0,
                              IP_RATE_FACTOR * settings.rate_burst, settings.clock)
    w3 = settings.w3
    tournament = tournament_contract(w3, settings.deployment)
    chain_id = int(w3.eth.chain_id)
    app.extensions["submission_store"] = store

    def chain(fn: Callable, what: str):
        try:
            return with_retries(fn, what, attempts=2)
        except ChainError as exc:
            log.error("%s", exc)
            raise ApiError(503, f"{what}: the chain node is unreachable; try again shortly") from None

    def chain_now() -> int:
        return int(chain(lambda: w3.eth.get_block("latest"), "reading the chain time")["timestamp"])

    def close_time_of(round_id: int) -> int:
        info = chain(lambda: tournament.functions.getRound(round_id).call(), f"reading round {round_id}")
        if int(info[0]) == 0:
            raise ApiError(404, f"round {round_id} does not exist on the tournament; check the round number")
        return int(info[0])

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        response = jsonify({"error": exc.message})
        response.status_code = exc.status
        for key, value in exc.headers.items():
            response.headers[key] = value
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        message = {
            404: "no such endpoint; see /v1/health and the API documentation (docs/PARTICIPANT.md)",
            405: f"method {request.method} is not allowed here",
            413: f"the upload is larger than the {settings.max_upload_bytes:,} bytes allowed; "
                 "upload only the id and prediction columns",
        }.get(exc.code or 500, exc.description or exc.name)
        response = jsonify({"error": message})
        response.status_code = exc.code or 500
        return response

    @app.get("/v1/health")
    def health():
        block = chain(lambda: w3.eth.get_block("latest"), "reading the latest block")
        return jsonify({"status": "ok", "chainId": chain_id, "tournament": settings.deployment.tournament,
                        "block": int(block["number"]), "chainTime": int(block["timestamp"]),
                        "maxUploadBytes": settings.max_upload_bytes})

    @app.get("/v1/rounds/<int:round_id>/live_ids")
    def get_live_ids(round_id: int):
        path = live_ids.path(round_id)
        if path is None:
            raise ApiError(404, f"round {round_id} has no published live ids yet; try again after the round opens")
        return Response(path.read_bytes(), mimetype="text/csv")

    @app.post("/v1/rounds/<int:round_id>/models/<int:model_id>/submission")
    def upload(round_id: int, model_id: int):
        length = request.content_length
        if length is None:
            raise ApiError(411, "send the file as the raw request body with a Content-Length header")
        if length > settings.max_upload_bytes:
            raise ApiError(413, f"the upload is {length:,} bytes, more than the {settings.max_upload_bytes:,} "
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
        expiry = int(expiry_text)
        if not _SIGNATURE.fullmatch(signature):
            raise ApiError(401, "X-Signature is not a 65-byte hex signature; sign the Upload message again")
        signature = canonical_signature(signature)
        try:
            signer = recover_upload_signer(signature, chain_id, settings.deployment.tournament, round_id, model_id,
                                           claimed_hash, expiry)
        except Exception:  # eth-keys raises several types for garbage signatures
            raise ApiError(401, "X-Signature cannot be verified (malformed signature); sign the Upload "
                                "message again") from None
        wait_s = max(buckets.take(signer.lower()), ip_buckets.take(request.remote_addr or "?"))
        if wait_s > 0:
            retry = max(1, int(wait_s + 0.999))
            raise ApiError(429, f"too many uploads from {signer}; wait {retry} s and try again",
                           {"Retry-After": str(retry)})

        close_time = close_time_of(round_id)
        now = chain_now()
        if now >= close_time:
            raise ApiError(403, f"round {round_id} closed at {format_time(close_time)}; uploads are no longer "
                                "accepted for it")
        if expiry <= now:
            raise ApiError(401, f"the signature expired at {format_time(expiry)} (chain time is "
                                f"{format_time(now)}); sign the upload again")
        if expiry > now + settings.max_expiry_s:
            raise ApiError(400, f"the signature's expiry is more than {settings.max_expiry_s} s ahead; "
                                "sign with a shorter expiry")
        owner = chain(lambda: tournament.functions.modelOwner(model_id).call(), f"reading model {model_id}")
        if int(owner, 16) == 0:
            raise ApiError(404, f"model {model_id} does not exist; create it first")
        if owner.lower() != signer.lower():
            raise ApiError(403, f"model {model_id} is owned by {owner}, but the upload was signed by {signer} "
                                "(or the signature does not match round, model, hash and expiry); "
                                "only the model's owner may upload its predictions")

        raw = request.get_data(cache=False)
        if len(raw) > settings.max_upload_bytes:
            raise ApiError(413, f"the upload is larger than the {settings.max_upload_bytes:,} bytes allowed")
        digest = hash_hex(raw)
        if digest != claimed_hash:
            raise ApiError(400, f"the body's keccak256 is {digest}, not the signed {claimed_hash}; "
                                "the file changed or was cut off in transit; upload it again")
        latest = store.latest(round_id, model_id)
        used = store.by_signature(signature)
        if latest is not None and latest.file_hash == digest:
            # The same bytes again: nothing changes, whatever signature came with them.
            return jsonify({**latest.as_json(), "status": "unchanged"}), 200
        if used is not None:
            raise ApiError(409, "this signature was already used for an earlier upload; sign this upload anew "
                                "(a replayed signature cannot bring back an older file)")
        result = validate_predictions(raw, live_ids.get(round_id), name=f"round {round_id} model {model_id}",
                                      max_bytes=settings.max_upload_bytes)
        if not result.valid:
            raise ApiError(400, result.message)
        record = store.record(round_id, model_id, raw, uploader=signer, signature=signature, expiry=expiry)
        return jsonify({**record.as_json(), "status": "stored", "predictions": int(len(result.predictions))}), 201

    @app.get("/v1/rounds/<int:round_id>/models/<int:model_id>/submission")
    def download(round_id: int, model_id: int):
        close_time = close_time_of(round_id)
        if chain_now() < close_time:
            raise ApiError(403, f"round {round_id} is open until {format_time(close_time)}; submissions are "
                                "served only after it closes")
        wanted = (request.args.get("hash") or "").lower()
        if wanted:
            # The operator asks for the file the stake committed to, which need not be the
            # latest upload (a participant may upload again and not re-stake).
            chosen = next((r for r in reversed(store.history(round_id, model_id)) if r.file_hash.lower() == wanted),
                          None)
            if chosen is None:
                raise ApiError(404, f"no upload with hash {wanted} for model {model_id} in round {round_id}")
        else:
            chosen = store.latest(round_id, model_id)
            if chosen is None:
                raise ApiError(404, f"no submission was uploaded for model {model_id} in round {round_id}")
        response = Response(store.read_file(chosen.file_hash), mimetype="application/octet-stream")
        response.headers["X-Submission-Hash"] = chosen.file_hash
        return response

    @app.get("/v1/rounds/<int:round_id>/models/<int:model_id>/uploads")
    def uploads(round_id: int, model_id: int):
        history = store.history(round_id, model_id)
        return jsonify({"roundId": round_id, "modelId": model_id,
                        "latest": history[-1].file_hash if history else None,
                        "uploads": [r.as_json() for r in history]})

    return app


def serve(app: Flask, host: str, port: int) -> None:
    """Runs the app in this process with werkzeug's threaded server until interrupted."""
    from werkzeug.serving import run_simple
    run_simple(host, port, app, threaded=True, use_reloader=False)
