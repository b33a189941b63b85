"""What this signer has signed, kept on disk: never two different results for one (round, attempt).

One SQLite file in the state folder, a row per signed (round, attempt) with the results and
the signature, written (and committed, synchronous=FULL) BEFORE the signature leaves the
process. The primary key makes a second, different row impossible even if two requests race;
a restart opens the same file and keeps the memory. Repeating the same results returns the
stored signature.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from tournament.protocol.signing import Results

__all__ = ["Ledger", "LedgerConflict", "SignedEntry"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS signed (
    round_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    results TEXT NOT NULL,
    signature TEXT NOT NULL,
    signer TEXT NOT NULL,
    signed_at REAL NOT NULL,
    PRIMARY KEY (round_id, attempt)
)
"""


class LedgerConflict(Exception):
    """Different results were already signed for this (round, attempt)."""


@dataclass(frozen=True)
class SignedEntry:
    round_id: int
    attempt: int
    results: dict
    signature: str
    signer: str
    signed_at: float


def _results_key(results: Results) -> dict:
    return {"round_id": results.round_id, "attempt": results.attempt, "results_root": "0x" + results.results_root.hex(),
            "leaf_count": results.leaf_count, "scored_at_risk": str(results.scored_at_risk),
            "artifacts_hash": "0x" + results.artifacts_hash.hex(), "signer_set_version": results.signer_set_version}


class Ledger:
    """The signed-results memory of one signer (one SQLite file)."""

    FILE_NAME = "signed.sqlite"

    def __init__(self, state_dir: Union[str, Path]):
        self.path = Path(state_dir) / self.FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, round_id: int, attempt: int) -> Optional[SignedEntry]:
        with self._lock:
            row = self._db.execute("SELECT results, signature, signer, signed_at FROM signed WHERE round_id=? AND attempt=?",
                                   (round_id, attempt)).fetchone()
        if row is None:
            return None
        return SignedEntry(round_id, attempt, json.loads(row[0]), row[1], row[2], row[3])

    def same(self, entry: SignedEntry, results: Results) -> bool:
        return entry.results == _results_key(results)

    def record(self, results: Results, signature: bytes, signer: str) -> SignedEntry:
        """Persist a signature before it is handed out; LedgerConflict if other results hold the slot."""
        key = _results_key(results)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                row = self._db.execute("SELECT results, signature, signer, signed_at FROM signed "
                                       "WHERE round_id=? AND attempt=?", (results.round_id, results.attempt)).fetchone()
                if row is not None:
                    self._db.execute("ROLLBACK")
                    if json.loads(row[0]) != key:
                        raise LedgerConflict(json.loads(row[0])["results_root"])
                    return SignedEntry(results.round_id, results.attempt, key, row[1], row[2], row[3])
                now = time.time()
                self._db.execute("INSERT INTO signed VALUES (?, ?, ?, ?, ?, ?)",
                                 (results.round_id, results.attempt, json.dumps(key, sort_keys=True),
                                  "0x" + bytes(signature).hex(), signer, now))
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return SignedEntry(results.round_id, results.attempt, key, "0x" + bytes(signature).hex(), signer, now)
