"""The watchtower: audit every results proposal inside its challenge window, veto the wrong ones.

One process holds one key, the guardian's (GUARDIAN_ROLE). Each pass:
1. finds the open proposals from the chain, at a confirmed block (`confirmations` behind the
   head): every ResultsProposed event since the scan cursor whose round is still Proposed at
   that attempt. The cursor (persisted in `state.json`) is the block of the oldest proposal
   still open, so a restarted watchtower finds every open window again; without a state
   folder it scans from the deployment block. The chain is the truth; the state file only
   saves work (audits already PASSed are not repeated);
2. audits each proposal not decided yet: the auditor's `verify_round` on the chain view and
   the published artifacts, plus two checks the auditor cannot make alone: the artifacts'
   targets must be the targets source's bytes, and every valid upload receipt handed in
   (a RECEIPT_ROLE signature of the stake's committed hash, received before close) must have
   its file in the artifacts and not be INVALID for lack of it;
3. vetoes a proposal with findings, the first finding as the reason (one line), after
   re-reading the chain at the head: the round must still be Proposed at the same attempt
   and root, and no veto of ours may still be pending, so it never vetoes twice nor vetoes a
   later, honest attempt by mistake;
4. leaves a correct proposal alone (PASS, logged).
An audit that raises (artifacts not published yet, targets source down, an RPC fault) is an
ERROR, not a finding: it is alerted and retried at the next pass, and never vetoes; one
round's error never stops the others. A WARNING goes out once per proposal when its window
has less than `warn_before_s` left and its audit has not finished. Every event is one JSON
log line; vetoes, errors and warnings also go to the apprise notifiers. `serve_http` exposes
`/health`, `/metrics` (Prometheus) and `POST /v1/receipts` on one waitress listener.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from eth_hash.auto import keccak

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from flask import Flask
    from web3 import Web3

from tournament.auditor.audit import Finding, read_artifacts, read_chain_view, verify_round
from tournament.chain.client import Deployment, Transactor
from tournament.chain.reader import ChainReader
from tournament.chain.types import Phase
from tournament.guardian.actions import veto as guardian_veto
from tournament.guardian.receipts_inbox import Receipt, ReceiptChecker, ReceiptRejected, ReceiptsInbox, parse_receipt
from tournament.protocol.artifacts import MANIFEST_NAME
from tournament.targets.client import fetch_targets

__all__ = ["AlertSink", "GUARDIAN_ROLE", "Proposal", "Verdict", "WatchError", "WatchSettings", "Watchtower",
           "fetch_published_targets", "first_reason", "serve_http"]

log = logging.getLogger(__name__)

GUARDIAN_ROLE = keccak(b"GUARDIAN_ROLE")
PROPOSED = Phase.PROPOSED
STATE_NAME = "state.json"
MAX_REASON_CHARS = 300           # the reason is stored in an event: one short line
VETO_PENDING_WAIT_S = 60.0       # how long a pass waits for a veto of ours still in the mempool
MAX_RECEIPT_BODY_BYTES = 64 * 1024


class WatchError(RuntimeError):
    """The watchtower cannot start or go on (bad key, bad option); the message says what to do."""


class ArtifactsNotPublished(RuntimeError):
    """The round's artifacts are not at the artifacts address yet (an audit error, not a finding)."""


# ------------------------------------------------------------------ records

@dataclass
class WatchSettings:
    artifacts: str                          # URL or folder: <base>/rounds/<id>/artifacts, <base>/<id>, or {round}
    targets_source: Optional[str] = None    # URL or folder of the targets source (None: not checked)
    receipts_dir: Optional[Path] = None     # receipts folder (handed-in receipts are stored here too)
    state_dir: Optional[Path] = None        # state.json (scan cursor, decisions); None: memory only
    confirmations: int = 0
    warn_before_s: int = 3600
    interval_s: float = 30.0


@dataclass(frozen=True)
class Proposal:
    """One ResultsProposed event whose window was open at the confirmed block."""

    round_id: int
    attempt: int
    results_root: bytes
    artifacts_hash: bytes
    challenge_end: int
    block_number: int
    tx_hash: str = ""

    @property
    def key(self) -> str:
        return f"{self.round_id}:{self.attempt}:0x{self.results_root.hex()}"


@dataclass
class Verdict:
    """What one audit of one proposal concluded, and what was done about it."""

    round_id: int
    attempt: int
    verdict: str                    # PASS | FAIL | ERROR
    reason: str = ""                # FAIL: the first finding (the veto reason); ERROR: why the audit did not run
    findings: list[str] = field(default_factory=list)
    veto_tx: str = ""
    action: str = ""                # vetoed | left alone | not vetoed: <why> | retry next pass

    def to_json(self) -> dict:
        return asdict(self)


def first_reason(finding: Finding) -> str:
    """A finding as one veto line, e.g. "model 12 status: expected SCORED, found INVALID (...)"."""
    where = f"model {finding.model_id}" if finding.model_id is not None else f"round {finding.round_id}"

    def show(value: Any) -> str:
        return "0x" + value.hex() if isinstance(value, bytes) else str(value)

    text = f"{where} {finding.field}: expected {show(finding.expected)}, found {show(finding.found)} ({finding.message})"
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 3] + "..."


# ------------------------------------------------------------------ alerts

class AlertSink:
    """One JSON log line per event, always; apprise notifications for what a human must see."""

    def __init__(self, notify_urls: Sequence[str] = (), *, source: str = "watchtower"):
        self.source = source
        self.urls = list(notify_urls)
        self._apprise = None
        if self.urls:
            import apprise

            self._apprise = apprise.Apprise()
            for url in self.urls:
                if not self._apprise.add(url):
                    raise WatchError(f"--notify {url}: not a notification URL apprise understands "
                                     "(e.g. json://host:port/path, mailto://..., slack://...)")

    def event(self, name: str, level: int = logging.INFO, **fields: Any) -> dict:
        record = {"ts": round(time.time(), 3), "source": self.source, "event": name,
                  "level": logging.getLevelName(level), **fields}
        log.log(level, json.dumps(record, sort_keys=True, default=str))
        return record

    def alert(self, name: str, title: str, body: str, level: int = logging.WARNING, **fields: Any) -> None:
        """A logged event plus a notification; a notifier that fails is logged, never raised."""
        self.event(name, level, title=title, message=body, **fields)
        if self._apprise is None:
            return
        import apprise

        kind = apprise.NotifyType.FAILURE if level >= logging.ERROR else (
            apprise.NotifyType.WARNING if level >= logging.WARNING else apprise.NotifyType.INFO)
        try:
            if not self._apprise.notify(title=title, body=body, notify_type=kind):
                self.event("notify_failed", logging.ERROR, title=title, urls=len(self.urls))
        except Exception as error:  # a notifier must never stop the watch
            self.event("notify_failed", logging.ERROR, title=title, error=str(error))


# ------------------------------------------------------------------ metrics

class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry()
        r = self.registry
        self.passes = Counter("watchtower_passes", "Watch passes run", registry=r)
        self.pass_errors = Counter("watchtower_pass_errors", "Watch passes that failed (e.g. RPC down)", registry=r)
        self.audits = Counter("watchtower_audits", "Audits by verdict", ["verdict"], registry=r)
        self.vetoes = Counter("watchtower_vetoes", "Vetoes sent", registry=r)
        self.warnings = Counter("watchtower_window_warnings", "Windows about to close before their audit finished",
                                registry=r)
        self.receipts = Counter("watchtower_receipts", "Receipts handed in, by outcome", ["outcome"], registry=r)
        self.open_proposals = Gauge("watchtower_open_proposals", "Proposals with an open window", registry=r)
        self.confirmed_block = Gauge("watchtower_confirmed_block", "Block the last pass read", registry=r)
        self.last_pass = Gauge("watchtower_last_pass_timestamp_seconds", "Unix time of the last finished pass",
                               registry=r)


# ------------------------------------------------------------------ inputs

def fetch_published_targets(source: str, round_id: int) -> bytes:
    """The round's targets from the targets source, byte for byte (`tournament.targets.client.fetch_targets`:
    an http(s) URL, a folder written by `tournament targets publish`, or one file)."""
    return fetch_targets(source, round_id)


def artifacts_location(base: str, round_id: int) -> str:
    """Where round `round_id`'s published artifacts are, given the --artifacts base.

    Tried in order: a base containing `{round}`; `<base>/rounds/<id>/artifacts` (the
    operator's work folder layout); `<base>/<id>`. Raises ArtifactsNotPublished when none has
    a manifest yet (then the audit is retried: not published is not a finding).
    """
    if "{round}" in base:
        candidates = [base.replace("{round}", str(round_id))]
    else:
        root = base.rstrip("/")
        candidates = [f"{root}/rounds/{round_id}/artifacts", f"{root}/{round_id}"]
    for candidate in candidates:
        if candidate.startswith(("http://", "https://")):
            import requests

            try:
                response = requests.get(f"{candidate}/{MANIFEST_NAME}", timeout=30)
            except requests.RequestException as error:
                raise ArtifactsNotPublished(f"{candidate}: unreachable ({type(error).__name__})") from None
            if response.status_code == 200:
                return candidate
        elif (Path(candidate) / MANIFEST_NAME).is_file():
            return candidate
    raise ArtifactsNotPublished(f"round {round_id}: no {MANIFEST_NAME} at {' or '.join(candidates)} yet")


# ------------------------------------------------------------------ state

class WatchState:
    """The scan cursor and the decisions so far; an optimisation only (the chain decides)."""

    def __init__(self, path: Optional[Path]):
        self.path = path
        self.cursor: Optional[int] = None
        self.decisions: dict[str, dict] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                self.cursor = int(data["cursor"]) if data.get("cursor") is not None else None
                self.decisions = dict(data.get("decisions") or {})
            except (ValueError, KeyError, TypeError) as error:
                log.warning("%s: unreadable (%s); rescanning from the deployment block", path, error)

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({"cursor": self.cursor, "decisions": self.decisions}, indent=1,
                                        sort_keys=True) + "\n")
        os.replace(temporary, self.path)


# ------------------------------------------------------------------ the watchtower

VetoFn = Callable[..., dict]


class Watchtower:
    """Audits every open proposal of one deployment and vetoes the wrong ones with `guardian`'s key."""

    def __init__(self, w3: Web3, deployment: Deployment, guardian: LocalAccount, settings: WatchSettings, *,
                 alerts: Optional[AlertSink] = None, veto: Optional[VetoFn] = None,
                 hook: Optional[Callable[[str, Proposal], None]] = None) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.guardian = guardian
        self.settings = settings
        self.alerts = alerts or AlertSink()
        self.veto_fn = veto or guardian_veto
        self.hook = hook
        # The root reader (contract bindings, log scanner); each pass pins its own confirmed block.
        self.reader = ChainReader(w3, deployment, confirmations=settings.confirmations)
        self.metrics = Metrics()
        self.state = WatchState(settings.state_dir / STATE_NAME if settings.state_dir else None)
        receipts_dir = settings.receipts_dir or (settings.state_dir / "receipts" if settings.state_dir else None)
        self.inbox = ReceiptsInbox(receipts_dir) if receipts_dir else None
        self.receipts = ReceiptChecker.for_chain(self.reader)   # hand-ins: checked at the head
        self.transactor = Transactor(w3, guardian, confirmations=settings.confirmations)
        self._warned: set[str] = set()
        self._errors: dict[str, str] = {}          # proposal key -> last error alerted
        self._open: list[Proposal] = []
        self._last_pass_at: Optional[float] = None
        self._lock = threading.Lock()

    # -------------------------------------------------------------- plumbing
    def _point(self, name: str, proposal: Proposal) -> None:
        """Named points of the veto path; tests inject crashes and races there."""
        if self.hook is not None:
            self.hook(name, proposal)

    def check_key(self) -> None:
        """The key must hold GUARDIAN_ROLE: a watchtower that cannot veto must not look like one."""
        if not self.reader.at("latest").has_role(GUARDIAN_ROLE, self.guardian.address):
            raise WatchError(f"{self.guardian.address} does not hold GUARDIAN_ROLE on tournament "
                             f"{self.deployment.tournament}; give the guardian's key (or ask the admin to grant it)")

    @staticmethod
    def _round(reader: ChainReader, round_id: int) -> tuple[Phase, int, bytes, int]:
        """(phase, attempt, results root, challenge end) of a round at `reader`'s block."""
        state = reader.round(round_id, with_opened_block=False)
        return state.phase, int(state.attempt), bytes(state.results_root), int(state.challenge_end)

    def chain_now(self) -> int:
        return self.reader.at("latest").now()

    def confirmed_reader(self) -> ChainReader:
        """A reader pinned at the confirmed block (`confirmations` behind the head)."""
        return self.reader.at("latest", self.settings.confirmations)

    def confirmed_block(self) -> int:
        return max(int(self.deployment.deploy_block), self.confirmed_reader().block_number)

    # -------------------------------------------------------------- finding proposals
    def open_proposals(self, reader: ChainReader) -> list[Proposal]:
        """Every proposal whose round is still Proposed at that attempt at `reader`'s block; moves the cursor."""
        block = reader.block_number
        start = self.state.cursor if self.state.cursor is not None else int(self.deployment.deploy_block)
        start = min(start, block)
        latest: dict[int, Any] = {}
        for event in reader.events("ResultsProposed", from_block=start):
            latest[int(event.args["roundId"])] = event       # chain order: the last one of a round counts
        found = []
        for round_id, event in sorted(latest.items()):
            args = event.args
            phase, attempt, root, _end = self._round(reader, round_id)
            if phase != PROPOSED or attempt != int(args["attempt"]) or root != bytes(args["resultsRoot"]):
                continue
            found.append(Proposal(round_id, int(args["attempt"]), bytes(args["resultsRoot"]),
                                  bytes(args["artifactsHash"]), int(args["challengeEnd"]), event.block_number,
                                  event.tx_hash))
        # Resume point: the oldest window still open (a restart must find it again), else past this block.
        self.state.cursor = min([p.block_number for p in found], default=block + 1)
        return found

    # -------------------------------------------------------------- one pass
    def run_once(self) -> list[Verdict]:
        """Audits every open, undecided proposal once; never raises for one round's trouble."""
        with self._lock:
            verdicts: list[Verdict] = []
            try:
                pinned = self.confirmed_reader()   # the pass reads, and audits, the chain as of this block
                block = pinned.block_number
                proposals = self.open_proposals(pinned)
            except Exception as error:
                self.metrics.pass_errors.inc()
                self.alerts.alert("watch_error", "watchtower: cannot read the chain",
                                  f"watch pass failed: {error}", logging.ERROR)
                return verdicts
            self._open = proposals
            self.metrics.open_proposals.set(len(proposals))
            self.metrics.confirmed_block.set(block)
            undecided = [p for p in proposals if p.key not in self.state.decisions]
            for proposal in proposals:
                if proposal.key in self.state.decisions:
                    self.alerts.event("already_decided", logging.DEBUG, round=proposal.round_id, attempt=proposal.attempt,
                                      verdict=self.state.decisions[proposal.key].get("verdict"))
            try:
                self._warn_closing(undecided)
            except Exception as error:
                self.alerts.event("warn_check_failed", logging.ERROR, error=str(error))
            for proposal in undecided:
                try:
                    self._warn_closing([proposal])
                    verdict = self.handle(proposal, pinned)
                except Exception as error:  # even the handler's own trouble never stops the other rounds
                    verdict = Verdict(proposal.round_id, proposal.attempt, "ERROR", f"watchtower error: {error}",
                                      action="retry next pass")
                    self._alert_error(proposal, verdict.reason)
                verdicts.append(verdict)
            self.state.save()
            self.metrics.passes.inc()
            self._last_pass_at = time.time()
            self.metrics.last_pass.set(self._last_pass_at)
            self.alerts.event("pass", block=block, open=len(proposals), audited=len(verdicts))
            return verdicts

    def _warn_closing(self, proposals: Sequence[Proposal]) -> None:
        if not proposals:
            return
        now = self.chain_now()
        for proposal in proposals:
            left = proposal.challenge_end - now
            if proposal.key in self._warned or left >= self.settings.warn_before_s:
                continue
            self._warned.add(proposal.key)
            self.metrics.warnings.inc()
            self.alerts.alert("window_closing", f"watchtower WARNING: round {proposal.round_id} window closes soon",
                              f"round {proposal.round_id} attempt {proposal.attempt}: {max(left, 0)}s left in the "
                              "challenge window and its audit has not finished", logging.WARNING,
                              round=proposal.round_id, attempt=proposal.attempt, seconds_left=max(left, 0))

    def _alert_error(self, proposal: Proposal, reason: str) -> None:
        self.metrics.audits.labels("ERROR").inc()
        if self._errors.get(proposal.key) == reason:     # the same error again: log, do not page again
            self.alerts.event("audit_error", logging.ERROR, round=proposal.round_id, attempt=proposal.attempt,
                              reason=reason, repeated=True)
            return
        self._errors[proposal.key] = reason
        self.alerts.alert("audit_error", f"watchtower: round {proposal.round_id} audit could not run", reason,
                          logging.ERROR, round=proposal.round_id, attempt=proposal.attempt, reason=reason)

    def handle(self, proposal: Proposal, reader: Optional[ChainReader] = None) -> Verdict:
        """Audit one proposal (at `reader`'s block; default: the confirmed block now); veto it on a real
        finding; record the decision."""
        self.alerts.event("audit_start", round=proposal.round_id, attempt=proposal.attempt,
                          challenge_end=proposal.challenge_end)
        try:
            findings = self.audit(proposal, reader)
        except Exception as error:
            reason = " ".join(f"audit could not run: {error}".split())[:MAX_REASON_CHARS]
            self._alert_error(proposal, reason)
            return Verdict(proposal.round_id, proposal.attempt, "ERROR", reason, action="retry next pass")
        self._errors.pop(proposal.key, None)
        if not findings:
            self.metrics.audits.labels("PASS").inc()
            verdict = Verdict(proposal.round_id, proposal.attempt, "PASS", action="left alone")
            self.alerts.event("audit_pass", round=proposal.round_id, attempt=proposal.attempt,
                              root="0x" + proposal.results_root.hex())
            self._decide(proposal, verdict)
            return verdict
        self.metrics.audits.labels("FAIL").inc()
        reason = first_reason(findings[0])
        lines = [first_reason(f) for f in findings]
        verdict = Verdict(proposal.round_id, proposal.attempt, "FAIL", reason, lines)
        self.alerts.event("audit_fail", logging.WARNING, round=proposal.round_id, attempt=proposal.attempt,
                          reason=reason, findings=len(findings))
        self._point("veto:before", proposal)
        tx, why_not, retry = self._veto(proposal, reason)
        if retry:       # the veto could not be sent (RPC, gas, a pending tx): not decided, next pass tries again
            verdict.action = f"veto failed: {why_not}; retry next pass"
            self.alerts.alert("veto_failed", f"watchtower: round {proposal.round_id} veto FAILED",
                              f"round {proposal.round_id} attempt {proposal.attempt}: {reason}; the veto failed: "
                              f"{why_not}; retrying at the next pass", logging.CRITICAL,
                              round=proposal.round_id, attempt=proposal.attempt, reason=reason)
            return verdict
        if tx:
            verdict.veto_tx, verdict.action = tx, "vetoed"
            self.metrics.vetoes.inc()
            self.alerts.alert("veto", f"watchtower vetoed round {proposal.round_id} attempt {proposal.attempt}",
                              f"round {proposal.round_id} attempt {proposal.attempt} vetoed: {reason} (tx {tx})",
                              logging.ERROR, round=proposal.round_id, attempt=proposal.attempt, reason=reason, tx=tx,
                              findings=lines[:20])
        else:
            verdict.action = f"not vetoed: {why_not}"
            self.alerts.alert("veto_skipped", f"watchtower: round {proposal.round_id} failed its audit, not vetoed",
                              f"round {proposal.round_id} attempt {proposal.attempt}: {reason}; not vetoed: {why_not}",
                              logging.ERROR, round=proposal.round_id, attempt=proposal.attempt, reason=reason)
        self._decide(proposal, verdict)
        return verdict

    def _decide(self, proposal: Proposal, verdict: Verdict) -> None:
        self.state.decisions[proposal.key] = {"verdict": verdict.verdict, "reason": verdict.reason,
                                              "veto_tx": verdict.veto_tx, "action": verdict.action,
                                              "challenge_end": proposal.challenge_end}
        self.state.save()

    # -------------------------------------------------------------- veto
    def _veto(self, proposal: Proposal, reason: str) -> tuple[str, str, bool]:
        """(tx hash, "", False) when vetoed; ("", why not, False) when the chain moved on meanwhile (a
        veto already mined, another guardian's, a closed window); ("", why, True) when it could not be sent."""
        deadline = time.monotonic() + VETO_PENDING_WAIT_S
        while self.transactor.pending_count() > 0:      # an earlier veto of ours may still be on its way
            if time.monotonic() > deadline:
                return "", "a transaction of the guardian is still pending", True
            time.sleep(0.5)
        # At the head, not the confirmed block: a veto already mined must be seen before sending another.
        phase, attempt, root, _end = self._round(self.reader.at("latest"), proposal.round_id)
        if phase != PROPOSED or attempt != proposal.attempt or root != proposal.results_root:
            return "", (f"the round is now {phase.label} at attempt {attempt}: this proposal was already vetoed "
                        "or its window closed"), False
        try:
            receipt = self.veto_fn(self.w3, self.deployment, self.guardian, proposal.round_id, reason,
                                   confirmations=self.settings.confirmations)
        except Exception as error:     # ChainError, TransactionReverted, GuardianError: re-read at the next pass
            return "", " ".join(str(error).split()), True
        self._point("veto:sent", proposal)
        return "0x" + bytes(receipt["transactionHash"]).hex(), "", False

    # -------------------------------------------------------------- the audit
    def audit(self, proposal: Proposal, reader: Optional[ChainReader] = None) -> list[Finding]:
        """Every finding against `proposal` (empty: correct), read at `reader`'s block (default: the
        confirmed block now). Raises when the audit cannot run."""
        reader = reader or self.confirmed_reader()
        chain = read_chain_view(self.w3, self.deployment, proposal.round_id, reader=reader)
        current = chain.accepted
        if current is None or current.attempt != proposal.attempt or current.results_root != proposal.results_root:
            raise RuntimeError(f"round {proposal.round_id}: the chain no longer shows attempt {proposal.attempt} "
                               "as the open proposal")
        location = artifacts_location(self.settings.artifacts, proposal.round_id)
        artifacts = read_artifacts(location, proposal.round_id)
        targets = (fetch_published_targets(self.settings.targets_source, proposal.round_id)
                   if self.settings.targets_source else None)
        # Receipts are checked at the same block as the rest of the audit.
        receipts = (self.inbox.valid_receipts(ReceiptChecker.for_chain(reader, follow_head=False), proposal.round_id)
                    if self.inbox else [])
        # The auditor checks the targets against the source and the receipts itself.
        report = verify_round(chain, artifacts, targets_source=targets, receipts=[r.to_json() for r in receipts])
        findings: list[Finding] = list(report.findings)
        self.alerts.event("audit_done", round=proposal.round_id, attempt=proposal.attempt, artifacts=location,
                          findings=len(findings), auditor_verdict=report.verdict)
        return findings

    # -------------------------------------------------------------- receipts handed in
    def hand_in(self, data: Any) -> Receipt:
        """Checks a receipt handed in over HTTP and stores it; ReceiptRejected says why not."""
        if self.inbox is None:
            raise ReceiptRejected("no_inbox", "this watchtower keeps no receipts (start it with --receipts DIR)")
        try:
            receipt = self.receipts.check(parse_receipt(data))
        except ReceiptRejected as error:
            self.metrics.receipts.labels(error.reason).inc()
            self.alerts.event("receipt_rejected", logging.WARNING, reason=error.reason, message=str(error))
            raise
        self.inbox.add(receipt)
        self.metrics.receipts.labels("stored").inc()
        self.alerts.event("receipt_stored", round=receipt.round_id, model=receipt.model_id, signer=receipt.signer)
        return receipt

    def health(self) -> tuple[bool, dict]:
        stale_after = 3 * self.settings.interval_s + 120
        fresh = self._last_pass_at is not None and time.time() - self._last_pass_at < stale_after
        return fresh, {"status": "ok" if fresh else "stale", "guardian": self.guardian.address,
                       "chain_id": int(self.deployment.chain_id), "tournament": self.deployment.tournament,
                       "last_pass": self._last_pass_at, "open_proposals": len(self._open),
                       "decided": len(self.state.decisions)}

    # -------------------------------------------------------------- the loop
    def run(self, stop: Optional[threading.Event] = None, once: bool = False) -> None:
        """Passes every `interval_s` seconds until `stop` is set (or one pass with `once`)."""
        stop = stop or threading.Event()
        self.alerts.event("start", guardian=self.guardian.address, tournament=self.deployment.tournament,
                          chain_id=int(self.deployment.chain_id), cursor=self.state.cursor)
        while True:
            self.run_once()
            if once or stop.wait(self.settings.interval_s):
                break
        self.alerts.event("stop")


# ------------------------------------------------------------------ HTTP: health, metrics, receipts

def create_app(watchtower: Watchtower) -> Flask:
    from flask import Flask, Response, jsonify, request
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    app = Flask("tournament-watchtower")
    app.config["MAX_CONTENT_LENGTH"] = MAX_RECEIPT_BODY_BYTES

    @app.get("/health")
    def health():
        ok, body = watchtower.health()
        return jsonify(body), 200 if ok else 503

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(watchtower.metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.post("/v1/receipts")
    def receipts():
        data = request.get_json(silent=True)
        if data is None:
            return jsonify({"error": "send one receipt as JSON {round_id, model_id, submission_hash, received_at, "
                                     "signature}"}), 400
        try:
            receipt = watchtower.hand_in(data)
        except ReceiptRejected as error:
            status = {"not_receipt_role": 403, "no_stake": 422, "no_inbox": 503}.get(error.reason, 400)
            return jsonify({"error": str(error), "reason": error.reason}), status
        except Exception as error:   # e.g. the RPC is down: the participant may retry
            log.warning("receipt check failed: %s", error)
            return jsonify({"error": f"cannot check the receipt now ({type(error).__name__}); retry later"}), 503
        return jsonify({"stored": True, "signer": receipt.signer, "round_id": receipt.round_id,
                        "model_id": receipt.model_id}), 201

    return app


class HttpServer:
    """A waitress server in a background thread; `port` is the bound port (0 picks a free one)."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        from waitress.server import create_server

        self._server = create_server(app, host=host, port=port, threads=4, clear_untrusted_proxy_headers=True)
        self.host = host
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="watchtower-http", daemon=True)

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.close()
        self._thread.join(timeout=5)


def serve_http(watchtower: Watchtower, listen: str) -> HttpServer:
    """Starts /health, /metrics and POST /v1/receipts on `listen` ("HOST:PORT")."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise WatchError(f"--listen {listen}: use HOST:PORT, e.g. 127.0.0.1:9100")
    return HttpServer(create_app(watchtower), host.strip("[]"), int(port)).start()
