"""One operator process per work folder and chain: a lock file with the holder's pid and host.

Two operator processes on one key pick the same nonces and replace each other's
transactions (each sees the other's as "stuck"). `OperatorLock` makes the second one stop
with one line instead: the lock is a file `<work>/.operator-<chainId>-<tournament8>.lock`,
created atomically (O_CREAT | O_EXCL) with JSON {pid, host, started, chain_id, tournament}.
A lock left by a process that died is stale and taken over: on the same host, a pid that
no longer runs (or runs something else since the lock's start) is dead. A lock of another
host cannot be checked from here: the message names the host and the file to delete once
that process is known to be gone. The lock is released at exit (atexit and the context
manager), only by its owner.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Optional

from tournament.operator.common import OperatorError

__all__ = ["LockHeld", "OperatorLock", "lock_path"]

log = logging.getLogger(__name__)


class LockHeld(OperatorError):
    """Another live operator process holds the work folder's lock for this chain."""


def lock_path(work_dir: Path, chain_id: int, tournament: str) -> Path:
    tag = str(tournament).lower().removeprefix("0x")[:8]
    return Path(work_dir) / f".operator-{int(chain_id)}-{tag}.lock"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # exists, another user's
        return True
    return True


def _process_start(pid: int) -> Optional[float]:
    """Unix time a process started (Linux /proc), to tell a reused pid from the lock's holder."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


class OperatorLock:
    """The lock of one work folder on one chain and tournament; `acquire()` or use `with`."""

    def __init__(self, work_dir: Path, chain_id: int, tournament: str):
        self.path = lock_path(work_dir, chain_id, tournament)
        self.chain_id = int(chain_id)
        self.tournament = str(tournament)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.held = False

    def _record(self) -> dict:
        return {"pid": self.pid, "host": self.host, "started": time.time(), "chain_id": self.chain_id,
                "tournament": self.tournament}

    def _read(self) -> Optional[dict]:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}   # half-written or damaged: its writer died mid-write or it is not ours

    def _stale(self, holder: dict) -> bool:
        if holder.get("host") != self.host:
            return False
        pid = holder.get("pid")
        if not isinstance(pid, int) or not _pid_alive(pid):
            return True
        started, since = _process_start(pid), holder.get("started")
        # A live pid that started after the lock was written is another process reusing the pid.
        return started is not None and isinstance(since, (int, float)) and started > since + 1

    def acquire(self) -> OperatorLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._read()
                if holder is None:
                    continue   # released meanwhile: try again
                if holder.get("pid") == self.pid and holder.get("host") == self.host:
                    self.held = True   # this process already holds it (a second Operator in-process)
                    return self
                if holder and not self._stale(holder):
                    since = holder.get("started")
                    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(
                        since, (int, float)) else "an unknown time"
                    raise LockHeld(f"another operator (pid {holder.get('pid')} on {holder.get('host')}, since {when}) "
                                   f"runs on this work folder and chain {self.chain_id}; stop it first, or if it is "
                                   f"gone for sure, delete {self.path}") from None
                log.warning("taking over the stale operator lock %s (%s)", self.path, holder or "unreadable")
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(self._record(), handle)
            self.held = True
            atexit.register(self.release)
            return self
        raise LockHeld(f"cannot take the operator lock {self.path}: it keeps changing hands; is another operator "
                       "starting right now?")

    def release(self) -> None:
        if not self.held:
            return
        holder = self._read()
        if holder and holder.get("pid") == self.pid and holder.get("host") == self.host:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        self.held = False

    def __enter__(self) -> OperatorLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
