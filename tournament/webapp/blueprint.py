"""The staking page's Flask Blueprint: the page, its static files, and its JSON endpoints.

Endpoints (relative to where the blueprint is registered, e.g. /stake):
  GET  /                                   the page (templates/webapp/stake.html)
  GET  /static/<file>                      stake.js, stake.css
  GET  /vendor/ethers.umd.min.js           ethers v6, from static/vendor (copied from node_modules
                                           by `make webapp-assets`) or straight from node_modules
  GET  /api/config                         chain id, addresses, ABIs, token capabilities, upload typed data
  GET  /api/rounds                         recent rounds: phase, close/resolve times, multiplier bounds
  GET  /api/account/<address>              models and unclosed stakes of an address
  POST /api/rounds/<r>/validate[?name=f]   the protocol's validation of a predictions file
                                           (tournament.protocol.submissions, the CLI's words)
  POST /api/rounds/<r>/models/<m>/submission
                                           passed through to the submission API (same headers);
                                           the page never talks to another origin
  GET  /api/leaderboard                    every model's settled rounds (tournament.participant.leaderboard)
  POST /api/diagnostics[?name=f]           diagnostics of a VALIDATION predictions file against the
                                           server's data folder (`data_dir`), with the SVG chart

The server holds no key and sends no transaction: the page builds, simulates and sends them
through the user's wallet. Errors are JSON {"error": "..."}: one line saying what was wrong.
Amounts in JSON are decimal strings of wei (JavaScript numbers lose precision above 2^53); the
leaderboard also gives them as exact NMR strings.
"""
from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar

import requests
from eth_utils import keccak, to_checksum_address
from flask import Blueprint, Response, abort, jsonify, render_template, request, send_file
from web3 import Web3

from tournament.chain.artifacts import PROJECT_ROOT, load_artifact
from tournament.chain.contracts import Deployment
from tournament.chain.errors import ChainError
from tournament.chain.events import LogScanner
from tournament.chain.reader import ChainReader
from tournament.chain.token import token_capabilities
from tournament.chain.types import Phase
from tournament.participant.diagnostics import DiagnosticsError
from tournament.participant.diagnostics_files import diagnose_file
from tournament.participant.leaderboard import REPUTATION_ROUNDS, LeaderboardRow, read_leaderboard
from tournament.protocol.submissions import MAX_SUBMISSION_BYTES, validate_predictions
from tournament.protocol.units import format_nmr
from tournament.protocol.uploads import UPLOAD_DOMAIN_NAME, UPLOAD_DOMAIN_VERSION, UPLOAD_TYPES

if TYPE_CHECKING:
    import numpy as np

    from tournament.chain.types import RoundState

log = logging.getLogger(__name__)
T = TypeVar("T")

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
ETHERS_FILE = "ethers.umd.min.js"
VENDORED_ETHERS = STATIC / "vendor" / ETHERS_FILE
NODE_MODULES_ETHERS = PROJECT_ROOT / "node_modules" / "ethers" / "dist" / ETHERS_FILE
UPLOAD_TTL_S = 3600          # how long an upload signature stays good (the API allows up to a day)
MAX_ROUNDS_LISTED = 50
MAX_DIAGNOSTICS_BYTES = 200 * 1024 * 1024   # a validation file is larger than a live one


class WebappError(Exception):
    """An error the page shows as one line: {"error": message} with an HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def ethers_path() -> Optional[Path]:
    """Where ethers' UMD build is: the app's static copy first, else node_modules (after `npm ci`)."""
    for candidate in (VENDORED_ETHERS, NODE_MODULES_ETHERS):
        if candidate.is_file():
            return candidate
    return None


class _Chain:
    """Lazily connected chain state of the blueprint: one LogScanner, a reader pinned per request."""

    def __init__(self, w3: Web3, deployment: Deployment):
        self.w3, self.deployment = w3, deployment
        self.scanner = LogScanner()
        self._reader: Optional[ChainReader] = None
        self._token: Optional[dict] = None
        self._lock = threading.Lock()

    @staticmethod
    def guard(fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except ChainError as exc:
            log.error("%s: %s", what, exc)
            raise WebappError(503, f"{what}: the chain node did not answer; try again shortly") from None

    def reader(self) -> ChainReader:
        """A reader pinned at the head now (one consistent block for one request)."""
        with self._lock:
            if self._reader is None:
                self._reader = self.guard(lambda: ChainReader(self.w3, self.deployment, scanner=self.scanner),
                                          "connecting to the chain")
            else:
                current = self._reader
                self._reader = self.guard(lambda: current.at("latest"), "reading the chain")
            return self._reader

    def token(self) -> dict:
        with self._lock:
            if self._token is None:
                self._token = self.guard(lambda: token_capabilities(self.w3, self.deployment.nmr,
                                                                    load_artifact("NMR")["abi"]),
                                         "reading the NMR token")
            return self._token


def _hex32(value: Any) -> Optional[str]:
    if value is None:
        return None
    raw = bytes(value)
    return "0x" + raw.hex() if any(raw) else None


def _round_json(state: RoundState, now: int) -> dict:
    config = state.config
    return {"roundId": state.round_id, "phase": state.phase.label, "closeTime": state.close_time,
            "resolveTime": state.resolve_time, "chainTime": now, "stakedCount": state.staked_count,
            "totalAtRiskWei": str(state.total_at_risk_wei),
            "liveIdsHash": _hex32(state.live_ids_hash),
            "corrMultMin": config.corr_mult_min, "corrMultMax": config.corr_mult_max,
            "mmcMultMin": config.mmc_mult_min, "mmcMultMax": config.mmc_mult_max,
            "minStakeWei": str(config.min_stake_wei)}


def _leaderboard_json(row: LeaderboardRow) -> dict:
    return {"modelId": row.model_id, "modelName": row.model_name, "owner": row.owner, "rounds": row.rounds,
            "invalid": row.invalid, "refunded": row.refunded, "meanCorr": row.mean_corr, "meanMmc": row.mean_mmc,
            "earnedWei": str(row.earned_wei), "earnedNmr": format_nmr(row.earned_wei),
            "stakedWei": str(row.staked_wei), "stakedNmr": format_nmr(row.staked_wei),
            "returnRatio": row.return_ratio, "reputation": row.reputation, "lastRound": row.last_round}


def create_blueprint(w3: Web3, deployment: Deployment, *, submissions_url: Optional[str] = None,
                     rounds_dir: Optional[str | Path] = None, data_dir: Optional[str | Path] = None,
                     name: str = "stake", http: Optional[requests.Session] = None) -> Blueprint:
    """The staking app for the tournament of `deployment` on the chain `w3` reads.

    `submissions_url`: the operator's submission API (uploads are passed through to it, and the
    live ids are read from it unless `rounds_dir`, the operator's work directory holding
    rounds/<id>/live_ids.csv, is given). Without either, uploads are refused with one line.
    `data_dir`: the data folder (`tournament data generate`) validation diagnostics are computed
    against; without it the diagnostics endpoint answers 404.
    """
    chain = _Chain(w3, deployment)
    api_url = submissions_url.rstrip("/") if submissions_url else None
    rounds_path = Path(rounds_dir) if rounds_dir else None
    data_path = Path(data_dir) if data_dir else None
    session = http or requests.Session()
    abis = {"tournament": load_artifact("Tournament")["abi"], "nmr": load_artifact("NMR")["abi"]}
    bp = Blueprint(name, __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static")

    @bp.errorhandler(WebappError)
    def webapp_error(exc: WebappError) -> Response:
        response = jsonify({"error": exc.message})
        response.status_code = exc.status
        return response

    # ------------------------------------------------------------------ page and assets
    @bp.route("/")
    def page() -> str:
        return render_template("webapp/stake.html", chain_id=deployment.chain_id,
                               tournament=deployment.tournament)

    @bp.route("/vendor/" + ETHERS_FILE)
    def ethers_js() -> Response:
        path = ethers_path()
        if path is None:
            abort(404, f"{ETHERS_FILE} is missing: run `npm ci` (and `make webapp-assets`) in the project")
        return send_file(path, mimetype="text/javascript", max_age=3600)

    # ------------------------------------------------------------------ JSON
    @bp.route("/api/config")
    def config() -> Response:
        return jsonify({
            "chainId": deployment.chain_id, "chainIdHex": hex(deployment.chain_id),
            "tournament": to_checksum_address(deployment.tournament), "nmr": to_checksum_address(deployment.nmr),
            "deployBlock": int(deployment.deploy_block), "abi": abis, "token": chain.token(),
            "uploads": {"enabled": bool(api_url), "ttlSeconds": UPLOAD_TTL_S,
                        "domain": {"name": UPLOAD_DOMAIN_NAME, "version": UPLOAD_DOMAIN_VERSION},
                        "types": UPLOAD_TYPES, "maxBytes": MAX_SUBMISSION_BYTES},
        })

    @bp.route("/api/rounds")
    def rounds() -> Response:
        reader = chain.reader()
        ids = chain.guard(lambda: sorted({int(e.args["roundId"]) for e in reader.events("RoundOpened")}),
                          "reading the rounds")[-MAX_ROUNDS_LISTED:]
        states = chain.guard(lambda: reader.rounds(ids), "reading the rounds")
        now = reader.now()
        return jsonify({"chainTime": now, "block": reader.block_number,
                        "rounds": [_round_json(states[r], now) for r in reversed(ids)]})

    @bp.route("/api/account/<address>")
    def account(address: str) -> Response:
        if not Web3.is_address(address):
            raise WebappError(400, f"{address} is not an address (0x and 40 hex digits)")
        owner = to_checksum_address(address)
        reader = chain.reader()
        models = chain.guard(lambda: reader.models_of(owner), "reading your models")
        names = {m.model_id: m.name for m in models}
        commitments = chain.guard(lambda: reader.owner_commitments(owner), "reading your stakes")
        views = chain.guard(lambda: reader.stake_views(commitments.keys()), "reading your stakes")
        states = chain.guard(lambda: reader.rounds({r for r, _ in commitments}), "reading your rounds")
        stakes = []
        for (round_id, model_id), (event, commitment) in sorted(commitments.items(), reverse=True):
            amount_wei, corr_mult, mmc_mult, closed = views[(round_id, model_id)]
            if amount_wei == 0 or closed:
                continue
            state = states[round_id]
            stakes.append({"roundId": round_id, "modelId": model_id, "modelName": names.get(model_id, ""),
                           "amountWei": str(amount_wei), "corrMult": corr_mult, "mmcMult": mmc_mult,
                           "submissionHash": "0x" + bytes(commitment).hex(), "phase": state.phase.label,
                           "closeTime": state.close_time, "refundable": state.phase == Phase.REFUNDING,
                           "tx": event.tx_hash})
        return jsonify({"address": owner, "block": reader.block_number, "chainTime": reader.now(),
                        "models": [{"modelId": m.model_id, "name": m.name} for m in models], "stakes": stakes})

    def live_ids_bytes(round_id: int) -> bytes:
        if rounds_path is not None:
            for candidate in (rounds_path / "rounds" / str(round_id) / "live_ids.csv",
                              rounds_path / str(round_id) / "live_ids.csv"):
                if candidate.is_file():
                    return candidate.read_bytes()
        if api_url is None:
            raise WebappError(503, "this app has no submission API configured, so files cannot be checked or "
                                   "uploaded; ask the operator for the API address")
        try:
            answer = session.get(f"{api_url}/v1/rounds/{round_id}/live_ids", timeout=30)
        except requests.RequestException as exc:
            log.error("live ids of round %d: %s", round_id, exc)
            raise WebappError(502, "the submission API did not answer; try again shortly") from None
        if answer.status_code != 200:
            raise WebappError(409 if answer.status_code == 404 else 502,
                              _api_message(answer, f"round {round_id} has no published live ids yet"))
        return answer.content

    @bp.route("/api/rounds/<int:round_id>/validate", methods=["POST"])
    def validate(round_id: int) -> Response:
        if (request.content_length or 0) > MAX_SUBMISSION_BYTES:
            raise WebappError(413, f"the file is {request.content_length:,} bytes, more than the "
                                   f"{MAX_SUBMISSION_BYTES:,} allowed; upload only the id and prediction columns")
        raw = request.get_data(cache=False)
        name = (request.args.get("name") or "predictions.csv").strip()[:120] or "predictions.csv"
        state = chain.guard(lambda: chain.reader().round(round_id, with_opened_block=False), "reading the round")
        if not state.exists:
            raise WebappError(404, f"round {round_id} does not exist; pick an open round")
        live_raw = live_ids_bytes(round_id)
        committed = _hex32(state.live_ids_hash)
        if committed and "0x" + keccak(live_raw).hex() != committed:
            raise WebappError(502, f"the published live ids of round {round_id} do not match the hash committed "
                                   "on-chain; do not stake, and tell the operator")
        live_ids = _parse_live_ids(live_raw, round_id)
        result = validate_predictions(raw, live_ids, name=name)
        return jsonify({"valid": result.valid, "message": result.message, "rule": result.rule,
                        "submissionHash": "0x" + bytes(result.submission_hash).hex(), "bytes": len(raw),
                        "predictions": int(len(result.predictions)) if result.valid and result.predictions is not None else 0,
                        "liveIds": int(len(live_ids))})

    @bp.route("/api/rounds/<int:round_id>/models/<int:model_id>/submission", methods=["POST"])
    def upload(round_id: int, model_id: int) -> Response:
        if api_url is None:
            raise WebappError(503, "this app has no submission API configured; uploads are not possible here")
        headers = {key: request.headers[key] for key in ("X-Signature", "X-Expiry", "X-Submission-Hash")
                   if key in request.headers}
        headers["Content-Type"] = "application/octet-stream"
        try:
            answer = session.post(f"{api_url}/v1/rounds/{round_id}/models/{model_id}/submission",
                                  data=request.get_data(cache=False), headers=headers, timeout=120)
        except requests.RequestException as exc:
            log.error("upload round %d model %d: %s", round_id, model_id, exc)
            raise WebappError(502, "the submission API did not answer; the file was not uploaded, try again") from None
        try:
            body = answer.json()
        except ValueError:
            body = {"error": f"the submission API answered {answer.status_code} without JSON"}
        response = jsonify(body)
        response.status_code = answer.status_code
        return response

    @bp.route("/api/leaderboard")
    def leaderboard() -> Response:
        reader = chain.reader()
        rows = chain.guard(lambda: read_leaderboard(reader), "reading the leaderboard")
        return jsonify({"block": reader.block_number, "reputationRounds": REPUTATION_ROUNDS,
                        "rows": [_leaderboard_json(r) for r in rows]})

    @bp.route("/api/diagnostics", methods=["POST"])
    def diagnostics() -> Response:
        if data_path is None:
            raise WebappError(404, "this app has no data folder configured, so diagnostics are not available "
                                   "here; run `tournament participant diagnostics FILE --data DIR` instead")
        if (request.content_length or 0) > MAX_DIAGNOSTICS_BYTES:
            raise WebappError(413, f"the file is {request.content_length:,} bytes, more than the "
                                   f"{MAX_DIAGNOSTICS_BYTES:,} allowed; upload only the id and prediction columns")
        name = Path(request.args.get("name") or "predictions.csv").name.strip()[:120] or "predictions.csv"
        with tempfile.TemporaryDirectory() as folder:
            upload = Path(folder) / name        # the file keeps its name: messages name it, as the CLI's do
            upload.write_bytes(request.get_data(cache=False))
            try:
                report, svg = diagnose_file(upload, data_path, label=name)
            except DiagnosticsError as exc:
                raise WebappError(400, str(exc)) from None
        return jsonify({**report.as_dict(), "chart": svg})

    return bp


def _api_message(answer: requests.Response, fallback: str) -> str:
    try:
        return str(answer.json().get("error") or fallback)
    except ValueError:
        return fallback


def _parse_live_ids(raw: bytes, round_id: int) -> np.ndarray:
    """The live ids from the published file's bytes, read exactly as the service reads them."""
    from tournament.data.synthetic import read_live_ids

    with tempfile.NamedTemporaryFile(suffix=".csv") as handle:
        handle.write(raw)
        handle.flush()
        try:
            return read_live_ids(handle.name)
        except (OSError, ValueError) as exc:
            log.error("round %d: unreadable live ids: %s", round_id, exc)
            raise WebappError(502, f"the published live ids of round {round_id} cannot be read; tell the "
                                   "operator") from None
