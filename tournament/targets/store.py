"""A folder of published targets files: `<dir>/<round>/targets.csv` (or `.parquet`), write-once.

Publishing checks that the file is a targets table (`id,target`, distinct ids, every target
one of 0, 0.25, 0.5, 0.75, 1) and writes it atomically; publishing the same bytes again is a
no-op, publishing different bytes for an already published round is refused: targets that
change after resolution would make every signature and audit of the round disagree.
"""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Optional, Union

from eth_hash.auto import keccak

__all__ = ["TARGET_VALUES", "TargetsError", "TargetsStore", "check_targets_bytes"]

log = logging.getLogger(__name__)

PARQUET_MAGIC = b"PAR1"
TARGET_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)
FILE_STEM = "targets"
MAX_TARGETS_BYTES = 200 * 1024 * 1024


class TargetsError(ValueError):
    """A targets file or folder that cannot be used; the message says which and what to do."""


def _extension(raw: bytes) -> str:
    return "parquet" if raw[:4] == PARQUET_MAGIC else "csv"


def check_targets_bytes(raw: bytes, name: str = "targets") -> int:
    """The number of ids in a targets file; TargetsError naming the first problem otherwise."""
    import pandas as pd

    if len(raw) > MAX_TARGETS_BYTES:
        raise TargetsError(f"{name}: {len(raw)} bytes, more than the {MAX_TARGETS_BYTES} allowed")
    try:
        if _extension(raw) == "parquet":
            frame = pd.read_parquet(io.BytesIO(raw))
        else:
            frame = pd.read_csv(io.BytesIO(raw), dtype={"id": str})
    except Exception as error:  # any parser failure is the same user error: not a table
        raise TargetsError(f"{name}: not a CSV or Parquet table ({type(error).__name__}); "
                           "expected columns id,target") from None
    if list(frame.columns[:2]) != ["id", "target"]:
        raise TargetsError(f"{name}: columns are {list(frame.columns)[:4]}, expected id,target")
    if len(frame) < 2:
        raise TargetsError(f"{name}: {len(frame)} rows; a round needs at least two ids")
    ids = frame["id"].astype(str)
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise TargetsError(f"{name}: id {repeated.iloc[0]} appears more than once")
    try:
        values = frame["target"].astype(float)
    except (TypeError, ValueError):
        raise TargetsError(f"{name}: column target must be numbers") from None
    bad = values[~values.isin(TARGET_VALUES)]
    if len(bad):
        raise TargetsError(f"{name}: target {float(bad.iloc[0])} of id {ids[bad.index[0]]} is not one of "
                           f"{', '.join(str(v) for v in TARGET_VALUES)}")
    return len(frame)


class TargetsStore:
    """Published targets, one folder per round."""

    def __init__(self, directory: Union[str, Path]):
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"TargetsStore({str(self.directory)!r})"

    def round_dir(self, round_id: int) -> Path:
        return self.directory / str(int(round_id))

    def path(self, round_id: int) -> Optional[Path]:
        """The published file of a round, or None; two files for one round is an error."""
        folder = self.round_dir(round_id)
        found = sorted(p for p in folder.glob(f"{FILE_STEM}.*") if p.suffix in (".csv", ".parquet"))
        if len(found) > 1:
            raise TargetsError(f"{folder}: holds {len(found)} targets files ({', '.join(p.name for p in found)}); "
                               "keep exactly one")
        return found[0] if found else None

    def get(self, round_id: int) -> Optional[bytes]:
        """The published bytes of a round's targets, or None before publication."""
        path = self.path(round_id)
        return None if path is None else path.read_bytes()

    def publish(self, round_id: int, raw: bytes) -> tuple[Path, bool]:
        """Publish a round's targets; returns (path, written). Never replaces different bytes."""
        if isinstance(round_id, bool) or not isinstance(round_id, int) or not 0 < round_id < 2**32:
            raise TargetsError(f"round id must be an integer in [1, 2^32), got {round_id!r}")
        count = check_targets_bytes(raw, f"targets of round {round_id}")
        existing = self.path(round_id)
        if existing is not None:
            if existing.read_bytes() == raw:
                return existing, False
            raise TargetsError(f"round {round_id}: targets already published at {existing} (keccak256 "
                               f"0x{keccak(existing.read_bytes()).hex()}) and differ from this file; published "
                               "targets never change")
        target = self.round_dir(round_id) / f"{FILE_STEM}.{_extension(raw)}"
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        with open(temporary, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)  # readers see no file or the whole file, never half of it
        log.info("round %s: published %d targets at %s (keccak256 0x%s)", round_id, count, target,
                 keccak(raw).hex())
        return target, True
