"""The one reader of a round's live ids and targets, CSV or Parquet, from raw bytes.

Everyone who scores a round (operator, co-signers, watchtower, auditor) reads these two
tables here, with one set of rules, so they agree on the ids and the targets or fail with
the same one-line message:
- the format is found from the bytes (Parquet starts with `PAR1`, anything else is CSV);
- live ids: a column `id` (other columns are ignored), at least two ids, no id twice, no
  empty id;
- targets: columns `id` and `target`; no id twice; every target finite and one of
  {0, 0.25, 0.5, 0.75, 1}; every live id has a target (targets for other ids are ignored);
  the live ids' targets are not all equal (`ConstantTargetsError`: no score is defined, and
  callers report it as a finding, never a traceback).
Ids are text, surrounding spaces removed, as the submission validator reads them. Pure:
bytes in, arrays out.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

import numpy as np

from tournament.protocol.constants import LIVE_IDS_NAME, TARGET_VALUES, TARGETS_NAME

__all__ = ["ConstantTargetsError", "TablesError", "read_live_ids", "read_table", "read_targets"]

PARQUET_MAGIC = b"PAR1"


class TablesError(ValueError):
    """A live ids or targets table that breaks a rule; str() is one line naming the file and the rule."""


class ConstantTargetsError(TablesError):
    """Every live id has the same target: CORR and MMC are undefined for the round."""


def _short(value: object, width: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def read_table(raw: bytes, name: str, required: Sequence[str]) -> dict[str, list]:
    """Columns of a CSV or Parquet table by name (values as text for CSV); TablesError if unreadable."""
    raw = bytes(raw)
    if not raw:
        raise TablesError(f"{name}: the file is empty; it must be a table with columns {','.join(required)}")
    columns = _parquet_columns(raw, name) if raw[:4] == PARQUET_MAGIC else _csv_columns(raw, name)
    missing = [c for c in required if c not in columns]
    if missing:
        shown = ",".join(_short(c, 20) for c in list(columns)[:6])
        raise TablesError(f"{name}: no column {missing[0]!r} (columns are [{shown}]); "
                          f"it needs the columns {','.join(required)}")
    return columns


def _csv_columns(raw: bytes, name: str) -> dict[str, list]:
    if b"\x00" in raw[:65536]:
        raise TablesError(f"{name}: binary data, neither CSV nor Parquet")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TablesError(f"{name}: not UTF-8 text (bad byte at offset {error.start}), neither CSV nor Parquet") \
            from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = [h.strip() for h in next(reader, [])]
        if not [h for h in header if h]:
            raise TablesError(f"{name}: no header line")
        repeated = sorted({h for h in header if header.count(h) > 1})
        if repeated:
            raise TablesError(f"{name}: column {repeated[0]!r} appears twice in the header")
        columns: dict[str, list] = {h: [] for h in header}
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank lines, including a trailing one
            if len(record) != len(header):
                raise TablesError(f"{name}: line {reader.line_num} has {len(record)} fields, the header has "
                                  f"{len(header)} ({_short(','.join(record))})")
            for key, value in zip(header, record):
                columns[key].append(value.strip())
    except csv.Error as error:
        raise TablesError(f"{name}: not a readable CSV table ({error})") from None
    return columns


def _parquet_columns(raw: bytes, name: str) -> dict[str, list]:
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(raw))
        return {c: table.column(c).to_pylist() for c in table.column_names}
    except Exception as error:  # pyarrow raises many types for corrupt files
        raise TablesError(f"{name}: starts like Parquet but cannot be read ({_short(str(error), 80)})") from None


def _ids(values: list, name: str) -> list[str]:
    ids = []
    for row, value in enumerate(values, start=1):
        if not isinstance(value, str):
            raise TablesError(f"{name}: id {_short(value)} in row {row} is not text; ids are strings")
        value = value.strip()
        if not value:
            raise TablesError(f"{name}: row {row} has an empty id")
        ids.append(value)
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise TablesError(f"{name}: id {_short(value)} appears more than once; every id must be listed once")
        seen.add(value)
    return ids


def read_live_ids(raw: bytes, name: str = LIVE_IDS_NAME) -> list[str]:
    """The round's live ids, in file order; TablesError if the table breaks a rule."""
    ids = _ids(read_table(raw, name, ("id",))["id"], name)
    if len(ids) < 2:
        raise TablesError(f"{name}: {len(ids)} id(s); a round needs at least two live ids")
    return ids


def _target(value: object, name: str, row_id: str) -> float:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise TablesError(f"{name}: target {_short(value)} of id {_short(row_id)} is not a number") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        raise TablesError(f"{name}: target {_short(value)} of id {_short(row_id)} is not a number")
    if not math.isfinite(number):
        raise TablesError(f"{name}: target of id {_short(row_id)} is {number!r}, not a finite number")
    if number not in TARGET_VALUES:
        raise TablesError(f"{name}: target {number!r} of id {_short(row_id)} is not one of "
                          "0, 0.25, 0.5, 0.75, 1")
    return number


def read_targets(raw: bytes, live_ids: Sequence[str], name: str = TARGETS_NAME) -> np.ndarray:
    """Targets aligned to `live_ids` (float64); TablesError (ConstantTargetsError if all equal)."""
    columns = read_table(raw, name, ("id", "target"))
    ids = _ids(columns["id"], name)
    by_id = {i: _target(v, name, i) for i, v in zip(ids, columns["target"])}
    missing = [i for i in live_ids if i not in by_id]
    if missing:
        raise TablesError(f"{name}: {len(missing)} live id(s) have no target (first: {_short(missing[0])})")
    values = np.array([by_id[i] for i in live_ids], dtype=np.float64)
    if len(values) < 2:
        raise TablesError(f"{name}: {len(values)} live id(s); scoring needs at least two")
    if values.min() == values.max():
        raise ConstantTargetsError(f"{name}: all {len(values)} live ids have the same target "
                                   f"({float(values[0])!r}); CORR and MMC are undefined for constant targets")
    return values
