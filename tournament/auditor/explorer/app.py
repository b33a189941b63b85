"""The read-only tournament explorer: rounds, stakes, models, transactions and addresses as web pages.

A small Flask app rendered on the server (Jinja templates in `explorer/templates`, no
JavaScript, no CDN: it works offline on a laptop). It reads only public data: the
tournament's events and view calls through any RPC, and the published artifacts folder; each
round's audit verdict comes from `tournament.auditor.audit.verify_round`, so the explorer shows exactly
what `tournament audit` says. Every request pins one `ChainReader` at the head (one
get_block); everything a page shows is read at that block and cached until the next block,
so a page reloaded without a new block costs one call, and audits (which rescore the round)
are recomputed only when the chain moved.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, Optional

from flask import Flask, abort, render_template
from web3 import Web3

from tournament.auditor.audit import AuditReport, ChainView, read_artifacts, read_chain_view, verify_round
from tournament.chain.contracts import Deployment
from tournament.chain.errors import PHASES
from tournament.chain.events import LogScanner
from tournament.chain.reader import ChainReader
from tournament.chain.types import EventLog, Status
from tournament.protocol import units

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def nmr(amount_wei: Optional[int], digits: int = 4) -> str:
    """Wei as NMR with `digits` decimals, exact (no floats), '-' when unknown."""
    return units.format_nmr(amount_wei, digits, grouping=True)


def score(nanos: Optional[int]) -> str:
    return "-" if nanos is None else f"{nanos / 1e9:+.6f}"


def utc(timestamp: Optional[int]) -> str:
    """A chain timestamp as a UTC date and time (the chain clock, which the demo moves)."""
    if not timestamp:
        return "-"
    from datetime import datetime
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d %H:%M UTC")


def short(text: str, keep: int = 10) -> str:
    text = str(text)
    return text if len(text) <= keep + 4 else f"{text[:keep]}…{text[-4:]}"


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
    """Reads the chain (one pinned ChainReader per block) and the artifacts for the pages."""

    def __init__(self, w3: Web3, deployment: Deployment, artifacts: Optional[str]):
        self.w3, self.deployment = w3, deployment
        self.artifacts = artifacts
        self.scanner = LogScanner()  # shared: what it learnt about the RPC's log limits is kept
        self._lock = threading.Lock()
        self._current = ChainReader(w3, deployment, scanner=self.scanner)
        self._cache: dict = {}

    def reader(self) -> ChainReader:
        """The reader of the current head: a new block gives a new reader and an empty cache."""
        head = self._current.at("latest")
        with self._lock:
            if head.block_number != self._current.block_number:
                self._current, self._cache = head, {}
            return self._current

    def _memo(self, key, compute):
        self.reader()
        with self._lock:
            cache = self._cache
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    def events(self, name: str, **filters: Any) -> list[EventLog]:
        return self.reader().events(name, filters or None)

    def round_ids(self) -> list[int]:
        return sorted({int(e.args["roundId"]) for e in self.events("RoundOpened")}, reverse=True)

    def chain_view(self, round_id: int) -> ChainView:
        reader = self.reader()   # the head's reader: the view and its memo belong to that block
        return self._memo(("view", round_id), lambda: read_chain_view(self.w3, self.deployment, round_id,
                                                                      reader=reader))

    def audit(self, round_id: int) -> tuple[ChainView, AuditReport, str]:
        """The round's chain view, its audit report, and where its artifacts came from ('' if none)."""
        def compute():
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
            return view, verify_round(view, artifacts), source
        return self._memo(("audit", round_id), compute)

    def model_names(self) -> dict[int, tuple[str, str]]:
        return self._memo("models", lambda: {int(e.args["modelId"]): (e.args["name"], e.args["owner"])
                                             for e in self.events("ModelCreated")})


def create_app(rpc_url: str | None = None, artifacts: Optional[str] = None, deployments_dir: Optional[str] = None,
               *, w3: Optional[Web3] = None, submissions_url: Optional[str] = None) -> Flask:
    """The explorer app for the tournament deployed on the chain at `rpc_url`, with the staking
    web app (tournament.webapp) under /stake: auditors and participants use one site."""
    from tournament.chain.rpc import chain_id, connect

    if w3 is None:
        if not rpc_url:
            raise ValueError("the explorer needs an RPC URL (or a connected w3)")
        w3 = connect(rpc_url)
    deployment = Deployment.load(chain_id(w3), Path(deployments_dir) if deployments_dir else None)
    data = ExplorerData(w3, deployment, artifacts)
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC))
    app.config["EXPLORER"] = data
    from tournament.webapp import create_blueprint

    app.register_blueprint(create_blueprint(w3, deployment, submissions_url=submissions_url), url_prefix="/stake")
    app.jinja_env.filters.update(nmr=nmr, score=score, short=short, utc=utc)
    app.jinja_env.globals.update(deployment=deployment, chain_id=deployment.chain_id)

    @app.route("/")
    def index():
        rounds = []
        for round_id in data.round_ids():
            view, report, source = data.audit(round_id)
            rounds.append({"id": round_id, "view": view, "report": report, "s": report.summary,
                           "artifacts": bool(source)})
        return render_template("index.html", rounds=rounds, title="Rounds")

    @app.route("/round/<int:round_id>")
    def round_page(round_id: int) -> str:
        if round_id not in data.round_ids():
            abort(404, f"round {round_id} was never opened")
        view, report, source = data.audit(round_id)
        proposal = view.accepted
        signer_set = view.signer_sets.get(proposal.signer_set_version) if proposal else None
        names = data.model_names()
        return render_template("round.html", view=view, report=report, s=report.summary, proposal=proposal,
                               signer_set=signer_set, source=source, names=names, title=f"Round {round_id}",
                               round_findings=report.findings_for(None))

    @app.route("/model/<int:model_id>")
    def model_page(model_id: int) -> str:
        names = data.model_names()
        if model_id not in names:
            abort(404, f"model {model_id} does not exist")
        name, owner = names[model_id]
        points: list[ModelPoint] = []
        stakes = []
        cumulative = 0
        for round_id in sorted(data.round_ids()):
            view = data.chain_view(round_id)
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
                               chart=build_chart(points), total=cumulative, title=f"Model {model_id} {name}")

    @app.route("/tx/<tx_hash>")
    def tx_page(tx_hash: str) -> str:
        info = data.reader().transaction(tx_hash) if _is_tx_hash(tx_hash) else None
        if info is None:
            abort(404, f"transaction {tx_hash} not found on this chain")
        call = {"name": info.call[0], "params": {k: _plain(v) for k, v in info.call[1].items()}} if info.call else None
        decoded = [{"name": e.name, "args": {k: _plain(v) for k, v in e.args.items()}, "log_index": e.log_index}
                   for e in info.events]
        return render_template("tx.html", tx={"from": info.sender, "to": info.to},
                               receipt={"blockNumber": info.block_number, "status": info.status,
                                        "gasUsed": info.gas_used},
                               call=call, events=decoded, tx_hash=info.tx_hash, title=f"Transaction {short(tx_hash)}")

    @app.route("/address/<address>")
    def address_page(address: str) -> str:
        if not Web3.is_address(address):
            abort(404, f"{address} is not an address")
        address = Web3.to_checksum_address(address)
        models = [(m, n) for m, (n, o) in sorted(data.model_names().items()) if o.lower() == address.lower()]
        balances = data.reader().balances(address)
        balance, token_balance = balances.wallet_wei, balances.nmr_wei
        flow_events = sorted(data.events("Deposited", owner=address) + data.events("Withdrawn", owner=address),
                             key=lambda e: (e.block_number, e.log_index))
        flows = [{"kind": e.name, "amount": int(e.args["amount"]), "tx": e.tx_hash, "block": e.block_number}
                 for e in flow_events]
        settled = [e for e in data.events("StakeSettled", owner=address)]
        return render_template("address.html", address=address, models=models, balance=balance,
                               token_balance=token_balance, flows=flows, settled=settled,
                               is_signer=address in sum((s.signers for s in _signer_sets(data)), []),
                               title=f"Address {short(address)}")

    @app.errorhandler(404)
    def not_found(error):
        return render_template("error.html", message=getattr(error, "description", str(error)), title="Not found"), 404

    return app


def _signer_sets(data: ExplorerData) -> list:
    from tournament.auditor.audit import SignerSetView

    return [SignerSetView(s.version, list(s.signers), s.threshold) for s in data.reader().signer_sets().values()]


def _is_tx_hash(text: str) -> bool:
    body = text[2:] if text[:2].lower() == "0x" else text
    return len(body) == 64 and all(c in "0123456789abcdefABCDEF" for c in body)


def _plain(value: Any) -> Any:
    """Event and calldata values as text a page can show."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if hasattr(value, "hex") and not isinstance(value, (str, int)):
        text = value.hex()
        return text if text.startswith("0x") else "0x" + text
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


__all__ = ["ExplorerData", "PHASES", "build_chart", "create_app", "nmr"]
