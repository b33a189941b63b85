"""INTERIM stand-in for tournament.protocol.round_scoring (branch round-scoring), same interface.

Delete this module once round_scoring is merged: `recompute` then imports the shared
function and nothing else changes. It follows the operator's current pipeline (validate,
score, leaves, meta model, scores table) and the artifacts layout of the protocol: live ids,
targets, every committed file received, every receipt, meta model, scores, leaves, manifest.
Pure: bytes in, bytes out.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from eth_hash.auto import keccak

from tournament.protocol import artifacts as art
from tournament.protocol import scoring
from tournament.protocol.results import SCORED, Leaf, ResultsTree, build_leaves, leaves_to_json
from tournament.protocol.submissions import PARQUET_MAGIC, ValidationResult, score_submissions, validate_predictions
from tournament.signer.receipts import RECEIPTS_NAME, SignedReceipt, receipts_json

__all__ = ["LEAVES_NAME", "LIVE_IDS_NAME", "RoundInputs", "RoundScoring", "score_round"]

LIVE_IDS_NAME = "live_ids.csv"
LEAVES_NAME = "leaves.json"


@dataclass(frozen=True)
class RoundInputs:
    round_id: int
    stakes: Sequence                   # StakeCommit-like: model_id, stake_wei, submission_hash (bytes)
    files: Mapping[int, bytes]         # model id -> bytes received for its committed hash
    live_ids_raw: bytes
    targets_raw: bytes
    receipts: Sequence[SignedReceipt] = ()


@dataclass(frozen=True)
class RoundScoring:
    root: bytes
    leaves: tuple[Leaf, ...]
    scored_at_risk_wei: int
    artifacts_hash: bytes
    manifest: bytes
    files: dict[str, bytes]
    messages: dict[int, str] = field(default_factory=dict)   # model id -> why INVALID ("" when SCORED)


def _table(raw: bytes, columns: Sequence[str]):
    import pandas as pd

    frame = (pd.read_parquet(io.BytesIO(raw)) if raw[:4] == PARQUET_MAGIC
             else pd.read_csv(io.BytesIO(raw), dtype={"id": str}))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"needs columns {', '.join(columns)}")
    frame["id"] = frame["id"].astype(str)
    return frame


def _ext(raw: bytes) -> str:
    return "parquet" if raw[:4] == PARQUET_MAGIC else "csv"


def _float_text(value: float) -> str:
    return "" if value is None or not np.isfinite(value) else repr(float(value))


def score_round(inputs: RoundInputs) -> RoundScoring:
    round_id = inputs.round_id
    live_ids = _table(inputs.live_ids_raw, ["id"])["id"].tolist()
    targets_frame = _table(inputs.targets_raw, ["id", "target"]).set_index("id")
    missing = [i for i in live_ids if i not in targets_frame.index]
    if missing:
        raise ValueError(f"{len(missing)} live ids have no target (first: {missing[0]})")
    targets = targets_frame["target"].astype(float).reindex(live_ids)
    stakes = sorted(inputs.stakes, key=lambda s: s.model_id)
    results: dict[str, ValidationResult] = {}
    files: dict[str, bytes] = {}
    for s in stakes:
        raw = inputs.files.get(s.model_id)
        if raw is None or keccak(raw) != bytes(s.submission_hash):
            results[str(s.model_id)] = ValidationResult(f"model {s.model_id}", False,
                                                        "no submission file received", "missing")
            continue
        path = art.submission_path(s.model_id, _ext(raw))
        files[path] = raw
        results[str(s.model_id)] = validate_predictions(raw, live_ids, name=path)
    table = score_submissions(results, targets, {str(s.model_id): float(s.stake_wei) for s in stakes}) if stakes else None
    scores, rows, messages = {}, [], {}
    for s in stakes:
        row = table[table["model"] == str(s.model_id)].iloc[0]
        scored = row["status"] == "SCORED"
        if scored:
            scores[s.model_id] = (int(row["corr_nanos"]), int(row["mmc_nanos"]))
        messages[s.model_id] = "" if scored else str(row["message"])
        rows.append([s.model_id, s.stake_wei, row["status"], _float_text(row["corr"]) if scored else "",
                     _float_text(row["mmc"]) if scored else "", int(row["corr_nanos"]), int(row["mmc_nanos"]),
                     row["message"]])
    leaves = build_leaves(round_id, [s.model_id for s in stakes], scores)
    valid = [s for s in stakes if results[str(s.model_id)].valid]
    if valid:
        preds = np.column_stack([results[str(s.model_id)].predictions for s in valid])
        meta = scoring.meta_model(preds, np.array([float(s.stake_wei) for s in valid]))
    else:
        meta = np.full(len(live_ids), np.nan)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model_id", "stake_wei", "status", "corr", "mmc", "corr_nanos", "mmc_nanos", "message"])
    writer.writerows(rows)
    files[LIVE_IDS_NAME] = bytes(inputs.live_ids_raw)
    files[f"targets.{_ext(inputs.targets_raw)}"] = bytes(inputs.targets_raw)
    files[art.META_MODEL_NAME] = ("id,meta_model\n" + "".join(
        f"{i},{_float_text(v)}\n" for i, v in zip(live_ids, meta))).encode()
    files[art.SCORES_NAME] = out.getvalue().encode()
    files[LEAVES_NAME] = leaves_to_json(leaves)
    files[RECEIPTS_NAME] = receipts_json(inputs.receipts)
    manifest = art.build_manifest(round_id, [art.file_entry(p, b) for p, b in files.items()])
    scored_ids = {x.model_id for x in leaves if x.status == SCORED}
    tree = ResultsTree(leaves, round_id) if leaves else None
    return RoundScoring(
        root=tree.root if tree else b"\x00" * 32, leaves=tuple(leaves),
        scored_at_risk_wei=sum(s.stake_wei for s in stakes if s.model_id in scored_ids),
        artifacts_hash=art.artifacts_hash(manifest), manifest=manifest, files=files, messages=messages)
