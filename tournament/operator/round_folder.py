"""The operator's work folder for one round: paths, atomic writes, notes, collect records.

Layout (docs/INTERFACES.md): `<work>/rounds/<roundId>/` holds `live_ids.csv` (published at
open), `targets.csv`, `collect.json` (what collect received per stake), `state.json` (notes:
last transactions, the RoundOpened block hint, what was scored and proposed), `rejected/`
(files whose hash did not match their commitment) and `artifacts/` (the folder published
for auditors). Every write is atomic (temporary file, fsync, rename): a crash leaves the old
file or the new one, never half of one. The notes are hints only; every step re-derives what
it does from the chain.
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Union

from tournament.operator.common import OperatorError, StakeInfo
from tournament.protocol import tables
from tournament.protocol.constants import LEAVES_NAME, LIVE_IDS_NAME
from tournament.protocol.round_scoring import file_extension

__all__ = ["COLLECT_NAME", "LEAVES_NAME", "LIVE_IDS_NAME", "REJECTED_DIR", "STATE_NAME", "RoundFolder",
           "file_extension", "live_ids_csv", "read_live_ids", "write_atomic"]

COLLECT_NAME = "collect.json"
STATE_NAME = "state.json"
REJECTED_DIR = "rejected"


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
    """The live ids of a CSV or Parquet file with an `id` column (the protocol's one reader, tables.py)."""
    try:
        return tables.read_live_ids(Path(path).read_bytes(), name=str(path))
    except tables.TablesError as error:
        raise OperatorError(str(error)) from None


def live_ids_csv(live_ids: Iterable[str]) -> bytes:
    """The published live ids file: `id` then one id a line. Its keccak256 is the round's liveIdsHash."""
    out = io.StringIO()
    out.write("id\n")
    for value in live_ids:
        out.write(f"{value}\n")
    return out.getvalue().encode()


class RoundFolder:
    """`<work>/rounds/<roundId>/`: where one round's files and notes live."""

    def __init__(self, work_dir: Union[str, Path], round_id: int):
        self.round_id = int(round_id)
        self.path = Path(work_dir) / "rounds" / str(self.round_id)

    def __repr__(self) -> str:
        return f"RoundFolder({str(self.path)!r})"

    @property
    def artifacts(self) -> Path:
        return self.path / "artifacts"

    @property
    def live_ids_path(self) -> Path:
        return self.path / LIVE_IDS_NAME

    @property
    def collect_path(self) -> Path:
        return self.path / COLLECT_NAME

    @property
    def rejected(self) -> Path:
        return self.path / REJECTED_DIR

    def write(self, relative: str, data: Union[bytes, str]) -> Path:
        """Atomically writes `relative` (inside the round folder); returns its path."""
        target = self.path / relative
        write_atomic(target, data)
        return target

    # -------------------------------------------------------------- notes (hints, never trusted over the chain)
    def notes(self) -> dict:
        try:
            return json.loads((self.path / STATE_NAME).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {"roundId": self.round_id}

    def note(self, **changes: object) -> None:
        """Merges `changes` into state.json (dict values are merged one level deep)."""
        notes = self.notes()
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(notes.get(key), dict):
                notes[key].update(value)
            else:
                notes[key] = value
        write_atomic(self.path / STATE_NAME, json.dumps(notes, indent=1, sort_keys=True) + "\n")

    # -------------------------------------------------------------- collect records
    def write_collected(self, staked: Sequence[StakeInfo]) -> None:
        write_atomic(self.collect_path, json.dumps([asdict(s) for s in staked], indent=1) + "\n")

    def received_files(self, staked: Sequence[StakeInfo]) -> dict[int, bytes]:
        """model id -> the bytes received for it: its committed file, or the mismatching one kept in rejected/."""
        files: dict[int, bytes] = {}
        for s in staked:
            if s.file is not None:
                files[s.model_id] = (self.artifacts / s.file).read_bytes()
            elif s.rejected_file is not None:
                files[s.model_id] = (self.path / s.rejected_file).read_bytes()
        return files

    def collected(self) -> list[StakeInfo]:
        if not self.collect_path.exists():
            raise OperatorError(f"round {self.round_id}: nothing collected yet; run collect first")
        return [StakeInfo(**row) for row in json.loads(self.collect_path.read_text())]
