"""The one round-scoring function: stakes at close + files + live ids + targets -> everything signed.

`score_round(RoundInputs) -> RoundScoring` is what the operator, every co-signer, the
watchtower and the auditor run, so that whoever recomputes a round from the same inputs gets
the same leaves, root, `scoredAtRisk` and artifacts, to the byte:
1. the live ids and the targets are read from their raw bytes (tournament.protocol.tables);
2. every stake's file is checked: none received -> INVALID ("no submission file received");
   keccak256 differs from the stake's commitment -> INVALID ("hash mismatch: ..."); otherwise
   the protocol's validation (tournament.protocol.submissions) decides, with its message;
3. the valid files are scored together (tournament.protocol.scoring: CORR, the stake-weighted
   meta model of the valid files, MMC), rounded to nanos half to even;
4. one leaf per stake (tournament.protocol.results), the tree and its root, and
   `scoredAtRisk` = the stakes at close of the SCORED leaves (protocol v2);
5. the artifacts: live_ids.csv and targets.csv byte for byte as given, every file received
   (valid, invalid or mismatching) byte for byte as submissions/<modelId>.<ext>, receipts.json,
   meta_model.csv, scores.csv (with every INVALID stake's reason), leaves.json, and
   manifest.json over them with its keccak256, the `artifactsHash`.
File names and formats are the operator's since v1, so a v1 round's artifacts are unchanged
where v1 and v2 agree. Pure: no I/O, no clock, no randomness.
"""
from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np
from eth_hash.auto import keccak

from tournament.protocol import scoring
from tournament.protocol.artifacts import artifacts_hash, build_manifest, file_entry, submission_path
from tournament.protocol.constants import (
    LEAVES_NAME,
    LIVE_IDS_NAME,
    META_MODEL_NAME,
    RECEIPTS_NAME,
    SCORES_NAME,
    TARGETS_NAME,
    Status,
)
from tournament.protocol.receipts import SignedReceipt, receipt_from_json, receipts_to_json
from tournament.protocol.results import Leaf, ResultsTree, build_leaves, leaves_to_json
from tournament.protocol.submissions import PARQUET_MAGIC, validate_predictions
from tournament.protocol.tables import read_live_ids, read_targets

__all__ = [
    "MISSING_MESSAGE", "RoundInputs", "RoundScoring", "RoundScoringError", "StakeAtClose", "StakeOutcome",
    "file_extension", "hash_mismatch_message", "score_round",
]

log = logging.getLogger(__name__)

MISSING_MESSAGE = "no submission file received"
SCORES_HEADER = ["model_id", "owner", "stake_wei", "status", "corr", "mmc", "corr_nanos", "mmc_nanos", "message"]


class RoundScoringError(ValueError):
    """Inputs that do not describe one round (duplicate stakes, a file for an unstaked model...).

    Unusable live ids or targets raise tournament.protocol.tables.TablesError instead
    (ConstantTargetsError for constant targets); both are ValueErrors with a one-line message.
    """


@dataclass(frozen=True)
class StakeAtClose:
    """One staked model of the round as the chain has it at close."""

    model_id: int
    owner: str
    amount_wei: int
    corr_mult: int
    mmc_mult: int
    submission_hash: bytes          # the bytes32 commitment: keccak256 of the file's raw bytes


@dataclass(frozen=True)
class RoundInputs:
    """Everything a round's results follow from.

    files: model id -> the raw bytes received for that stake, or None when nothing was
    received (a staked model absent from the mapping counts as None). live_ids_raw: the
    published live ids file (its keccak256 is the round's liveIdsHash). targets_raw: the
    targets as the targets source published them, byte for byte. receipts: the round's signed
    upload receipts (SignedReceipt or JSON-like dicts), carried into receipts.json.
    """

    round_id: int
    stakes: Sequence[StakeAtClose]
    files: Mapping[int, Optional[bytes]]
    live_ids_raw: bytes
    targets_raw: bytes
    receipts: Sequence[Union[SignedReceipt, Mapping[str, Any]]] = ()


@dataclass(frozen=True)
class StakeOutcome:
    """What the round says about one stake."""

    model_id: int
    owner: str
    amount_wei: int
    status: Status
    corr: Optional[float]           # the float score (None unless SCORED)
    mmc: Optional[float]
    corr_nanos: int                 # what the leaf carries (0 unless SCORED)
    mmc_nanos: int
    message: str                    # why the stake is INVALID ("" when SCORED)
    rule: str                       # the rule broken: missing, hash_mismatch, constant, ... ("" when SCORED)
    file_path: Optional[str]        # where the received file is in the artifacts (None: nothing received)
    file_hash: Optional[bytes]      # keccak256 of the received file

    @property
    def scored(self) -> bool:
        return self.status == Status.SCORED


@dataclass(frozen=True)
class RoundScoring:
    """The results of a round and every artifact file, as bytes."""

    round_id: int
    outcomes: tuple[StakeOutcome, ...]          # one per stake, by model id
    leaves: tuple[Leaf, ...]                    # one per stake, by model id
    results_root: Optional[bytes]               # None only for a round without stakes
    leaf_count: int
    scored_at_risk_wei: int
    live_ids: tuple[str, ...]
    targets: np.ndarray = field(repr=False)     # aligned to live_ids
    meta_model: np.ndarray = field(repr=False)  # aligned to live_ids; NaN when no file is valid
    files: Mapping[str, bytes] = field(repr=False)   # every artifact file but the manifest, by path
    manifest_bytes: bytes = field(repr=False)
    artifacts_hash: bytes = b""
    tree: Optional[ResultsTree] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_model", {o.model_id: o for o in self.outcomes})

    def outcome(self, model_id: int) -> StakeOutcome:
        """The outcome of one stake; KeyError if the model is not staked in the round."""
        try:
            return self._by_model[model_id]   # type: ignore[attr-defined]
        except KeyError:
            raise KeyError(f"round {self.round_id}: model {model_id} is not staked") from None

    @property
    def artifact_files(self) -> dict[str, bytes]:
        """Every file of the artifacts folder, manifest.json included."""
        return {**self.files, "manifest.json": self.manifest_bytes}


def file_extension(raw: bytes) -> str:
    """The extension a received file is published with: parquet, csv (UTF-8 text) or bin."""
    if raw[:4] == PARQUET_MAGIC:
        return "parquet"
    try:
        raw.decode("utf-8")
        return "csv"
    except UnicodeDecodeError:
        return "bin"


def hash_mismatch_message(actual: bytes, committed: bytes) -> str:
    return (f"hash mismatch: the file received has keccak256 0x{actual.hex()}, the stake committed to "
            f"0x{committed.hex()}")


def _float_text(value: Optional[float]) -> str:
    return "" if value is None or not np.isfinite(value) else repr(float(value))


def _check_stakes(inputs: RoundInputs) -> list[StakeAtClose]:
    stakes = sorted(inputs.stakes, key=lambda s: s.model_id)
    for a, b in zip(stakes, stakes[1:]):
        if a.model_id == b.model_id:
            raise RoundScoringError(f"round {inputs.round_id}: model {a.model_id} is staked twice in the inputs")
    for s in stakes:
        if isinstance(s.amount_wei, bool) or not isinstance(s.amount_wei, int) or s.amount_wei <= 0:
            raise RoundScoringError(f"round {inputs.round_id} model {s.model_id}: stake {s.amount_wei!r} wei; "
                                    "only stakes above zero at close belong in the round")
        if not isinstance(s.submission_hash, (bytes, bytearray)) or len(s.submission_hash) != 32:
            raise RoundScoringError(f"round {inputs.round_id} model {s.model_id}: submission_hash must be 32 "
                                    f"bytes, got {s.submission_hash!r}")
    unknown = sorted(set(inputs.files) - {s.model_id for s in stakes})
    if unknown:
        raise RoundScoringError(f"round {inputs.round_id}: files given for model(s) {unknown[:10]} that are not "
                                "staked in the round")
    return stakes


def score_round(inputs: RoundInputs) -> RoundScoring:
    """Validate, score and publish one round (pure and deterministic to the byte)."""
    round_id = inputs.round_id
    stakes = _check_stakes(inputs)
    live_ids = read_live_ids(inputs.live_ids_raw)
    targets = read_targets(inputs.targets_raw, live_ids)
    receipts = [receipt_from_json(r) for r in inputs.receipts]
    foreign = [r for r in receipts if r.receipt.round_id != round_id]
    if foreign:
        raise RoundScoringError(f"round {round_id}: a receipt of round {foreign[0].receipt.round_id} (model "
                                f"{foreign[0].model_id}) is among the round's receipts")
    live = np.asarray(live_ids, dtype=object)

    # 1. every stake's file: received? the committed one? valid?
    files: dict[str, bytes] = {}
    checked: list[tuple[StakeAtClose, Optional[str], Optional[bytes], str, str, Optional[np.ndarray]]] = []
    for s in stakes:
        raw = inputs.files.get(s.model_id)
        if raw is None:
            checked.append((s, None, None, MISSING_MESSAGE, "missing", None))
            continue
        raw = bytes(raw)
        published = submission_path(s.model_id, file_extension(raw))
        files[published] = raw
        received_hash = keccak(raw)
        if received_hash != bytes(s.submission_hash):
            checked.append((s, published, received_hash, hash_mismatch_message(received_hash, bytes(s.submission_hash)),
                            "hash_mismatch", None))
            continue
        result = validate_predictions(raw, live, name=published)
        checked.append((s, published, received_hash, result.message, result.rule,
                        result.predictions if result.valid else None))

    # 2. score the valid files together, stake-weighted, in model order (as the operator always has)
    valid = [(k, c) for k, c in enumerate(checked) if c[5] is not None]
    valid_predictions: list[np.ndarray] = [c[5] for _, c in valid if c[5] is not None]
    corr = np.full(len(checked), np.nan)
    mmc = np.full(len(checked), np.nan)
    meta = np.full(len(live_ids), np.nan)
    if valid:
        block = np.empty((len(valid), len(live_ids)))
        for row, column in enumerate(valid_predictions):
            block[row] = column
        weights = np.array([float(c[0].amount_wei) for _, c in valid])
        c_values, m_values = scoring.score_round(block.T, targets, weights)
        rows = [k for k, _ in valid]
        corr[rows], mmc[rows] = c_values, m_values
        meta = scoring.meta_model(np.column_stack(valid_predictions), weights)
    outcomes = []
    scores: dict[int, tuple[int, int]] = {}
    for k, (s, path, digest, message, rule, predictions) in enumerate(checked):
        if predictions is None:
            outcomes.append(StakeOutcome(s.model_id, s.owner, s.amount_wei, Status.INVALID, None, None, 0, 0,
                                         message, rule, path, digest))
            continue
        corr_nanos, mmc_nanos = (int(x) for x in scoring.to_nanos([corr[k], mmc[k]]))
        scores[s.model_id] = (corr_nanos, mmc_nanos)
        outcomes.append(StakeOutcome(s.model_id, s.owner, s.amount_wei, Status.SCORED, float(corr[k]),
                                     float(mmc[k]), corr_nanos, mmc_nanos, "", "", path, digest))

    # 3. leaves, tree, scoredAtRisk
    leaves = build_leaves(round_id, [s.model_id for s in stakes], scores)
    tree = ResultsTree(leaves, round_id) if leaves else None
    scored_at_risk = sum(o.amount_wei for o in outcomes if o.scored)

    # 4. the artifact files, byte for byte as the operator has written them since v1
    files[LIVE_IDS_NAME] = bytes(inputs.live_ids_raw)
    files[TARGETS_NAME] = bytes(inputs.targets_raw)
    files[RECEIPTS_NAME] = receipts_to_json(receipts)
    files[META_MODEL_NAME] = ("id,meta_model\n" + "".join(f"{i},{_float_text(v)}\n" for i, v in zip(live_ids, meta))
                              ).encode()
    files[SCORES_NAME] = _scores_csv(outcomes)
    files[LEAVES_NAME] = leaves_to_json(leaves)
    manifest = build_manifest(round_id, [file_entry(path, content) for path, content in files.items()])
    log.info("round %s: %d stakes, %d scored, scoredAtRisk %d wei, %d artifact files", round_id, len(stakes),
             len(scores), scored_at_risk, len(files) + 1)
    return RoundScoring(round_id, tuple(outcomes), tuple(leaves), tree.root if tree else None, len(leaves),
                        scored_at_risk, tuple(live_ids), targets, meta, dict(sorted(files.items())), manifest,
                        artifacts_hash(manifest), tree)


def _scores_csv(outcomes: Sequence[StakeOutcome]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SCORES_HEADER)
    for o in outcomes:
        writer.writerow([o.model_id, o.owner, o.amount_wei, o.status.name, _float_text(o.corr), _float_text(o.mmc),
                         o.corr_nanos, o.mmc_nanos, o.message])
    return out.getvalue().encode()
