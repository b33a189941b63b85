"""One co-signer request end to end: check, recompute, decide, persist, sign; logged and counted.

`SignerService.handle_sign(payload)` returns `(http_status, body)` per SIGNER_PROTOCOL.md:
200 with the signature, 409 with the first mismatch, 400 for a malformed request, 503 when
it cannot decide yet. Requests are handled one at a time (a lock): recomputing is CPU-bound
on a shared host, and it makes "check the ledger, then record" a single step. Every decision
is one JSON line in `<state-dir>/decisions.jsonl` (and the log): time, round, attempt,
decision, reason, root, duration.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import unquote, urlparse

from prometheus_client import CollectorRegistry, Counter, Histogram

from tournament.chain.keys import DigestSigner, SignerKeyError
from tournament.protocol.signing import results_digest
from tournament.signer.chain import SignerChain
from tournament.signer.decision import (
    NotReady,
    Refusal,
    RequestError,
    SignRequest,
    check_chain_state,
    compare,
    explain,
    parse_request,
    results_json,
)
from tournament.signer.gather import Sources, gather
from tournament.signer.ledger import Ledger, LedgerConflict
from tournament.signer.recompute import recompute

__all__ = ["SignerService"]

log = logging.getLogger(__name__)
decisions_log = logging.getLogger("tournament.signer.decisions")

DECISIONS_NAME = "decisions.jsonl"


class Metrics:
    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.requests = Counter("tournament_signer_requests", "HTTP requests by endpoint", ["endpoint"],
                                registry=registry)
        self.decisions = Counter("tournament_signer_decisions", "Sign requests by decision "
                                 "(signed, refused, not_ready, bad_request, error)", ["decision"], registry=registry)
        self.signed = Counter("tournament_signer_signed", "Results signed", registry=registry)
        self.refused = Counter("tournament_signer_refused", "Results refused", registry=registry)
        self.recompute_seconds = Histogram("tournament_signer_recompute_seconds", "Time to recompute a round",
                                           registry=registry, buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600))


def _fetch_artifacts(url: str) -> tuple[Optional[dict], str]:
    """The operator's artifacts (path -> bytes), only to explain a mismatch; (None, why) when unreadable."""
    from tournament.auditor.readers import read_artifacts

    location = unquote(urlparse(url).path) if url.startswith("file://") else url
    try:
        view = read_artifacts(location)
    except Exception as error:  # an unreadable folder only makes the explanation less precise
        return None, f"{type(error).__name__}: {error}"
    if not view.files:
        return None, f"nothing at {url}"
    return view.files, ""


class SignerService:
    """The co-signer: one key, one chain, its sources, its ledger."""

    def __init__(self, signer: DigestSigner, chain: SignerChain, sources: Sources, state_dir: Path,
                 registry: Optional[CollectorRegistry] = None):
        self.signer = signer
        self.chain = chain
        self.sources = sources
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(self.state_dir)
        self.metrics = Metrics(registry or CollectorRegistry())
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self.decisions_path = self.state_dir / DECISIONS_NAME

    # ---------------------------------------------------------------- the log
    def _decide(self, decision: str, reason: str, started: float, request: Optional[SignRequest] = None,
                payload: Any = None) -> None:
        round_id = request.round_id if request else (payload.get("round_id") if isinstance(payload, dict) else None)
        attempt = request.attempt if request else (payload.get("attempt") if isinstance(payload, dict) else None)
        line = {"time": round(time.time(), 3), "signer": self.signer.address, "round": round_id, "attempt": attempt,
                "decision": decision, "reason": reason,
                "root": "0x" + request.results.results_root.hex() if request else None,
                "duration_s": round(time.monotonic() - started, 3)}
        text = json.dumps(line, sort_keys=True)
        with self._log_lock:
            with open(self.decisions_path, "a") as handle:
                handle.write(text + "\n")
        decisions_log.info("%s", text)
        self.metrics.decisions.labels(decision).inc()
        if decision == "signed":
            self.metrics.signed.inc()
        elif decision == "refused":
            self.metrics.refused.inc()

    # ---------------------------------------------------------------- POST /v1/sign
    def handle_sign(self, payload: Any) -> tuple[int, dict]:
        started = time.monotonic()
        try:
            request = parse_request(payload)
        except RequestError as error:
            self._decide("bad_request", str(error), started, payload=payload)
            return 400, {"error": str(error)}
        with self._lock:
            try:
                return self._sign(request, started)
            except Refusal as refusal:
                self._decide("refused", str(refusal), started, request)
                return 409, {"signer": self.signer.address, "refused": str(refusal)}
            except NotReady as error:
                self._decide("not_ready", str(error), started, request)
                return 503, {"error": str(error)}
            except SignerKeyError as error:
                self._decide("error", f"signing key: {error}", started, request)
                return 503, {"error": f"the signer's key cannot sign: {error}"}
            except Exception as error:  # a bug or a chain outage must not take the service down
                log.exception("round %s attempt %s: unexpected error", request.round_id, request.attempt)
                self._decide("error", f"{type(error).__name__}: {error}", started, request)
                return 503, {"error": f"internal error ({type(error).__name__}); see the signer's log"}

    def _sign(self, request: SignRequest, started: float) -> tuple[int, dict]:
        results = request.results
        previous = self.ledger.get(request.round_id, request.attempt)
        if previous is not None and not self.ledger.same(previous, results):
            raise Refusal(f"round {request.round_id} attempt {request.attempt}: already signed other results "
                          f"(root {previous.results['results_root']}); a signer signs one result per attempt")
        state = self.chain.read_round(request.round_id)
        check_chain_state(request, state, self.signer.address)
        if previous is not None:  # the same results again (a retry): the stored signature
            self._decide("signed", "same results as already signed", started, request)
            return 200, {"signer": self.signer.address, "signature": previous.signature, "results": results_json(results)}
        domain = self.chain.domain()
        computing = time.monotonic()
        gathered = gather(state, domain, self.chain, self.sources, request.artifacts_url)
        try:
            mine = recompute(request.round_id, state.stakes, gathered.served, gathered.evidence.live_ids_raw,
                             gathered.evidence.targets_raw, gathered.receipts)
        except ValueError as error:   # unusable live ids or targets (TablesError, RoundScoringError)
            raise Refusal(f"round {request.round_id} cannot be scored from its published inputs: {error}") from None
        self.metrics.recompute_seconds.observe(time.monotonic() - computing)
        mismatch = compare(results, mine.results_root or b"\x00" * 32, mine.leaf_count, mine.scored_at_risk_wei,
                           mine.artifacts_hash)
        if mismatch is not None:
            artifacts, problem = (_fetch_artifacts(request.artifacts_url) if request.artifacts_url
                                  else (None, "no artifacts_url in the request"))
            raise Refusal(explain(results, mine, gathered.evidence, artifacts, problem))
        digest = results_digest(domain, results)
        signature = self.signer.sign_digest(digest)
        try:
            entry = self.ledger.record(results, signature, self.signer.address)
        except LedgerConflict as conflict:
            raise Refusal(f"round {request.round_id} attempt {request.attempt}: already signed other results "
                          f"(root {conflict}); a signer signs one result per attempt") from None
        self._decide("signed", "recomputed: root, leaf_count, scored_at_risk and artifacts_hash match", started, request)
        return 200, {"signer": self.signer.address, "signature": entry.signature, "results": results_json(results)}

    def health(self) -> dict:
        domain = self.chain.domain()
        return {"status": "ok", "signer": self.signer.address, "chain_id": domain.chain_id,
                "tournament": domain.verifying_contract}
