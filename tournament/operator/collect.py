"""Step 2, collect: fetch each committed file of a closed round, check its hash, note what was received.

The stakes at close (with their commitments) come from the chain; each file comes from the
submission source and counts only if its keccak256 equals the commitment. A file that does
not match is kept under `rejected/` (evidence) and its stake is noted with the reason. Files
already in the artifacts folder with the right hash are not fetched again, so a rerun after
a crash fetches only what is missing. The record of what was received is `collect.json`.
(v2) A source that lists upload receipts (the submission API) has them saved as the round
folder's `receipts.json`; score carries them into the artifacts.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

from eth_hash.auto import keccak

from tournament.operator.common import OperatorError, RoundStatus, StakeInfo
from tournament.operator.context import StepContext
from tournament.operator.round_folder import REJECTED_DIR, file_extension
from tournament.operator.sources import SubmissionSource
from tournament.protocol import artifacts as art
from tournament.protocol.constants import RECEIPTS_NAME

log = logging.getLogger(__name__)

FETCH_WORKERS = 8   # concurrent fetches from the source (bounded: a source is one server)


def _write_fast(path: Path, raw: bytes) -> None:
    """Whole-or-nothing (temporary file + rename) but not fsynced: collect re-hashes on rerun."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(raw)
    os.replace(temporary, path)

__all__ = ["collect"]


def collect(ctx: StepContext, source: SubmissionSource | None, round_id: int) -> RoundStatus:
    """Fetches each committed file of a closed round, checks its hash, and notes what was received."""
    phase = ctx.chain.phase(round_id)
    if phase == "None":
        raise OperatorError(f"round {round_id} is not opened on this deployment: nothing to collect")
    if phase == "Open":
        raise OperatorError(f"round {round_id} is Open: collect after its close time")
    if source is None:
        raise OperatorError("collect needs a submission source (--source DIR_OR_URL)")
    folder = ctx.folder(round_id)
    artifacts_dir = folder.artifacts
    if not folder.live_ids_path.exists():
        raise OperatorError(f"{folder.live_ids_path}: missing; the live ids published at open belong there")
    staked = ctx.chain.stakes_at_close(round_id)
    fetched = received = 0
    # One listing of the folder, not a glob per model: a glob per model is quadratic and
    # took minutes at 10,000 models.
    on_disk: dict[str, list[Path]] = {}
    submissions_dir = artifacts_dir / art.SUBMISSIONS_DIR
    if submissions_dir.exists():
        for path in submissions_dir.iterdir():
            on_disk.setdefault(path.name.split(".", 1)[0], []).append(path)
    todo = []
    for info in staked:
        existing = sorted(on_disk.get(str(info.model_id), []))
        good = [p for p in existing
                if p.suffix != ".tmp" and "0x" + keccak(p.read_bytes()).hex() == info.submission_hash]
        if good:
            info.file = good[0].relative_to(artifacts_dir).as_posix()
            received += 1
            continue
        for stale in existing:
            stale.unlink()
        todo.append(info)

    def fetch(info: StakeInfo) -> tuple[StakeInfo, Optional[bytes], Optional[str]]:
        raw = source.fetch(round_id, info.model_id, bytes.fromhex(info.submission_hash[2:]))
        return info, raw, (None if raw is None else "0x" + keccak(raw).hex())

    # A bounded pool: an HTTP source answers many requests at once, and keccak and the disk
    # overlap with the waiting. Files are written without an fsync each (a rerun re-checks every
    # file's hash, so a torn one is fetched again); collect.json, the record, is written durably.
    workers = max(1, min(FETCH_WORKERS, len(todo)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
        for info, raw, actual in pool.map(fetch, todo):
            fetched += 1
            if raw is None:
                info.message = "no submission file received"
                continue
            if actual != info.submission_hash:
                info.message = (f"hash mismatch: the file received has keccak256 {actual}, the stake committed "
                                f"to {info.submission_hash}")
                info.rejected_file = f"{REJECTED_DIR}/{info.model_id}.{file_extension(raw)}"
                folder.write(info.rejected_file, raw)   # published too: the artifacts carry every file received
                continue
            relative = art.submission_path(info.model_id, file_extension(raw))
            _write_fast(artifacts_dir / relative, raw)
            info.file = relative
            received += 1
            ctx.point("collect:file")
    listing = getattr(source, "receipts", None)
    raw_receipts = listing(round_id) if listing is not None else None
    if raw_receipts is not None:
        folder.write(RECEIPTS_NAME, raw_receipts)
    folder.write_collected(staked)
    log.info("round %s: %d staked models, %d files received (%d fetched now)", round_id, len(staked),
             received, fetched)
    ctx.point("collect:done")
    return ctx.status(round_id, [f"collected {received}/{len(staked)} files"], "score after the resolve time")
