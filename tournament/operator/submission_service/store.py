"""The submission API's storage: content-addressed files on disk plus a small SQLite index.

Every uploaded file is kept once, by content, at `<data>/files/<0x-keccak256-hex>` (no
extension): the layout `tournament.operator.sources.FolderSource` reads, so an operator can also collect
straight from this folder. Files are never overwritten; two models uploading the same bytes
share one file. Storage is bounded per (round, model): `prune` drops the oldest uploads over
a cap (never the latest, never the committed one) and deletes files no kept upload uses. `<data>/index.sqlite` records every accepted upload (round, model,
hash, size, uploader, signature, expiry, time) so the latest hash of a (round, model) and its
whole history can be answered, and a used signature is recognised; it also keeps the signed
upload receipt (protocol v2) of each accepted (round, model, file), the first one only. Thread-safe for one
process (one lock around writes; SQLite in WAL mode for concurrent reads).
"""
from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from eth_utils import keccak

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    round_id    INTEGER NOT NULL,
    model_id    INTEGER NOT NULL,
    file_hash   TEXT    NOT NULL,
    size_bytes  INTEGER NOT NULL,
    uploader    TEXT    NOT NULL,
    signature   TEXT    NOT NULL,
    expiry      INTEGER NOT NULL,
    received_at REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_model ON uploads (round_id, model_id, id);
CREATE INDEX IF NOT EXISTS uploads_by_signature ON uploads (signature);
CREATE TABLE IF NOT EXISTS receipts (
    round_id    INTEGER NOT NULL,
    model_id    INTEGER NOT NULL,
    file_hash   TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    signature   TEXT    NOT NULL,
    PRIMARY KEY (round_id, model_id, file_hash)
);
"""
# Uploads beyond the per-(round, model) cap keep their row (the signature stays "used", so it
# cannot be replayed) but lose their file and drop out of history/latest.
MIGRATIONS = ("ALTER TABLE uploads ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0",)


class StoreError(RuntimeError):
    """The store cannot serve a request (e.g. a file on disk does not match its name)."""


@dataclass(frozen=True)
class UploadRecord:
    round_id: int
    model_id: int
    file_hash: str      # 0x-hex keccak256 of the raw bytes
    size_bytes: int
    uploader: str
    signature: str
    expiry: int
    received_at: float  # unix seconds, wall clock (for people, not for rules)

    def as_json(self) -> dict:
        return {"roundId": self.round_id, "modelId": self.model_id, "submissionHash": self.file_hash,
                "size": self.size_bytes, "uploader": self.uploader, "receivedAt": self.received_at}


def hash_hex(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


class SubmissionStore:
    """Files by keccak256 under `<data_dir>/files`, the upload index in `<data_dir>/index.sqlite`."""

    def __init__(self, data_dir: str | os.PathLike):
        self.data_dir = Path(data_dir)
        self.files_dir = self.data_dir / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / "index.sqlite"
        self._lock = threading.Lock()
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(uploads)")}
            if "dropped" not in columns:
                for statement in MIGRATIONS:
                    db.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=30)

    # ---------------------------------------------------------------- files
    def path_for(self, file_hash: str) -> Path:
        return self.files_dir / file_hash.lower()

    def write_file(self, raw: bytes) -> str:
        """Stores `raw` under its hash (once; an existing file is left alone); returns the hash."""
        digest = hash_hex(raw)
        target = self.path_for(digest)
        if target.exists():
            return digest
        # Write then rename: a reader never sees half a file, and the name is only ever its content.
        fd, tmp = tempfile.mkstemp(dir=self.files_dir, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def read_file(self, file_hash: str) -> bytes:
        raw = self.path_for(file_hash).read_bytes()
        if hash_hex(raw) != file_hash.lower():
            raise StoreError(f"stored file {file_hash} does not match its hash; the disk is corrupt")
        return raw

    # ---------------------------------------------------------------- index
    def record(self, round_id: int, model_id: int, raw: bytes, *, uploader: str, signature: str,
               expiry: int) -> UploadRecord:
        """Stores the file and appends an upload to the (round, model) history; returns it."""
        with self._lock:
            digest = self.write_file(raw)
            record = UploadRecord(round_id, model_id, digest, len(raw), uploader, signature.lower(), expiry,
                                  time.time())
            with closing(self._connect()) as db, db:
                db.execute("INSERT INTO uploads (round_id, model_id, file_hash, size_bytes, uploader, signature, "
                           "expiry, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (round_id, model_id, digest, len(raw), uploader, record.signature, expiry,
                            record.received_at))
        log.info("round %d model %d: stored %s (%d bytes) from %s", round_id, model_id, digest, len(raw), uploader)
        return record

    def _rows(self, query: str, args: tuple) -> list[UploadRecord]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT round_id, model_id, file_hash, size_bytes, uploader, signature, expiry, "
                              f"received_at FROM uploads WHERE dropped = 0 AND {query}", args).fetchall()
        return [UploadRecord(*row) for row in rows]

    def history(self, round_id: int, model_id: int) -> list[UploadRecord]:
        """Every accepted upload of (round, model), oldest first."""
        return self._rows("round_id = ? AND model_id = ? ORDER BY id", (round_id, model_id))

    def latest(self, round_id: int, model_id: int) -> Optional[UploadRecord]:
        rows = self._rows("round_id = ? AND model_id = ? ORDER BY id DESC LIMIT 1", (round_id, model_id))
        return rows[0] if rows else None

    def by_signature(self, signature: str) -> Optional[UploadRecord]:
        """The upload that used `signature`, dropped ones included (a used signature stays used)."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT round_id, model_id, file_hash, size_bytes, uploader, signature, expiry, "
                             "received_at FROM uploads WHERE signature = ? ORDER BY id LIMIT 1",
                             (signature.lower(),)).fetchone()
        return UploadRecord(*row) if row else None

    def count(self, round_id: int, model_id: int) -> int:
        """Uploads of (round, model) whose files are kept."""
        with closing(self._connect()) as db:
            return int(db.execute("SELECT COUNT(*) FROM uploads WHERE round_id = ? AND model_id = ? AND dropped = 0",
                                  (round_id, model_id)).fetchone()[0])

    def prune(self, round_id: int, model_id: int, keep: int, protect: frozenset = frozenset()) -> list[str]:
        """Drops the oldest uploads of (round, model) until at most `keep` remain, never the latest
        nor one whose hash is in `protect` (the on-chain commitment); deletes files no kept upload
        uses. Returns the dropped hashes."""
        dropped: list[str] = []
        with self._lock, closing(self._connect()) as db, db:
            rows = db.execute("SELECT id, file_hash FROM uploads WHERE round_id = ? AND model_id = ? AND dropped = 0 "
                              "ORDER BY id", (round_id, model_id)).fetchall()
            excess = len(rows) - max(1, keep)
            for row_id, file_hash in rows[:-1]:
                if excess <= 0:
                    break
                if file_hash.lower() in protect:
                    continue
                db.execute("UPDATE uploads SET dropped = 1 WHERE id = ?", (row_id,))
                dropped.append(file_hash)
                excess -= 1
            for file_hash in set(dropped):
                still = db.execute("SELECT 1 FROM uploads WHERE file_hash = ? AND dropped = 0 LIMIT 1",
                                   (file_hash,)).fetchone()
                if still is None:
                    self.path_for(file_hash).unlink(missing_ok=True)
        if dropped:
            log.info("round %d model %d: dropped %d old upload(s) over the cap of %d", round_id, model_id,
                     len(dropped), keep)
        return dropped

    # ---------------------------------------------------------------- receipts (v2)
    def add_receipt(self, round_id: int, model_id: int, file_hash: str, received_at: int,
                    signature: str) -> tuple[int, str]:
        """Keeps the receipt of (round, model, file) unless one exists; returns the kept (received_at, signature)."""
        with self._lock, closing(self._connect()) as db, db:
            db.execute("INSERT OR IGNORE INTO receipts (round_id, model_id, file_hash, received_at, signature) "
                       "VALUES (?, ?, ?, ?, ?)", (round_id, model_id, file_hash.lower(), int(received_at), signature))
            row = db.execute("SELECT received_at, signature FROM receipts WHERE round_id = ? AND model_id = ? "
                             "AND file_hash = ?", (round_id, model_id, file_hash.lower())).fetchone()
        return int(row[0]), str(row[1])

    def receipts(self, round_id: int) -> list[tuple[int, str, int, str]]:
        """(model_id, file_hash, received_at, signature) of every receipt of the round."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT model_id, file_hash, received_at, signature FROM receipts WHERE round_id = ? "
                              "ORDER BY model_id, received_at, file_hash", (round_id,)).fetchall()
        return [(int(m), str(h), int(t), str(sig)) for m, h, t, sig in rows]
