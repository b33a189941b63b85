"""The read-only tournament explorer: an auditor's tool over the chain and the published artifacts.

A small Flask app rendered on the server (Jinja templates in `explorer/templates`, no
JavaScript, no CDN: it works offline on a laptop). It reads only public data: the
tournament's events and view calls through any RPC, and the published artifacts folder; each
round's audit verdict comes from `tournament.auditor.audit.verify_round`, so the explorer shows exactly
what `tournament audit` says. Every request pins one `ChainReader` at the head (one
get_block); everything a page shows is read at that block and cached until the next block,
so a page reloaded without a new block costs one call, and audits (which rescore the round)
are recomputed only when the chain moved.

Pages: `/` rounds (honest phases, audit labels; a round that cannot be read is shown as failed
next to the others), `/round/<id>` (stakes, INVALID reasons, findings, artifact downloads at
`/round/<id>/artifacts/<path>`), `/model/<id>`, `/tx/<hash>` (decoded call, NMR transfers, a
settlement as one table), `/address/<addr>` (every deposit, stake, settlement, refund and
withdrawal), `/contract` (configuration, roles, signers, pool, accounted NMR, burn entry point,
pause and clock, verification files), `/search?q=`. What the pages say is decided in
`explorer/pages.py` (pure) from what `explorer/reads.py` reads.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from flask import Flask, abort, redirect, render_template, request, send_file
from web3 import Web3

from tournament.auditor.audit import AuditReport, ChainView, read_artifacts, read_chain_view, verify_round
from tournament.auditor.explorer.pages import (
    RoundStatus,
    cell,
    classify_query,
    duration,
    nmr,
    nmr_exact,
    round_status,
    score,
    short,
    utc,
)
from tournament.auditor.explorer.reads import read_address, read_contract, read_tx, verification_folder
from tournament.chain.contracts import Deployment
from tournament.chain.errors import PHASES, ChainError
from tournament.chain.events import LogScanner
from tournament.chain.reader import ChainReader
from tournament.chain.types import EventLog, Status
from tournament.protocol.constants import MANIFEST_NAME, SCORES_NAME
from tournament.protocol.tables import TablesError, read_table

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


@dataclass
class ModelPoint:
    round_id: int
    stake_wei: int
    corr_nanos: Optional[int]
    mmc_nanos: Optional[int]
    payout_wei: int
    cumulative_wei: int
    status: str
    tx_hash: str


@dataclass
class Chart:
    """An inline SVG: cumulative earnings (line, NMR) over rounds and per-round corr/mmc (bars)."""

    width: int = 720
    height: int = 260
    earnings_points: str = ""
    bars: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    zero_y: float = 0.0
    score_zero_y: float = 0.0
    max_label: str = ""
    min_label: str = ""


def build_chart(points: list[ModelPoint]) -> Chart:
    """Pure layout of the model chart: top half earnings line, bottom half score bars."""
    chart = Chart()
    if not points:
        return chart
    left, right, top, mid, bottom = 60, chart.width - 20, 40, 130, chart.height - 30
    xs = [left + (right - left) * (i + 1) / (len(points) + 1) for i in range(len(points))]
    values = [0] + [p.cumulative_wei for p in points]
    hi, lo = max(values + [1]), min(values + [0])
    span = (hi - lo) or 1
    y_of = lambda v: top + (mid - top) * (hi - v) / span  # noqa: E731 - a one-line scale
    coords = [(left, y_of(0))] + [(x, y_of(p.cumulative_wei)) for x, p in zip(xs, points)]
    chart.earnings_points = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    chart.zero_y = y_of(0)
    chart.max_label, chart.min_label = nmr(hi, 2), nmr(lo, 2)
    scores = [abs(v) for p in points for v in (p.corr_nanos, p.mmc_nanos) if v is not None] + [1]
    scale = max(scores)
    half = (bottom - mid - 10) / 2
    chart.score_zero_y = mid + 10 + half
    bar_w = max(2.0, min(16.0, (right - left) / (len(points) + 1) / 3))
    for x, p in zip(xs, points):
        for offset, value, kind in ((-bar_w, p.corr_nanos, "corr"), (0.0, p.mmc_nanos, "mmc")):
            if value is None:
                continue
            length = half * abs(value) / scale
            y = chart.score_zero_y - length if value >= 0 else chart.score_zero_y
            chart.bars.append({"x": round(x + offset, 1), "y": round(y, 1), "w": round(bar_w, 1),
                               "h": round(max(length, 0.5), 1), "kind": kind,
                               "title": f"round {p.round_id} {kind} {score(value)}"})
        chart.labels.append({"x": round(x, 1), "text": str(p.round_id), "round_id": p.round_id})
    return chart


class ExplorerData:
    """Reads the chain (one pinned ChainReader per block) and the artifacts for the pages.

    Per-block reads (events, names, views) are memoised for the block. Audits, which rescore
    the round, are cached by the round's STATE, not by block: (phase, attempt, results root,
    staked and closed counts, total at risk, settled), read for every round in one batch; a
    round whose state did not change keeps its audit across blocks. An Open round's state also
    includes the block (stakes change without changing counts) but its audit is cheap (no
    artifacts). One lock per round: concurrent requests for a round wait for ONE computation.
    The index never waits for a recomputation when an earlier audit of the round exists: it
    shows that one (its block is on the report) while a background thread computes the new one.
    """

    def __init__(self, w3: Web3, deployment: Deployment, artifacts: Optional[str]):
        self.w3, self.deployment = w3, deployment
        self.artifacts = artifacts
        self.scanner = LogScanner()  # shared: what it learnt about the RPC's log limits is kept
        self._lock = threading.Lock()
        self._current = ChainReader(w3, deployment, scanner=self.scanner)
        self._cache: dict = {}
        self._audits: dict[int, tuple[Optional[tuple], tuple[ChainView, AuditReport, str]]] = {}  # (state, audit)
        self._round_locks: dict[int, threading.Lock] = {}
        self._refreshing: set[int] = set()
        self.audit_computations = 0   # how many audits were computed (a measurement for tests and the bench)

    def reader(self) -> ChainReader:
        """The reader of the current head: a new block gives a new reader and an empty per-block cache."""
        head = self._current.at("latest")
        with self._lock:
            if head.block_number > self._current.block_number:
                self._current, self._cache = head, {}
            return self._current

    def _memo(self, key, compute):
        self.reader()
        with self._lock:
            cache = self._cache
            lock = cache.setdefault(("lock", key), threading.Lock())
        with lock:   # one computation per key and block, however many requests ask at once
            if key not in cache:
                cache[key] = compute()
        return cache[key]

    def events(self, name: str, **filters: Any) -> list[EventLog]:
        return self.reader().events(name, filters or None)

    def round_ids(self) -> list[int]:
        return self._memo("round_ids", lambda: sorted({int(e.args["roundId"]) for e in self.events("RoundOpened")},
                                                      reverse=True))

    def round_states(self) -> dict[int, tuple]:
        """{round id: its state key} at the head: getRound + phase of every round in one batch."""
        def read() -> dict[int, tuple]:
            reader = self.reader()
            states = reader.rounds(self.round_ids())
            return {r: (int(st.phase), int(st.attempt), bytes(st.results_root), int(st.staked_count),
                        int(st.closed_count), int(st.total_at_risk_wei),
                        reader.block_number if st.phase.label == "Open" else None)
                    for r, st in states.items()}
        return self._memo("round_states", read)

    def chain_view(self, round_id: int) -> ChainView:
        reader = self.reader()   # the head's reader: the view and its memo belong to that block
        return self._memo(("view", round_id), lambda: read_chain_view(self.w3, self.deployment, round_id,
                                                                      reader=reader))

    def _compute_audit(self, round_id: int) -> tuple[ChainView, AuditReport, str]:
        view = self.chain_view(round_id)
        artifacts, source = None, ""
        if self.artifacts:
            try:
                artifacts = read_artifacts(self.artifacts, round_id)
                source = artifacts.source
                if "manifest.json" not in artifacts.files:
                    artifacts, source = None, ""
            except (FileNotFoundError, OSError) as error:
                log.info("round %s: no artifacts (%s)", round_id, error)
        self.audit_computations += 1
        return view, verify_round(view, artifacts), source

    def audit(self, round_id: int, *, wait: bool = True) -> tuple[ChainView, AuditReport, str]:
        """The round's chain view, its audit report, and where its artifacts came from ('' if none).

        Recomputed only when the round's state changed. With `wait=False` (the index) an older
        audit is returned at once while the new one is computed in the background."""
        state = self.round_states().get(round_id)
        with self._lock:
            lock = self._round_locks.setdefault(round_id, threading.Lock())
            cached = self._audits.get(round_id)
        if cached is not None and cached[0] == state:
            return cached[1]
        if not wait and cached is not None:
            self._refresh_in_background(round_id, state, lock)
            return cached[1]
        with lock:
            current = self._audits.get(round_id)
            if current is None or current[0] != state:
                current = (state, self._compute_audit(round_id))
                with self._lock:
                    self._audits[round_id] = current
        return current[1]

    def _refresh_in_background(self, round_id: int, state: Optional[tuple], lock: threading.Lock) -> None:
        with self._lock:
            if round_id in self._refreshing:
                return
            self._refreshing.add(round_id)

        def work() -> None:
            try:
                with lock:
                    cached = self._audits.get(round_id)
                    if cached is None or cached[0] != state:
                        result = (state, self._compute_audit(round_id))
                        with self._lock:
                            self._audits[round_id] = result
            except Exception as error:  # the page request that needs it will show the error
                log.warning("round %s: background audit failed: %s", round_id, error)
            finally:
                with self._lock:
                    self._refreshing.discard(round_id)
        threading.Thread(target=work, name=f"audit-{round_id}", daemon=True).start()

    def model_names(self) -> dict[int, tuple[str, str]]:
        return self._memo("models", lambda: {int(e.args["modelId"]): (e.args["name"], e.args["owner"])
                                             for e in self.events("ModelCreated")})


@dataclass
class RoundEntry:
    """One round as the pages show it: its chain view and audit, or why it could not be read."""

    id: int
    view: Optional[ChainView]
    report: Optional[AuditReport]
    source: str
    status: RoundStatus
    error: str = ""

    @property
    def s(self) -> dict:
        return self.report.summary if self.report else {}


def audit_entry(data: ExplorerData, round_id: int, *, wait: bool = True) -> RoundEntry:
    """The round's audit, or a failed entry: one bad round (unreadable artifacts or chain data, a
    bug) is shown as failed with the reason, and every other round is still served. `wait=False`
    (the index): an earlier audit of the round is shown while a newer one is computed."""
    try:
        view, report, source = data.audit(round_id, wait=wait)
    except Exception as error:  # never let one round break a page: the reason is shown instead
        log.exception("round %s could not be audited", round_id)
        reason = f"{type(error).__name__}: {error}"
        return RoundEntry(round_id, None, None, "", round_status(None, None, reason), reason)
    return RoundEntry(round_id, view, report, source, round_status(view, report, has_artifacts=bool(source)))


def artifacts_folder(artifacts: Optional[str], round_id: int) -> Optional[Path]:
    """The local folder holding round `round_id`'s artifacts, found as `read_artifacts` finds it
    (the folder itself, `rounds/<id>/artifacts`, or `<id>/`); None for an http(s) source or none."""
    if not artifacts or str(artifacts).startswith(("http://", "https://")):
        return None
    base = Path(artifacts)
    for candidate in (base, base / "rounds" / str(round_id) / "artifacts", base / str(round_id)):
        if (candidate / MANIFEST_NAME).is_file():
            return candidate
    return None


def artifact_files(artifacts: Optional[str], round_id: int) -> list[dict]:
    """[{path, size, href}] of the round's published files: links to this explorer for a local folder,
    to the publisher for an http(s) source (its manifest names the files)."""
    folder = artifacts_folder(artifacts, round_id)
    if folder is not None:
        return [{"path": p.relative_to(folder).as_posix(), "size": p.stat().st_size,
                 "href": f"/round/{round_id}/artifacts/{p.relative_to(folder).as_posix()}"}
                for p in sorted(folder.rglob("*")) if p.is_file()]
    if artifacts and str(artifacts).startswith(("http://", "https://")):
        base = str(artifacts).rstrip("/")
        return [{"path": MANIFEST_NAME, "size": None, "href": f"{base}/{MANIFEST_NAME}"}]
    return []


def invalid_reasons(folder: Optional[Path]) -> dict[int, str]:
    """{model_id: message} of the published scores table (the reason of every INVALID stake)."""
    if folder is None or not (folder / SCORES_NAME).is_file():
        return {}
    try:
        columns = read_table((folder / SCORES_NAME).read_bytes(), SCORES_NAME, ("model_id", "status", "message"))
        return {int(float(m)): str(msg or "") for m, status, msg in
                zip(columns["model_id"], columns["status"], columns["message"]) if str(status).strip() == "INVALID"}
    except (TablesError, ValueError, TypeError, OSError) as error:   # the audit reports the table itself
        log.info("scores table unreadable: %s", error)
        return {}


def send_inside(folder: Path, path: str) -> Any:
    """`folder/path` as a download, only when it really lies inside `folder` (no `..`, no absolute
    path, no symlink out of it); 404 otherwise."""
    root = folder.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        abort(404, f"{path} is not a published file")
    return send_file(target, as_attachment=True, download_name=target.name)


def check_deployed(w3: Web3, deployment: Deployment) -> None:
    """The deployment's contracts must exist at this RPC: a restarted dev chain without its state, or
    another chain with the same id, would otherwise show empty pages as if nothing had happened."""
    from tournament.chain.contracts import verify_deployment

    verify_deployment(w3, deployment)


def create_app(rpc_url: str | None = None, artifacts: Optional[str] = None, deployments_dir: Optional[str] = None,
               *, w3: Optional[Web3] = None, submissions_url: Optional[str] = None,
               event_cache: Any = None, data_dir: Optional[str | Path] = None) -> Flask:
    """The explorer app for the tournament deployed on the chain at `rpc_url`, with the staking
    web app (tournament.webapp) under /stake: auditors and participants use one site. `data_dir`
    (a `tournament data generate` folder) turns on the staking page's validation diagnostics."""
    from tournament.chain.rpc import connect

    if w3 is None:
        if not rpc_url:
            raise ValueError("the explorer needs an RPC URL (or a connected w3)")
        if not str(rpc_url).startswith(("http://", "https://")):
            raise ValueError(f"RPC URL {rpc_url!r} must start with http:// or https://, e.g. http://127.0.0.1:8545")
        w3 = connect(rpc_url)
    deployment = Deployment.for_rpc(w3, Path(deployments_dir) if deployments_dir else None, verify=False)
    check_deployed(w3, deployment)
    deployment_folder = Deployment.path_for(deployment.chain_id, Path(deployments_dir) if deployments_dir else None).parent
    if event_cache is not None:   # an EventCache or a path: log scans ask the RPC only for new blocks
        from tournament.chain.event_cache import attach_event_cache
        attach_event_cache(w3, event_cache)
    data = ExplorerData(w3, deployment, artifacts)
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC))
    app.config["EXPLORER"] = data
    from tournament.webapp import create_blueprint

    app.register_blueprint(create_blueprint(w3, deployment, submissions_url=submissions_url, data_dir=data_dir),
                           url_prefix="/stake")
    app.jinja_env.filters.update(nmr=nmr, nmr_exact=nmr_exact, score=score, short=short, utc=utc, duration=duration,
                                 cell=cell)
    app.jinja_env.globals.update(deployment=deployment, chain_id=deployment.chain_id)

    def rounds_known() -> list[int]:
        return data.round_ids()

    @app.route("/")
    def index() -> str:
        rounds = [audit_entry(data, round_id, wait=False) for round_id in rounds_known()]
        return render_template("index.html", rounds=rounds, title="Rounds")

    @app.route("/round/<int:round_id>")
    def round_page(round_id: int) -> str:
        if round_id not in rounds_known():
            abort(404, f"round {round_id} was never opened")
        entry = audit_entry(data, round_id)
        folder = artifacts_folder(artifacts, round_id)
        files = artifact_files(artifacts, round_id)
        if entry.view is None or entry.report is None:
            return render_template("round.html", entry=entry, view=None, report=None, files=files,
                                   title=f"Round {round_id}")
        view, report = entry.view, entry.report
        proposal = view.accepted
        signer_set = view.signer_sets.get(proposal.signer_set_version) if proposal else None
        reasons = invalid_reasons(folder)
        for row in report.stakes:
            if row.status == "INVALID" and not reasons.get(row.model_id) and row.message:
                reasons[row.model_id] = row.message   # recomputed when the table gives none
        return render_template("round.html", entry=entry, view=view, report=report, s=report.summary,
                               proposal=proposal, signer_set=signer_set, source=entry.source,
                               names=data.model_names(), reasons=reasons, files=files, title=f"Round {round_id}")

    @app.route("/round/<int:round_id>/artifacts/<path:path>")
    def artifact_download(round_id: int, path: str) -> Any:
        folder = artifacts_folder(artifacts, round_id)
        if folder is None:
            abort(404, f"round {round_id} has no published artifacts here")
        return send_inside(folder, path)

    @app.route("/model/<int:model_id>")
    def model_page(model_id: int) -> str:
        names = data.model_names()
        if model_id not in names:
            abort(404, f"model {model_id} does not exist")
        name, owner = names[model_id]
        points: list[ModelPoint] = []
        stakes = []
        unreadable = []
        cumulative = 0
        for round_id in sorted(rounds_known()):
            try:
                view = data.chain_view(round_id)
            except Exception as error:  # one unreadable round leaves the others on the page
                log.exception("round %s unreadable for model %s", round_id, model_id)
                unreadable.append((round_id, f"{type(error).__name__}: {error}"))
                continue
            stake = view.stakes.get(model_id)
            if stake is None:
                continue
            settled_events = view.settled.get(model_id)
            refund_events = view.refunds.get(model_id)
            settled = settled_events[-1] if settled_events else None
            refunded = refund_events[-1] if refund_events else None
            payout = settled.payout_wei if settled else 0
            cumulative += payout
            scored = settled is not None and settled.status == Status.SCORED
            status = Status(settled.status).name if settled else ("REFUNDED" if refunded else view.phase)
            closing = settled or refunded
            point = ModelPoint(round_id, stake.stake_wei, settled.corr_nanos if settled and scored else None,
                               settled.mmc_nanos if settled and scored else None, payout, cumulative,
                               status, closing.tx_hash if closing else stake.tx_hash)
            points.append(point)
            stakes.append((point, stake))
        return render_template("model.html", model_id=model_id, name=name, owner=owner, rows=stakes,
                               chart=build_chart(points), total=cumulative, unreadable=unreadable,
                               title=f"Model {model_id} {name}")

    @app.route("/tx/<tx_hash>")
    def tx_page(tx_hash: str) -> str:
        page = read_tx(data.reader(), "0x" + tx_hash.lower().removeprefix("0x")) if _is_tx_hash(tx_hash) else None
        if page is None:
            abort(404, f"transaction {tx_hash} not found on this chain")
        names = data.model_names()
        return render_template("tx.html", tx=page, names=names, title=f"Transaction {short(page.tx_hash)}")

    @app.route("/address/<address>")
    def address_page(address: str) -> Any:
        if not Web3.is_address(address):
            abort(404, f"{address} is not an address")
        address = Web3.to_checksum_address(address)
        if address.lower() in (deployment.tournament.lower(), deployment.nmr.lower()):
            return redirect(f"/contract#{'nmr' if address.lower() == deployment.nmr.lower() else 'tournament'}")
        info = read_address(data.reader(), address)
        return render_template("address.html", a=info, names=data.model_names(), title=f"Address {short(address)}")

    @app.route("/contract")
    def contract_page() -> str:
        info = read_contract(data.reader(), deployment_folder)
        return render_template("contract.html", c=info, title="Tournament contract")

    @app.route("/contract/files/<path:path>")
    def contract_file(path: str) -> Any:
        folder = verification_folder(deployment_folder, deployment.chain_id)
        if folder is None:
            abort(404, "this deployment folder has no verification files")
        return send_inside(folder, path)

    @app.route("/search")
    def search() -> Any:
        text = (request.args.get("q") or "").strip()
        if not text:
            return render_template("search.html", q="", results=[], title="Search")
        query = classify_query(text)
        if query.address:
            return redirect(f"/address/{Web3.to_checksum_address(query.address.lower())}")
        if query.tx_hash:
            if read_tx(data.reader(), query.tx_hash) is not None:
                return redirect(f"/tx/{query.tx_hash}")
            return render_template("search.html", q=text, results=[], title="Search",
                                   message=f"no transaction {short(query.tx_hash)} on this chain "
                                           "(a 32-byte hash that is not a transaction: try a round or model page)")
        results: list[dict] = []
        names = data.model_names()
        if query.number is not None:
            if not query.model_only and query.number in rounds_known():
                results.append({"kind": "round", "href": f"/round/{query.number}", "text": f"Round {query.number}"})
            if not query.round_only and query.number in names:
                name, owner = names[query.number]
                results.append({"kind": "model", "href": f"/model/{query.number}",
                                "text": f"Model {query.number} {name}", "owner": owner})
        if query.name:
            needle = query.name.lower()
            matches = sorted(((m, n, o) for m, (n, o) in names.items() if needle in n.lower()),
                             key=lambda x: (x[1].lower() != needle, x[0]))
            results += [{"kind": "model", "href": f"/model/{m}", "text": f"Model {m} {n}", "owner": o}
                        for m, n, o in matches[:100]]
        if len(results) == 1:
            return redirect(results[0]["href"])
        return render_template("search.html", q=text, results=results, title="Search",
                               message="" if results else f"nothing matches {text!r}: search an address, a "
                                                          "transaction hash, a round, a model id or name")

    @app.errorhandler(404)
    def not_found(error: Any) -> Any:
        return render_template("error.html", message=getattr(error, "description", str(error)), title="Not found"), 404

    @app.errorhandler(ChainError)
    def chain_down(error: ChainError) -> Any:
        return render_template("error.html", message=f"the chain could not be read: {error}",
                               title="Chain unavailable"), 502

    return app


def _is_tx_hash(text: str) -> bool:
    body = text[2:] if text[:2].lower() == "0x" else text
    return len(body) == 64 and all(c in "0123456789abcdefABCDEF" for c in body)


__all__ = ["ExplorerData", "PHASES", "RoundEntry", "artifacts_folder", "audit_entry", "build_chart", "create_app",
           "invalid_reasons", "nmr"]
