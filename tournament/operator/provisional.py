"""Provisional scores of a round that is resolving: the operator's daily update.

While a round waits for its resolution, the targets of some live ids may already be known
(Numerai publishes daily updates). `provisional_scores` scores the round's collected files
with THE round scoring (tournament.protocol.round_scoring.score_round), restricted to the
live ids whose targets are known so far: every file is first validated against the FULL
live ids (a file the round will call INVALID is INVALID here too, with the round's message),
then the valid ones are scored, stake-weighted meta model and MMC included, on the known
ids. The table is marked provisional in its name, in a column and in its header comment:
these are not the round's results, nothing is signed and nobody is paid from them.

`publish_provisional(work_dir, round_id, targets_path)` is the file edge: it reads the round
folder (collect.json, the received files, live_ids.csv) and the partial targets, and writes
`<work>/rounds/<r>/provisional/provisional_scores.csv` atomically (outside the artifacts
folder, whose manifest it must not change).
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from tournament.operator.common import OperatorError
from tournament.operator.round_folder import RoundFolder, write_atomic
from tournament.protocol.constants import Status
from tournament.protocol.round_scoring import (
    MISSING_MESSAGE,
    RoundInputs,
    StakeAtClose,
    hash_mismatch_message,
    score_round,
)
from tournament.protocol.submissions import validate_predictions
from tournament.protocol.tables import TablesError, read_live_ids, read_table

__all__ = ["PROVISIONAL_DIR", "PROVISIONAL_HEADER", "PROVISIONAL_NAME", "ProvisionalRow", "provisional_scores",
           "provisional_csv", "publish_provisional"]

log = logging.getLogger(__name__)

PROVISIONAL_DIR = "provisional"
PROVISIONAL_NAME = "provisional_scores.csv"
PROVISIONAL_HEADER = ["round_id", "model_id", "status", "corr", "mmc", "ids_scored", "ids_total", "as_of",
                      "provisional", "message"]


@dataclass(frozen=True)
class ProvisionalRow:
    round_id: int
    model_id: int
    status: str              # SCORED or INVALID (as the round would see the file)
    corr: Optional[float]
    mmc: Optional[float]
    ids_scored: int          # live ids with a known target
    ids_total: int
    as_of: int               # unix seconds the operator computed it
    message: str = ""


def _known_targets(targets_raw: bytes, live_ids: list[str]) -> tuple[list[str], bytes]:
    """(live ids with a known target, in live order; their id,target CSV bytes)."""
    columns = read_table(targets_raw, "partial targets", ("id", "target"))
    known = {str(i).strip(): v for i, v in zip(columns["id"], columns["target"])
             if v is not None and str(v).strip() not in ("", "nan", "NaN")}
    ids = [i for i in live_ids if i in known]
    if len(ids) < 2:
        raise OperatorError(f"only {len(ids)} live id(s) have a known target; provisional scores need at least two")
    out = io.StringIO()
    out.write("id,target\n")
    for i in ids:
        out.write(f"{i},{known[i]}\n")
    return ids, out.getvalue().encode()


def provisional_scores(round_id: int, stakes: list[StakeAtClose], files: dict[int, Optional[bytes]],
                       live_ids_raw: bytes, partial_targets_raw: bytes, as_of: int) -> list[ProvisionalRow]:
    """The round's scores on the targets known so far (pure)."""
    from eth_hash.auto import keccak
    try:
        live_ids = read_live_ids(live_ids_raw)
        known_ids, known_targets = _known_targets(partial_targets_raw, live_ids)
    except TablesError as exc:
        raise OperatorError(str(exc)) from None
    invalid: dict[int, str] = {}
    for s in stakes:
        raw = files.get(s.model_id)
        if raw is None:
            invalid[s.model_id] = MISSING_MESSAGE
        elif keccak(raw) != bytes(s.submission_hash):
            invalid[s.model_id] = hash_mismatch_message(keccak(raw), bytes(s.submission_hash))
        else:
            result = validate_predictions(raw, live_ids, name=f"model {s.model_id}")
            if not result.valid:
                invalid[s.model_id] = result.message
    valid = [s for s in stakes if s.model_id not in invalid]
    scored = {}
    if valid:
        subset_ids = ("id\n" + "".join(f"{i}\n" for i in known_ids)).encode()
        try:
            scoring = score_round(RoundInputs(round_id, valid, {s.model_id: files[s.model_id] for s in valid},
                                              subset_ids, known_targets))
        except TablesError as exc:
            raise OperatorError(f"the known targets cannot be scored yet: {exc}") from None
        scored = {o.model_id: o for o in scoring.outcomes}
    rows = []
    for s in sorted(stakes, key=lambda s: s.model_id):
        outcome = scored.get(s.model_id)
        if outcome is not None and outcome.status == Status.SCORED:
            rows.append(ProvisionalRow(round_id, s.model_id, "SCORED", outcome.corr, outcome.mmc, len(known_ids),
                                       len(live_ids), as_of))
        else:
            message = invalid.get(s.model_id) or (outcome.message if outcome else "")
            rows.append(ProvisionalRow(round_id, s.model_id, "INVALID", None, None, len(known_ids), len(live_ids),
                                       as_of, message))
    return rows


def provisional_csv(rows: list[ProvisionalRow]) -> bytes:
    out = io.StringIO()
    out.write("# PROVISIONAL scores on the targets known so far: not the round's results, not payouts\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PROVISIONAL_HEADER)
    for r in rows:
        writer.writerow([r.round_id, r.model_id, r.status, "" if r.corr is None else repr(r.corr),
                         "" if r.mmc is None else repr(r.mmc), r.ids_scored, r.ids_total, r.as_of, "true", r.message])
    return out.getvalue().encode()


def publish_provisional(work_dir: Union[str, Path], round_id: int, targets_path: Union[str, Path],
                        as_of: int) -> tuple[Path, list[ProvisionalRow]]:
    """Scores the collected files of `round_id` on the partial targets; writes provisional_scores.csv."""
    folder = RoundFolder(work_dir, round_id)
    collected = folder.collected()
    try:
        live_ids_raw = folder.live_ids_path.read_bytes()
    except OSError:
        raise OperatorError(f"round {round_id}: no live_ids.csv in {folder.path}; open the round first") from None
    try:
        targets_raw = Path(targets_path).read_bytes()
    except OSError as exc:
        raise OperatorError(f"{targets_path}: cannot read the partial targets ({exc.strerror})") from None
    stakes = [StakeAtClose(s.model_id, s.owner, int(s.stake_wei), s.corr_mult, s.mmc_mult,
                           bytes.fromhex(s.submission_hash.removeprefix("0x"))) for s in collected]
    received = folder.received_files(collected)
    files: dict[int, Optional[bytes]] = {s.model_id: received.get(s.model_id) for s in stakes}
    rows = provisional_scores(round_id, stakes, files, live_ids_raw, targets_raw, as_of)
    path = folder.path / PROVISIONAL_DIR / PROVISIONAL_NAME
    write_atomic(path, provisional_csv(rows))
    log.info("round %d: provisional scores of %d stakes on %d/%d ids -> %s", round_id, len(rows),
             rows[0].ids_scored if rows else 0, rows[0].ids_total if rows else 0, path)
    return path, rows
