"""Prediction files: reading, the protocol's validity rules, and the submission hash.

A participant uploads a CSV or Parquet table `id,prediction`; the stake commits to
`keccak256(raw file bytes)`. Validation follows the protocol's "Scores" section exactly:
the columns are `id` and `prediction`; every live id is present exactly once (rows for other
ids are ignored entirely); every live prediction is a finite number in [0, 1]; they are not
all equal. Anything else is INVALID. Bad files never raise: `validate_predictions` returns an
invalid result whose message names the file, the rule broken, an example offending row, and
what to do, so the CLI, the operator and the auditor report the same words. Pure code: the
only I/O is `read_predictions` accepting a path for convenience.
"""
from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

MAX_SUBMISSION_BYTES = 50 * 1024 * 1024   # a 5,000-id file is ~150 kB; 50 MiB leaves room
PARQUET_MAGIC = b"PAR1"
REQUIRED_COLUMNS = ("id", "prediction")


class SubmissionError(ValueError):
    """A predictions file breaks a rule; str() is the message for the participant."""

    def __init__(self, name: str, rule: str, detail: str, fix: str):
        self.name, self.rule, self.detail, self.fix = name, rule, detail, fix
        super().__init__(f"{name}: {detail}; {fix}")


@dataclass(frozen=True)
class Predictions:
    """A parsed table: ids (str) and raw prediction values (float, may be NaN), with the
    1-based line (CSV) or row (Parquet) each came from, for messages."""
    ids: np.ndarray
    values: np.ndarray
    rows: np.ndarray
    row_label: str = "line"


@dataclass(frozen=True)
class ValidationResult:
    """Outcome of validating one file against the live ids of a round."""
    name: str
    valid: bool
    message: str                       # "" when valid
    rule: str = ""                     # short machine-readable rule name when invalid
    predictions: np.ndarray | None = field(default=None, repr=False)  # aligned to live ids
    submission_hash: bytes = b""


def submission_hash(raw: bytes) -> bytes:
    """keccak256 of the raw file bytes: the commitment a stake carries."""
    from eth_utils import keccak  # imported lazily: validation alone should not need it
    return keccak(bytes(raw))


def _short(value: object, width: int = 24) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


# --------------------------------------------------------------------------- reading
def read_predictions(path_or_bytes: str | PathLike | bytes, name: str | None = None, *,
                     max_bytes: int = MAX_SUBMISSION_BYTES) -> Predictions:
    """Parse a CSV or Parquet predictions table; raise SubmissionError if it is not one."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        raw = bytes(path_or_bytes)
        name = name or "predictions"
    else:
        path = Path(path_or_bytes)
        name = name or path.name
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise SubmissionError(name, "missing", f"cannot read the file ({exc.strerror})",
                                  "check the path") from None
        if size > max_bytes:
            raise _too_large(name, size, max_bytes)
        raw = path.read_bytes()
    return _parse(raw, name, max_bytes)


def _too_large(name: str, size: int, max_bytes: int) -> SubmissionError:
    return SubmissionError(name, "too_large", f"file is {size:,} bytes, more than the "
                           f"{max_bytes:,} allowed", "upload only the id and prediction columns")


def _parse(raw: bytes, name: str, max_bytes: int) -> Predictions:
    if len(raw) > max_bytes:
        raise _too_large(name, len(raw), max_bytes)
    if len(raw) == 0:
        raise SubmissionError(name, "empty", "the file is empty",
                              "upload a table with columns id,prediction")
    if raw[:4] == PARQUET_MAGIC:
        return _parse_parquet(raw, name)
    return _parse_csv(raw, name)


def _parse_parquet(raw: bytes, name: str) -> Predictions:
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        table = pq.read_table(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises many types for corrupt files
        log.debug("parquet read failed for %s: %r", name, exc)
        raise SubmissionError(name, "not_a_table", "starts like Parquet but cannot be read "
                              f"({_short(str(exc), 80)})", "re-export the file") from None
    # pandas stores a non-trivial unnamed index as __index_level_N__: not a user column.
    columns = [c for c in table.column_names if not c.startswith("__index_level_")]
    _check_columns(name, columns)
    id_col, pred_col = table.column("id"), table.column("prediction")
    if pa.types.is_dictionary(id_col.type):   # a pandas categorical id column
        id_col = id_col.cast(id_col.type.value_type)
    if not (pa.types.is_string(id_col.type) or pa.types.is_large_string(id_col.type)):
        raise SubmissionError(name, "wrong_columns", f"column id has type {id_col.type}",
                              "ids must be strings, exactly as in the live data")
    if not (pa.types.is_floating(pred_col.type) or pa.types.is_integer(pred_col.type)):
        raise SubmissionError(name, "not_a_number", f"column prediction has type {pred_col.type}",
                              "predictions must be numbers in [0, 1]")
    ids = np.array(id_col.to_pylist(), dtype=object)
    values = np.asarray(pred_col.to_numpy(zero_copy_only=False), dtype=np.float64)
    return Predictions(ids, values, np.arange(1, len(ids) + 1), "row")


def _parse_csv(raw: bytes, name: str) -> Predictions:
    if b"\x00" in raw[:65536]:
        raise SubmissionError(name, "binary", "is binary data, neither CSV nor Parquet",
                              "upload a CSV (id,prediction) or Parquet file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(name, "binary", f"is not UTF-8 text (bad byte at offset "
                              f"{exc.start}), neither CSV nor Parquet",
                              "upload a CSV (id,prediction) or Parquet file") from None
    if '"' not in text and "\r" not in text and max(map(len, text.split("\n"))) <= csv.field_size_limit():
        # Without quotes or carriage returns csv.reader only splits lines on "\n" and fields on
        # ",": this is the same parse (same rows, line numbers and errors), ~4x faster, which
        # matters at 15,000 files per round (score and every audit parse them all).
        return _parse_plain_csv(text, name)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, None)
        if header is None or not [h for h in header if h.strip()]:
            raise SubmissionError(name, "empty", "has no header line",
                                  "the first line must be id,prediction")
        _check_columns(name, [h.strip() for h in header])
        id_at = [h.strip() for h in header].index("id")
        pred_at = [h.strip() for h in header].index("prediction")
        ids: list[str] = []
        texts: list[str] = []
        lines: list[int] = []
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank lines, including a trailing one
            if len(record) != len(header):
                raise SubmissionError(
                    name, "not_a_table", f"line {reader.line_num} has {len(record)} fields, "
                    f"the header has {len(header)} ({_short(','.join(record), 40)})",
                    "every line must be id,prediction")
            ids.append(record[id_at].strip())
            texts.append(record[pred_at].strip())
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise SubmissionError(name, "not_a_table", f"is not a readable CSV table ({exc})",
                              "upload a CSV (id,prediction) or Parquet file") from None
    values = np.array([_to_float(t) for t in texts], dtype=np.float64)
    return Predictions(np.array(ids, dtype=object), values, np.array(lines), "line")


def _parse_plain_csv(text: str, name: str) -> Predictions:
    """`_parse_csv` for text without '"' or '\r' (see there)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()   # the final newline ends the last line; it does not start one
    header = lines[0].split(",") if lines else None
    if header is None or not [h for h in header if h.strip()]:
        raise SubmissionError(name, "empty", "has no header line", "the first line must be id,prediction")
    names = [h.strip() for h in header]
    _check_columns(name, names)
    id_at, pred_at, width = names.index("id"), names.index("prediction"), len(header)
    records = [line.split(",") for line in lines[1:]]
    numbers: Sequence[int]
    if all(len(r) == width for r in records):   # the usual file: no blank or short lines
        numbers = range(2, len(records) + 2)
    else:
        kept = []
        for number, record in enumerate(records, start=2):
            if len(record) == 1 and not record[0].strip():
                continue  # blank lines, including a trailing one
            if len(record) != width:
                raise SubmissionError(
                    name, "not_a_table", f"line {number} has {len(record)} fields, "
                    f"the header has {width} ({_short(','.join(record), 40)})",
                    "every line must be id,prediction")
            kept.append((number, record))
        numbers = [n for n, _ in kept]
        records = [r for _, r in kept]
    ids = [r[id_at].strip() for r in records]
    texts = [r[pred_at].strip() for r in records]
    try:   # float() on each, in C; any text that is not a number: the per-value path (NaN for it)
        values = np.array(texts, dtype=object).astype(np.float64) if texts else np.zeros(0)
    except (ValueError, TypeError):
        values = np.array([_to_float(t) for t in texts], dtype=np.float64)
    return Predictions(np.array(ids, dtype=object), values, np.array(numbers), "line")


def _to_float(text: str) -> float:
    """A number, or NaN for anything that is not one (reported later as not finite)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _check_columns(name: str, columns: Sequence[str]) -> None:
    if sorted(columns) != sorted(REQUIRED_COLUMNS):
        shown = ",".join(_short(c, 20) for c in columns[:6]) + ("..." if len(columns) > 6 else "")
        raise SubmissionError(name, "wrong_columns", f"columns are [{shown}], not id,prediction",
                              "the table must have exactly the two columns id and prediction")


# --------------------------------------------------------------------------- validation
_POSITIONS: list = [None, None]   # (live ids tuple, {id: position}) of the last round validated


def _positions(live: np.ndarray) -> dict:
    """{id: position} of the live ids; kept for the next file of the same round (thousands per round)."""
    key = tuple(str(i) for i in live)
    if _POSITIONS[0] != key:
        _POSITIONS[:] = [key, {i: k for k, i in enumerate(key)}]
    return _POSITIONS[1]


def check_predictions(table: Predictions, live_ids: Sequence[str] | np.ndarray, name: str,
                      ) -> np.ndarray:
    """Apply the protocol's rules to a parsed table; return predictions aligned to live_ids
    or raise SubmissionError."""
    live = np.asarray(live_ids, dtype=object)
    if len(table.ids) == 0:
        raise SubmissionError(name, "empty", "the table has no rows",
                              "add one row per live id")
    position = _positions(live)
    at = np.fromiter((position.get(i, -1) for i in table.ids), dtype=np.int64,
                     count=len(table.ids))
    on_live = np.flatnonzero(at >= 0)      # rows for other ids are ignored entirely
    live_rows = at[on_live]
    order = np.argsort(live_rows, kind="stable")
    sorted_pos = live_rows[order]
    dup = np.flatnonzero(sorted_pos[1:] == sorted_pos[:-1])
    if len(dup):
        first, second = on_live[order[dup[0]]], on_live[order[dup[0] + 1]]
        count = len(np.unique(sorted_pos[dup]))
        raise SubmissionError(
            name, "duplicate_ids", f"{count} id(s) appear more than once (first: "
            f"{_short(table.ids[first])} at {table.row_label}s {table.rows[first]} and "
            f"{table.rows[second]})", "give every id exactly one prediction")
    if len(on_live) < len(live):
        present = np.zeros(len(live), dtype=bool)
        present[live_rows] = True
        missing = np.flatnonzero(~present)
        raise SubmissionError(
            name, "missing_ids", f"{len(missing)} id(s) missing (first: "
            f"{_short(live[missing[0]])})", "every live id must have a prediction")
    values = table.values[on_live]
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        k = on_live[bad[0]]
        raise SubmissionError(
            name, "not_finite", f"{len(bad)} prediction(s) are not finite numbers (first: "
            f"{table.row_label} {table.rows[k]}, id {_short(table.ids[k])})",
            "every prediction must be a number in [0, 1]")
    out = np.flatnonzero((values < 0) | (values > 1))
    if len(out):
        k = on_live[out[0]]
        raise SubmissionError(
            name, "out_of_range", f"{len(out)} prediction(s) outside [0, 1] (first: "
            f"{table.row_label} {table.rows[k]}, id {_short(table.ids[k])}, value "
            f"{float(table.values[k])!r})", "rescale predictions into [0, 1], e.g. by ranking them")
    if values.min() == values.max():
        raise SubmissionError(
            name, "constant", f"all {len(values)} predictions are equal ({float(values[0])!r})",
            "predictions must rank the ids; a constant has no ranking")
    aligned = np.empty(len(live), dtype=np.float64)
    aligned[live_rows] = values
    return aligned


def validate_predictions(raw_bytes: bytes, live_ids: Sequence[str] | np.ndarray, *, name: str,
                         max_bytes: int = MAX_SUBMISSION_BYTES) -> ValidationResult:
    """Validate one uploaded file against a round's live ids. Never raises for a bad file.

    Returns a valid result with predictions aligned to live_ids order, or an invalid one
    with the message (and no predictions: a partial result is never returned).
    """
    digest = b""
    try:
        digest = submission_hash(raw_bytes)
        table = _parse(bytes(raw_bytes), name, max_bytes)
        aligned = check_predictions(table, live_ids, name)
    except SubmissionError as exc:
        return ValidationResult(name, False, str(exc), exc.rule, None, digest)
    except Exception as exc:  # a file must never crash the round: report it as invalid
        log.exception("unexpected error validating %s", name)
        return ValidationResult(name, False, f"{name}: cannot be read ({type(exc).__name__}); "
                                "upload a CSV (id,prediction) or Parquet file", "unreadable",
                                None, digest)
    return ValidationResult(name, True, "", "", aligned, digest)


def validate_file(path: str | PathLike, live_ids: Iterable[str], *,
                  max_bytes: int = MAX_SUBMISSION_BYTES) -> ValidationResult:
    """validate_predictions for a file on disk (a missing or oversized file is invalid)."""
    name = Path(path).name
    live = np.asarray(list(live_ids), dtype=object)
    try:
        size = Path(path).stat().st_size
        if size > max_bytes:
            return ValidationResult(name, False, str(_too_large(name, size, max_bytes)),
                                    "too_large")
        raw = Path(path).read_bytes()
    except OSError as exc:
        return ValidationResult(name, False, f"{name}: cannot read the file ({exc.strerror}); "
                                "check the path", "missing")
    return validate_predictions(raw, live, name=name, max_bytes=max_bytes)


# --------------------------------------------------------------------------- a whole round
def score_submissions(raw_by_model: Mapping[str, bytes | ValidationResult], targets: pd.Series,
                      stakes: Mapping[str, float] | None = None, *,
                      file_names: Mapping[str, str] | None = None,
                      progress: bool = False) -> pd.DataFrame:
    """Validate and score every submission of a round (pure: bytes in, table out).

    raw_by_model: model -> raw file bytes, or an already-invalid ValidationResult (a missing
    or oversized file the caller did not read). targets: float Series indexed by live id. stakes: model -> stake (any unit; only the
    proportions matter), equal weights when None. Returns one row per model, in input
    order: model, status (SCORED/INVALID), corr, mmc, corr_nanos, mmc_nanos, message,
    submission_hash. INVALID rows have NaN scores and 0 nanos, as the protocol's leaves do.
    """
    import pandas as pd
    from tqdm import tqdm

    from tournament.protocol import scoring

    live_ids = targets.index.to_numpy(dtype=object)
    target_values = targets.to_numpy(dtype=np.float64)
    if len(live_ids) < 2 or target_values.min() == target_values.max():
        raise ValueError("targets must cover at least two ids and not be constant")
    models = list(raw_by_model)
    if stakes is not None:
        unstaked = [m for m in models if m not in stakes]
        if unstaked:
            raise ValueError(f"{len(unstaked)} model(s) have no stake (first: {unstaked[0]}); "
                             "list every model in the stakes table")
    names = file_names or {}
    results: list[ValidationResult] = []
    block = np.empty((len(models), len(live_ids)))   # rows = models: Fortran view below
    valid_rows: list[int] = []
    for model in tqdm(models, desc="validate", unit="file", disable=not progress):
        raw = raw_by_model[model]
        result = raw if isinstance(raw, ValidationResult) else validate_predictions(
            raw, live_ids, name=names.get(model, model))
        if result.valid and result.predictions is not None:
            block[len(valid_rows)] = result.predictions
            valid_rows.append(len(results))
        results.append(result)
    corr = np.full(len(models), np.nan)
    mmc = np.full(len(models), np.nan)
    if valid_rows:
        preds = block[: len(valid_rows)].T            # ids x models, Fortran-ordered
        weights = None if stakes is None else np.array(
            [float(stakes[models[i]]) for i in valid_rows])
        bar = tqdm(total=2 * len(valid_rows), desc="score", unit="model", disable=not progress)
        c, m = scoring.score_round(preds, target_values, weights, progress=bar.update)
        bar.close()
        corr[valid_rows], mmc[valid_rows] = c, m
    del block
    valid = np.zeros(len(models), dtype=bool)
    valid[valid_rows] = True
    corr_nanos = np.zeros(len(models), dtype=np.int64)
    mmc_nanos = np.zeros(len(models), dtype=np.int64)
    if valid_rows:
        corr_nanos[valid] = scoring.to_nanos(corr[valid])
        mmc_nanos[valid] = scoring.to_nanos(mmc[valid])
    return pd.DataFrame({
        "model": models,
        "status": np.where(valid, "SCORED", "INVALID"),
        "corr": corr, "mmc": mmc,
        "corr_nanos": corr_nanos, "mmc_nanos": mmc_nanos,
        "message": [r.message for r in results],
        "submission_hash": ["0x" + r.submission_hash.hex() if r.submission_hash else ""
                            for r in results],
    })
