"""The operator's round pipeline: open, collect, score, propose, settle; idempotent and crash-safe.

Each step first reads the chain (the round's phase, attempt, stakes, proposals and settled
stakes), then does only what is still missing, so running a step twice, or rerunning after a
crash at any point, finishes the round exactly once: the contract refuses a second proposal
for an attempt and skips stakes already settled, and this module never trusts its own notes
(`state.json`) over the chain. Files in the round folder (layout in docs/INTERFACES.md) are
written atomically (temporary file + rename) and everything in them is re-derived from the
chain, the submission source and the targets. Settlement batches are sized from measured
gas to fit the block, every batch's StakeSettled events are checked against the leaves and
the protocol's payout arithmetic, and a guardian's veto simply makes the round Resolvable
again with the next attempt, which `propose` (after a re-score) signs and posts.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3
from web3.logs import DISCARD

from tournament.protocol import artifacts as art
from tournament.protocol import payout as payout_math
from tournament.protocol import scoring
from tournament.chain.client import (PHASES, Deployment, Transactor, fetch_events, nmr_contract,
                          tournament_contract, with_retries)
from tournament.protocol.results import SCORED, Leaf, ResultsTree, build_leaves
from tournament.protocol.signing import Results, check_signatures, domain_from_eip712_domain_call, results_digest, sign_results
from tournament.operator.sources import SubmissionSource, open_source
from tournament.protocol.submissions import PARQUET_MAGIC, ValidationResult, score_submissions, validate_predictions

log = logging.getLogger(__name__)

__all__ = ["CrashInjected", "Operator", "OperatorError", "RoundStatus", "StakeInfo", "read_leaves", "veto"]

LIVE_IDS_NAME = "live_ids.csv"
LEAVES_NAME = "leaves.json"
COLLECT_NAME = "collect.json"
STATE_NAME = "state.json"
REJECTED_DIR = "rejected"
# Settlement batches use at most this share of the block gas limit: room for other users'
# transactions and for estimates that drift between the estimate and the block.
DEFAULT_BLOCK_GAS_FRACTION = 0.5
GAS_PROBE_LEAVES = 16


class OperatorError(RuntimeError):
    """A pipeline step cannot go on; the message says what was wrong and what to do."""


class CrashInjected(RuntimeError):
    """Raised by test hooks at a named point of the pipeline (simulated crash)."""


@dataclass
class StakeInfo:
    """One staked model of a round as the chain records it at close."""
    model_id: int
    owner: str
    stake_wei: int
    corr_mult: int
    mmc_mult: int
    submission_hash: str          # 0x-hex, the latest non-zero commitment
    file: Optional[str] = None    # artifacts-relative path of the received file, if any
    message: str = ""             # why no usable file was received


@dataclass
class RoundStatus:
    """What a pipeline call found and did."""
    round_id: int
    phase: str
    attempt: int
    staked_count: int
    closed_count: int
    actions: list[str] = field(default_factory=list)
    next_step: str = ""

    def __str__(self) -> str:
        done = "; ".join(self.actions) if self.actions else "nothing to do"
        return (f"round {self.round_id}: {self.phase} (attempt {self.attempt}, {self.closed_count}/"
                f"{self.staked_count} stakes closed): {done}" + (f"; next: {self.next_step}" if self.next_step else ""))


# ------------------------------------------------------------------ small file helpers

def write_atomic(path: Path, data: Union[bytes, str]) -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_live_ids(path: Path) -> list[str]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "id" not in reader.fieldnames:
            raise OperatorError(f"{path}: needs a column `id`")
        return [row["id"] for row in reader]


def live_ids_csv(live_ids: Iterable[str]) -> bytes:
    out = io.StringIO()
    out.write("id\n")
    for value in live_ids:
        out.write(f"{value}\n")
    return out.getvalue().encode()


def read_leaves(path: Path) -> list[Leaf]:
    """leaves.json -> leaves (the format written by `score`)."""
    rows = json.loads(Path(path).read_text())
    return [Leaf(int(r["roundId"]), int(r["modelId"]), int(r["status"]), int(r["corr"]), int(r["mmc"])) for r in rows]


def _leaves_json(leaves: Sequence[Leaf]) -> bytes:
    rows = [{"roundId": x.round_id, "modelId": x.model_id, "status": x.status, "corr": x.corr_nanos,
             "mmc": x.mmc_nanos} for x in leaves]
    return (json.dumps(rows, indent=1) + "\n").encode()


def _extension(raw: bytes) -> str:
    if raw[:4] == PARQUET_MAGIC:
        return "parquet"
    try:
        raw.decode("utf-8")
        return "csv"
    except UnicodeDecodeError:
        return "bin"


def _float_text(value: float) -> str:
    return "" if value is None or not np.isfinite(value) else repr(float(value))


def _hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _struct(value, abi_outputs: Sequence[dict]) -> dict:
    """A web3 tuple as a dict by the ABI's component names (nested tuples too)."""
    out = {}
    for item, part in zip(abi_outputs, value):
        if item["type"] == "tuple":
            part = _struct(part, item["components"])
        out[item["name"]] = part
    return out


# ------------------------------------------------------------------ the pipeline

class Operator:
    """The round pipeline for one deployment.

    operator_account holds OPERATOR_ROLE; signer_accounts are the oracle signer keys this
    host holds (at least the threshold of the current signer set); work_dir holds
    `rounds/<roundId>/`; source is where committed files come from (FolderSource, HttpSource,
    a folder path or URL). hook(point) is called at named points (tests inject crashes).
    """

    def __init__(self, w3: Web3, deployment: Deployment, operator_account: Optional[LocalAccount],
                 signer_accounts: Sequence[LocalAccount] = (), work_dir: Union[str, Path] = "tournament-data",
                 source: Union[SubmissionSource, str, Path, None] = None, *, confirmations: int = 0,
                 hook: Optional[Callable[[str], None]] = None, transactor: Optional[Transactor] = None,
                 block_gas_fraction: float = DEFAULT_BLOCK_GAS_FRACTION, max_batch_leaves: Optional[int] = None,
                 receipt_timeout_s: float = 120.0, poll_s: float = 0.05):
        self.w3 = w3
        self.deployment = deployment
        self.tournament = tournament_contract(w3, deployment)
        self.nmr = nmr_contract(w3, deployment)
        self.signer_accounts = list(signer_accounts)
        self.work_dir = Path(work_dir)
        self.source = open_source(source)
        self.hook = hook
        self.block_gas_fraction = block_gas_fraction
        self.max_batch_leaves = max_batch_leaves
        self.poll_s = poll_s
        self.tx = transactor
        if self.tx is None and operator_account is not None:
            self.tx = Transactor(w3, operator_account, confirmations=confirmations,
                                 receipt_timeout_s=receipt_timeout_s)
        self.last_settle_gas: list[tuple[int, int]] = []   # (leaves, gasUsed) per batch sent
        self._opened_blocks: dict[int, int] = {}

    # -------------------------------------------------------------- plumbing
    def _point(self, name: str) -> None:
        log.debug("pipeline point %s", name)
        if self.hook is not None:
            self.hook(name)

    def _sender(self) -> Transactor:
        if self.tx is None:
            raise OperatorError("this step sends transactions: give the operator key "
                                "(OPERATOR_KEY, --operator-keystore or --anvil-keys)")
        return self.tx

    def _view(self, fn, description: str):
        return with_retries(lambda: fn.call(), description)

    def opened_block(self, round_id: int) -> int:
        """The block of the round's RoundOpened event: every later event of the round is at or after it.

        Found once by scanning from the deployment block, then remembered (in memory and as a
        hint in state.json, re-checked against the chain before use), so a long-lived
        deployment does not rescan its whole history at every step.
        """
        cached = self._opened_blocks.get(round_id)
        if cached is not None:
            return cached
        event = self.tournament.events.RoundOpened
        hint = self._notes(round_id).get("openedBlock")
        found = fetch_events(event, hint, hint, argument_filters={"roundId": round_id}) if isinstance(hint, int) else []
        if not found:
            found = fetch_events(event, self.deployment.deploy_block, argument_filters={"roundId": round_id})
        if not found:
            raise OperatorError(f"round {round_id}: no RoundOpened event since block {self.deployment.deploy_block}; "
                                "is the deployment file for this chain right, and is the RPC's log index complete?")
        block = int(found[0]["blockNumber"])
        self._opened_blocks[round_id] = block
        if hint != block:
            self._note(round_id, openedBlock=block)
        return block

    def round_dir(self, round_id: int) -> Path:
        return self.work_dir / "rounds" / str(int(round_id))

    def artifacts_dir(self, round_id: int) -> Path:
        return self.round_dir(round_id) / "artifacts"

    def phase(self, round_id: int) -> str:
        return PHASES[self._view(self.tournament.functions.phase(round_id), f"reading round {round_id}'s phase")]

    def get_round(self, round_id: int) -> dict:
        fn = self.tournament.functions.getRound(round_id)
        return _struct(self._view(fn, f"reading round {round_id}"), fn.abi["outputs"][0]["components"])

    def now(self) -> int:
        return int(with_retries(lambda: self.w3.eth.get_block("latest"), "reading the latest block")["timestamp"])

    def status(self, round_id: int, actions: Optional[list[str]] = None, next_step: str = "") -> RoundStatus:
        info = self.get_round(round_id)
        return RoundStatus(round_id, self.phase(round_id), info["attempt"], info["stakedCount"],
                           info["closedCount"], list(actions or []), next_step)

    def _notes(self, round_id: int) -> dict:
        path = self.round_dir(round_id) / STATE_NAME
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {"roundId": round_id}

    def _note(self, round_id: int, **changes) -> None:
        notes = self._notes(round_id)
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(notes.get(key), dict):
                notes[key].update(value)
            else:
                notes[key] = value
        write_atomic(self.round_dir(round_id) / STATE_NAME, json.dumps(notes, indent=1, sort_keys=True) + "\n")

    def _transact(self, fn, description: str, round_id: int, point: str, gas: Optional[int] = None) -> dict:
        sender = self._sender()
        receipt = sender.transact(fn, description, gas=gas,
                                  on_sent=lambda h: (self._note(round_id, last_tx={description: _hex32(h)}),
                                                     self._point(point)))
        return receipt

    # -------------------------------------------------------------- open
    def open_round(self, round_id: int, close_time: int, resolve_time: int,
                   live_ids: Union[Sequence[str], str, Path]) -> RoundStatus:
        """Publishes the live ids in the round folder and opens the round on-chain (once)."""
        if isinstance(live_ids, (str, Path)):
            ids = read_live_ids(Path(live_ids))
        else:
            ids = [str(x) for x in live_ids]
        if len(ids) < 2 or len(set(ids)) != len(ids):
            raise OperatorError(f"round {round_id}: live ids must be at least two distinct ids")
        path = self.round_dir(round_id) / LIVE_IDS_NAME
        content = live_ids_csv(ids)
        actions = []
        if path.exists() and path.read_bytes() != content:
            if self.phase(round_id) != "None":
                raise OperatorError(f"{path}: differs from the live ids given, and round {round_id} is already "
                                    "open with the published ones; keep the published file")
        if not path.exists() or path.read_bytes() != content:
            write_atomic(path, content)
            actions.append(f"wrote {path}")
        if self.phase(round_id) == "None":
            self._sender().settle_pending()
        if self.phase(round_id) == "None":
            self._transact(self.tournament.functions.openRound(round_id, int(close_time), int(resolve_time)),
                           f"opening round {round_id}", round_id, "open:sent")
            actions.append("opened the round on-chain")
            self._point("open:done")
        else:
            info = self.get_round(round_id)
            if (info["closeTime"], info["resolveTime"]) != (int(close_time), int(resolve_time)):
                log.warning("round %s is already open with close %s / resolve %s (asked %s / %s); keeping it",
                            round_id, info["closeTime"], info["resolveTime"], close_time, resolve_time)
        return self.status(round_id, actions, "collect after the close time")

    # -------------------------------------------------------------- collect
    def stakes_at_close(self, round_id: int) -> list[StakeInfo]:
        """Every staked model of a closed round, from StakeChanged events, checked against storage."""
        events = fetch_events(self.tournament.events.StakeChanged, self.opened_block(round_id),
                              argument_filters={"roundId": round_id})
        latest: dict[int, StakeInfo] = {}
        for event in events:
            args = event["args"]
            model_id = int(args["modelId"])
            info = latest.get(model_id) or StakeInfo(model_id, args["owner"], 0, 0, 0, "")
            info.owner, info.stake_wei = args["owner"], int(args["total"])
            info.corr_mult, info.mmc_mult = int(args["corrMult"]), int(args["mmcMult"])
            if int.from_bytes(args["submissionHash"], "big") != 0:
                info.submission_hash = _hex32(args["submissionHash"])
            latest[model_id] = info
        staked = [latest[m] for m in sorted(latest) if latest[m].stake_wei > 0]
        round_info = self.get_round(round_id)
        if len(staked) != round_info["stakedCount"]:
            raise OperatorError(f"round {round_id}: StakeChanged events show {len(staked)} staked models but the "
                                f"contract counts {round_info['stakedCount']}; the RPC's logs look incomplete, "
                                "try another RPC or a later block")
        for info in staked:
            (amount, corr_mult, mmc_mult), _closed = self._view(
                self.tournament.functions.getStake(round_id, info.model_id), "reading a stake")
            if (amount, corr_mult, mmc_mult) != (info.stake_wei, info.corr_mult, info.mmc_mult):
                raise OperatorError(f"round {round_id} model {info.model_id}: events say stake {info.stake_wei} "
                                    f"x{info.corr_mult}/{info.mmc_mult}, storage says {amount} x{corr_mult}/{mmc_mult}")
        return staked

    def collect(self, round_id: int) -> RoundStatus:
        """Fetches each committed file of a closed round, checks its hash, and notes what was received."""
        phase = self.phase(round_id)
        if phase in ("None", "Open"):
            raise OperatorError(f"round {round_id} is {phase}: collect after its close time")
        if self.source is None:
            raise OperatorError("collect needs a submission source (--source DIR_OR_URL)")
        round_dir = self.round_dir(round_id)
        artifacts_dir = self.artifacts_dir(round_id)
        live_path = round_dir / LIVE_IDS_NAME
        if not live_path.exists():
            raise OperatorError(f"{live_path}: missing; the live ids published at open belong there")
        staked = self.stakes_at_close(round_id)
        fetched = received = 0
        # One listing of the folder, not a glob per model: a glob per model is quadratic and
        # took minutes at 10,000 models.
        on_disk: dict[str, list[Path]] = {}
        submissions_dir = artifacts_dir / art.SUBMISSIONS_DIR
        if submissions_dir.exists():
            for path in submissions_dir.iterdir():
                on_disk.setdefault(path.name.split(".", 1)[0], []).append(path)
        for info in staked:
            existing = sorted(on_disk.get(str(info.model_id), []))
            good = [p for p in existing if p.suffix != ".tmp" and "0x" + keccak(p.read_bytes()).hex() == info.submission_hash]
            if good:
                info.file = good[0].relative_to(artifacts_dir).as_posix()
                received += 1
                continue
            for stale in existing:
                stale.unlink()
            raw = self.source.fetch(round_id, info.model_id, bytes.fromhex(info.submission_hash[2:]))
            fetched += 1
            if raw is None:
                info.message = "no submission file received"
                continue
            actual = "0x" + keccak(raw).hex()
            if actual != info.submission_hash:
                info.message = (f"hash mismatch: the file received has keccak256 {actual}, the stake committed "
                                f"to {info.submission_hash}")
                write_atomic(round_dir / REJECTED_DIR / f"{info.model_id}.{_extension(raw)}", raw)
                continue
            relative = art.submission_path(info.model_id, _extension(raw))
            write_atomic(artifacts_dir / relative, raw)
            info.file = relative
            received += 1
            self._point("collect:file")
        write_atomic(round_dir / COLLECT_NAME, json.dumps([asdict(s) for s in staked], indent=1) + "\n")
        log.info("round %s: %d staked models, %d files received (%d fetched now)", round_id, len(staked),
                 received, fetched)
        self._point("collect:done")
        return self.status(round_id, [f"collected {received}/{len(staked)} files"], "score after the resolve time")

    def _collected(self, round_id: int) -> list[StakeInfo]:
        path = self.round_dir(round_id) / COLLECT_NAME
        if not path.exists():
            raise OperatorError(f"round {round_id}: nothing collected yet; run collect first")
        staked = [StakeInfo(**row) for row in json.loads(path.read_text())]
        return staked

    # -------------------------------------------------------------- score
    def _current_proposal(self, round_id: int, attempt: int) -> Optional[dict]:
        events = fetch_events(self.tournament.events.ResultsProposed, self.opened_block(round_id),
                              argument_filters={"roundId": round_id})
        mine = [e["args"] for e in events if int(e["args"]["attempt"]) == attempt]
        return dict(mine[-1]) if mine else None

    def score(self, round_id: int, targets_path: Union[str, Path, None] = None) -> RoundStatus:
        """Validates and scores the collected files; writes the artifacts folder, leaves and manifest."""
        round_dir = self.round_dir(round_id)
        artifacts_dir = self.artifacts_dir(round_id)
        phase = self.phase(round_id)
        info = self.get_round(round_id)
        if phase in ("Proposed", "Accepted", "Settled"):
            proposal = self._current_proposal(round_id, info["attempt"])
            manifest = artifacts_dir / art.MANIFEST_NAME
            if proposal is None or not manifest.exists():
                raise OperatorError(f"round {round_id} is {phase} but its artifacts are not in {artifacts_dir}; "
                                    "restore the published folder")
            if art.verify_folder(artifacts_dir, proposal["artifactsHash"], round_id):
                raise OperatorError(f"{artifacts_dir}: differs from the artifacts proposed on-chain; "
                                    f"problems: {art.verify_folder(artifacts_dir, proposal['artifactsHash'], round_id)[:3]}")
            return self.status(round_id, ["results already proposed; artifacts match"], "")
        targets_local = round_dir / art.TARGETS_NAME
        if targets_path is not None:
            raw_targets = Path(targets_path).read_bytes()
            if not targets_local.exists() or targets_local.read_bytes() != raw_targets:
                write_atomic(targets_local, raw_targets)
        if not targets_local.exists():
            raise OperatorError(f"round {round_id}: no targets; pass --targets FILE (id,target)")
        staked = self._collected(round_id)
        if len(staked) != info["stakedCount"]:
            raise OperatorError(f"round {round_id}: {len(staked)} stakes collected, {info['stakedCount']} on-chain; "
                                "rerun collect")
        live_ids = read_live_ids(round_dir / LIVE_IDS_NAME)
        targets = self._read_targets(targets_local, live_ids)

        results: dict[str, ValidationResult] = {}
        for s in staked:
            name = s.file or f"model {s.model_id}"
            if s.file is None:
                results[str(s.model_id)] = ValidationResult(name, False, s.message or "no submission file received",
                                                            "missing")
            else:
                raw = (artifacts_dir / s.file).read_bytes()
                if "0x" + keccak(raw).hex() != s.submission_hash:
                    raise OperatorError(f"{artifacts_dir / s.file}: changed since collect; rerun collect")
                results[str(s.model_id)] = validate_predictions(raw, live_ids, name=s.file)
        stakes_by_model = {str(s.model_id): float(s.stake_wei) for s in staked}
        table = score_submissions(results, targets, stakes_by_model) if staked else None
        scores = {}
        rows = []
        for s in staked:
            row = table[table["model"] == str(s.model_id)].iloc[0]
            scored = row["status"] == "SCORED"
            if scored:
                scores[s.model_id] = (int(row["corr_nanos"]), int(row["mmc_nanos"]))
            rows.append([s.model_id, s.owner, s.stake_wei, row["status"],
                         _float_text(row["corr"]) if scored else "", _float_text(row["mmc"]) if scored else "",
                         int(row["corr_nanos"]), int(row["mmc_nanos"]), row["message"]])
        leaves = build_leaves(round_id, [s.model_id for s in staked], scores)

        valid = [s for s in staked if results[str(s.model_id)].valid]
        if valid:
            preds = np.column_stack([results[str(s.model_id)].predictions for s in valid])
            meta = scoring.meta_model(preds, np.array([float(s.stake_wei) for s in valid]))
        else:
            meta = np.full(len(live_ids), np.nan)

        # Rewrite the folder: exactly the files the manifest will list, each written atomically.
        keep = {art.TARGETS_NAME, LIVE_IDS_NAME, art.META_MODEL_NAME, art.SCORES_NAME, LEAVES_NAME}
        keep |= {s.file for s in staked if s.file}
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(artifacts_dir.rglob("*")):
            relative = path.relative_to(artifacts_dir).as_posix()
            if path.is_file() and relative not in keep and relative != art.MANIFEST_NAME:
                log.info("removing %s from the artifacts (not part of this round's results)", path)
                path.unlink()
        write_atomic(artifacts_dir / art.TARGETS_NAME, targets_local.read_bytes())
        write_atomic(artifacts_dir / LIVE_IDS_NAME, (round_dir / LIVE_IDS_NAME).read_bytes())
        meta_text = "id,meta_model\n" + "".join(f"{i},{_float_text(v)}\n" for i, v in zip(live_ids, meta))
        write_atomic(artifacts_dir / art.META_MODEL_NAME, meta_text)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["model_id", "owner", "stake_wei", "status", "corr", "mmc", "corr_nanos", "mmc_nanos",
                         "message"])
        writer.writerows(rows)
        write_atomic(artifacts_dir / art.SCORES_NAME, out.getvalue())
        write_atomic(artifacts_dir / LEAVES_NAME, _leaves_json(leaves))
        self._point("score:before-manifest")
        files = sorted(keep)
        _, digest = art.write_manifest(artifacts_dir, round_id, files)
        root = ResultsTree(leaves, round_id).root_hex if leaves else None
        self._note(round_id, scored={"artifactsHash": _hex32(digest), "resultsRoot": root, "leafCount": len(leaves)})
        self._point("score:done")
        n_scored = sum(1 for x in leaves if x.status == SCORED)
        return self.status(round_id, [f"scored {n_scored}/{len(leaves)} stakes, artifactsHash {_hex32(digest)}"],
                           "propose")

    @staticmethod
    def _read_targets(path: Path, live_ids: Sequence[str]):
        import pandas as pd

        frame = pd.read_csv(path, dtype={"id": str})
        if list(frame.columns[:2]) != ["id", "target"]:
            raise OperatorError(f"{path}: needs columns id,target")
        series = frame.set_index("id")["target"].astype(float)
        if series.index.duplicated().any():
            raise OperatorError(f"{path}: ids repeated")
        missing = [i for i in live_ids if i not in series.index]
        if missing:
            raise OperatorError(f"{path}: {len(missing)} live ids have no target (first: {missing[0]})")
        return series.reindex(list(live_ids))

    # -------------------------------------------------------------- propose
    def _local_results(self, round_id: int) -> tuple[list[Leaf], ResultsTree, bytes]:
        artifacts_dir = self.artifacts_dir(round_id)
        manifest = artifacts_dir / art.MANIFEST_NAME
        if not manifest.exists():
            raise OperatorError(f"round {round_id}: no scored artifacts in {artifacts_dir}; run score first")
        problems = art.verify_folder(artifacts_dir, expected_round_id=round_id)
        if problems:
            raise OperatorError(f"{artifacts_dir}: not intact ({problems[0]}); rerun score")
        leaves = read_leaves(artifacts_dir / LEAVES_NAME)
        return leaves, ResultsTree(leaves, round_id), art.artifacts_hash(manifest.read_bytes())

    def propose(self, round_id: int) -> RoundStatus:
        """Signs the results m-of-n (EIP-712, the contract's own domain) and proposes them, once per attempt."""
        phase = self.phase(round_id)
        if phase in ("Proposed", "Accepted", "Settled"):
            return self.status(round_id, [f"already {phase}"], "settle after the challenge window")
        if phase != "Resolvable":
            raise OperatorError(f"round {round_id} is {phase}: results can be proposed only when it is Resolvable")
        self._sender().settle_pending()
        if self.phase(round_id) != "Resolvable":  # a pending proposal of an earlier run was just mined
            return self.status(round_id, ["an earlier proposal was mined"], "settle after the challenge window")
        info = self.get_round(round_id)
        leaves, tree, artifacts_digest = self._local_results(round_id)
        staked_ids = [s.model_id for s in self.stakes_at_close(round_id)]
        if [x.model_id for x in leaves] != staked_ids:
            raise OperatorError(f"round {round_id}: the leaves' models differ from the staked models on-chain; "
                                "rerun collect and score")
        signers, threshold, version = self._view(self.tournament.functions.signerSet(), "reading the signer set")
        domain = domain_from_eip712_domain_call(self._view(self.tournament.functions.eip712Domain(),
                                                           "reading the EIP-712 domain"))
        if domain.chain_id != self.w3.eth.chain_id:
            raise OperatorError(f"the contract's EIP-712 chain id {domain.chain_id} is not the RPC's "
                                f"{self.w3.eth.chain_id}")
        results = Results(round_id, info["attempt"], tree.root, tree.leaf_count, artifacts_digest, version)
        on_chain_digest = self._view(self.tournament.functions.resultsDigest(
            (round_id, info["attempt"], tree.root, tree.leaf_count, artifacts_digest, version)), "reading the digest")
        if bytes(on_chain_digest) != results_digest(domain, results):
            raise OperatorError("the contract's resultsDigest differs from the EIP-712 digest computed here; "
                                "the oracle and the contract disagree on the typed data")
        current = {int(a, 16) for a in signers}
        usable = sorted({int(a.address, 16): a for a in self.signer_accounts if int(a.address, 16) in current}.items())
        if len(usable) < threshold:
            raise OperatorError(f"{len(usable)} of the given signer keys are in the current signer set "
                                f"(version {version}, threshold {threshold}); give at least {threshold}")
        signatures = sign_results(domain, results, [a for _, a in usable[:threshold]])
        problems = check_signatures(domain, results, signatures, signers, threshold)
        if problems:
            raise OperatorError(f"round {round_id}: the contract would refuse these signatures: {problems[0]}")
        vetoed = [e["args"] for e in fetch_events(self.tournament.events.ResultsProposed, self.opened_block(round_id),
                                                  argument_filters={"roundId": round_id})]
        if any(bytes(v["resultsRoot"]) == tree.root and bytes(v["artifactsHash"]) == artifacts_digest for v in vetoed):
            log.warning("round %s: proposing the same results as a vetoed attempt; re-score first if the veto "
                        "pointed at a real problem", round_id)
        receipt = self._transact(
            self.tournament.functions.proposeResults(
                (round_id, info["attempt"], tree.root, tree.leaf_count, artifacts_digest, version), signatures),
            f"proposing round {round_id} attempt {info['attempt']}", round_id, "propose:sent")
        events = self.tournament.events.ResultsProposed().process_receipt(receipt, errors=DISCARD)
        if not events or bytes(events[0]["args"]["resultsRoot"]) != tree.root:
            raise OperatorError(f"round {round_id}: the proposal's receipt has no matching ResultsProposed event")
        self._note(round_id, proposals={str(info["attempt"]): {"tx": _hex32(receipt["transactionHash"]),
                                                               "resultsRoot": tree.root_hex}})
        self._point("propose:done")
        end = int(events[0]["args"]["challengeEnd"])
        return self.status(round_id, [f"proposed attempt {info['attempt']} (root {tree.root_hex})"],
                           f"settle after the challenge window ends at {end}")

    # -------------------------------------------------------------- settle
    def closed_models(self, round_id: int) -> set[int]:
        closed = set()
        for event in (self.tournament.events.StakeSettled, self.tournament.events.StakeRefunded):
            closed |= {int(e["args"]["modelId"]) for e in fetch_events(
                event, self.opened_block(round_id), argument_filters={"roundId": round_id})}
        return closed

    def _batch_fn(self, round_id: int, batch):
        return self.tournament.functions.settle(round_id, batch.leaf_values(), batch.proof, batch.proof_flags)

    def batch_size_for(self, round_id: int, tree: ResultsTree, unsettled: Sequence[Leaf]) -> tuple[int, int]:
        """(leaves per batch, gas target) from two measured estimates: g(k) = base + k * per_leaf."""
        block_gas = int(with_retries(lambda: self.w3.eth.get_block("latest"), "reading the block")["gasLimit"])
        target = int(block_gas * self.block_gas_fraction)
        sender = self._sender()
        ordered = tree.batches(unsettled, len(unsettled))[0].leaves
        k = min(len(ordered), GAS_PROBE_LEAVES)
        gas_one = sender.estimate_gas(self._batch_fn(round_id, tree.multiproof(ordered[:1])), "estimating settle gas")
        if k > 1:
            gas_k = sender.estimate_gas(self._batch_fn(round_id, tree.multiproof(ordered[:k])), "estimating settle gas")
            per_leaf = max(1, (gas_k - gas_one) // (k - 1))
        else:
            per_leaf = gas_one
        base = max(0, gas_one - per_leaf)
        size = max(1, (target - base) // int(per_leaf * 1.25))  # proofs grow with the batch: keep 25% slack
        if self.max_batch_leaves:
            size = min(size, self.max_batch_leaves)
        log.info("settle gas: ~%d + %d per leaf; block %d, target %d -> %d leaves per batch",
                 base, per_leaf, block_gas, target, size)
        return size, target

    def settle(self, round_id: int) -> RoundStatus:
        """Settles every unsettled stake of an Accepted round in batches that fit the block."""
        phase = self.phase(round_id)
        if phase == "Settled":
            self._check_settled(round_id)
            return self.status(round_id, ["already settled"], "")
        if phase != "Accepted":
            raise OperatorError(f"round {round_id} is {phase}: settle only once results are Accepted")
        sender = self._sender()
        sender.settle_pending()
        info = self.get_round(round_id)
        leaves, tree, _ = self._local_results(round_id)
        if tree.root != bytes(info["resultsRoot"]):
            raise OperatorError(f"round {round_id}: the local leaves' root {tree.root_hex} is not the accepted root "
                                f"0x{bytes(info['resultsRoot']).hex()}; restore the proposed artifacts folder")
        stakes = {s.model_id: s for s in self.stakes_at_close(round_id)}
        closed = self.closed_models(round_id)
        unsettled = [x for x in leaves if x.model_id not in closed]
        actions = []
        if unsettled:
            size, target = self.batch_size_for(round_id, tree, unsettled)
            queue = list(tree.batches(unsettled, size))
            sent = 0
            while queue:
                batch = queue.pop(0)
                fn = self._batch_fn(round_id, batch)
                estimate = sender.estimate_gas(fn, "estimating a settle batch")
                if estimate > target and len(batch.leaves) > 1:
                    half = len(batch.leaves) // 2
                    queue[:0] = [tree.multiproof(batch.leaves[:half]), tree.multiproof(batch.leaves[half:])]
                    continue
                receipt = self._transact(fn, f"settling {len(batch.leaves)} stakes of round {round_id}", round_id,
                                         "settle:sent", gas=min(target * 2, estimate * 6 // 5))
                self.last_settle_gas.append((len(batch.leaves), int(receipt["gasUsed"])))
                self._check_batch(round_id, receipt, batch.leaves, stakes, info)
                sent += 1
                self._point("settle:batch")
            actions.append(f"settled {len(unsettled)} stakes in {sent} batch(es)")
        if self.phase(round_id) != "Settled":
            raise OperatorError(f"round {round_id}: every leaf was settled but the round is not Settled; "
                                "check the chain and rerun settle")
        self._check_settled(round_id)
        self._point("settle:done")
        return self.status(round_id, actions or ["nothing left to settle"], "")

    def _check_batch(self, round_id: int, receipt: dict, batch: Sequence[Leaf], stakes: dict, info: dict) -> None:
        """Each StakeSettled event of the receipt must match its leaf and the payout arithmetic."""
        by_model = {x.model_id: x for x in batch}
        for event in self.tournament.events.StakeSettled().process_receipt(receipt, errors=DISCARD):
            args = event["args"]
            leaf = by_model.get(int(args["modelId"]))
            if leaf is None:
                raise OperatorError(f"settle tx {_hex32(receipt['transactionHash'])} settled model {args['modelId']} "
                                    "which was not in the batch")
            s = stakes[leaf.model_id]
            credit, burned, _reward = payout_math.settle_amounts(
                s.stake_wei, leaf.status, leaf.corr_nanos, leaf.mmc_nanos, s.corr_mult, s.mmc_mult,
                int(info["payoutFactor"]), int(info["config"]["clipBps"]))
            got = (int(args["stake"]), int(args["status"]), int(args["corr"]), int(args["mmc"]),
                   int(args["payout"]), int(args["burned"]))
            want = (s.stake_wei, leaf.status, leaf.corr_nanos, leaf.mmc_nanos, credit - s.stake_wei, burned)
            if got != want:
                raise OperatorError(f"round {round_id} model {leaf.model_id}: StakeSettled {got} differs from the "
                                    f"expected {want}; stop and investigate before settling more")

    def _check_settled(self, round_id: int) -> None:
        info = self.get_round(round_id)
        if info["closedCount"] != info["stakedCount"]:
            raise OperatorError(f"round {round_id}: {info['closedCount']} of {info['stakedCount']} stakes closed")

    # -------------------------------------------------------------- refunds
    def refund(self, round_id: int, batch_size: int = 200) -> RoundStatus:
        """Refunds every open stake of a Refunding round (no results in time): nobody's NMR stays stuck."""
        phase = self.phase(round_id)
        if phase == "Settled":
            return self.status(round_id, ["already settled"], "")
        if phase != "Refunding":
            raise OperatorError(f"round {round_id} is {phase}: refunds need the Refunding phase")
        self._sender().settle_pending()
        closed = self.closed_models(round_id)
        todo = [s.model_id for s in self.stakes_at_close(round_id) if s.model_id not in closed]
        for i in range(0, len(todo), batch_size):
            self._transact(self.tournament.functions.refund(round_id, todo[i:i + batch_size]),
                           f"refunding {len(todo[i:i + batch_size])} stakes of round {round_id}", round_id,
                           "refund:sent")
        return self.status(round_id, [f"refunded {len(todo)} stakes"], "")

    # -------------------------------------------------------------- run
    def run(self, round_id: int, targets_path: Union[str, Path, None] = None, *, wait: bool = False,
            max_wait_s: float = 0.0) -> RoundStatus:
        """Does every step that is due for the round, in order; with `wait`, sleeps until the next is due."""
        actions: list[str] = []
        collected = False
        deadline = time.monotonic() + max_wait_s
        while True:
            phase = self.phase(round_id)
            info = self.get_round(round_id)
            next_step = ""
            if phase == "None":
                raise OperatorError(f"round {round_id} is not open; run open-round first")
            if phase in ("Closed", "Resolvable") and not collected:
                if self.source is not None or not (self.round_dir(round_id) / COLLECT_NAME).exists():
                    actions += self.collect(round_id).actions
                collected = True
            if phase == "Open":
                next_step = f"collect after the close time {info['closeTime']}"
            elif phase == "Closed":
                next_step = f"score after the resolve time {info['resolveTime']}"
            elif phase == "Resolvable":
                if targets_path is None and not (self.round_dir(round_id) / art.TARGETS_NAME).exists():
                    return self.status(round_id, actions, "score: the targets are needed (--targets FILE)")
                actions += self.score(round_id, targets_path).actions
                actions += self.propose(round_id).actions
                continue
            elif phase == "Proposed":
                next_step = f"settle after the challenge window ends at {info['challengeEnd']}"
            elif phase == "Accepted":
                actions += self.settle(round_id).actions
                continue
            elif phase == "Refunding":
                actions += self.refund(round_id).actions
                continue
            elif phase == "Settled":
                self._check_settled(round_id)
                return self.status(round_id, actions, "")
            if not wait or (max_wait_s and time.monotonic() > deadline):
                return self.status(round_id, actions, next_step)
            time.sleep(max(1.0, self.poll_s))


def veto(w3: Web3, deployment: Deployment, guardian: LocalAccount, round_id: int, reason: str,
         confirmations: int = 0) -> dict:
    """The guardian's veto of a round's proposed results (its own key, its own transactor)."""
    sender = Transactor(w3, guardian, confirmations=confirmations)
    return sender.transact(tournament_contract(w3, deployment).functions.veto(round_id, reason),
                           f"vetoing round {round_id}")
