"""The demo's separate processes: co-signers, the targets source, the watchtower, and an alert webhook.

`Children` starts `python -m tournament ...` subprocesses (each with its own environment, log
file and free loopback port), waits until each answers on HTTP, and stops them all: in the
demo's `finally`, on SIGTERM (`stop_on_sigterm`), and at interpreter exit. On Linux each
child also asks the kernel for SIGTERM when the demo process dies (PR_SET_PDEATHSIG), so even
a killed demo leaves no orphans. `AlertWebhook` is the loopback endpoint the watchtower's
`--notify json://...` posts its alerts to. Nothing here prints: the demo reports through its
`echo`.
"""
from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import requests

log = logging.getLogger(__name__)

__all__ = ["AlertWebhook", "Child", "ChildFailed", "Children", "stop_on_sigterm"]

STOP_GRACE_S = 10.0
PR_SET_PDEATHSIG = 1


class ChildFailed(RuntimeError):
    """A child process did not start, or died; the message names it and ends with its log's last lines."""


def _die_with_parent() -> Optional[Callable[[], None]]:
    """A preexec_fn making the child get SIGTERM when the demo dies (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl   # resolved here: the child only calls it
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    return preexec


@dataclass
class Child:
    name: str
    args: list[str]
    log_path: Path
    url: str = ""
    ready_path: str = "/health"
    process: Optional[subprocess.Popen] = field(default=None, repr=False)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return "\n    ".join(text[-lines:]) or "(empty log)"

    def check(self) -> None:
        """Raises ChildFailed when the process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise ChildFailed(f"{self.name} exited with code {self.process.returncode}; last lines of "
                              f"{self.log_path}:\n    {self.log_tail()}")


class Children:
    """The demo's child processes, stopped together whatever happens."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.children: list[Child] = []
        self._preexec = _die_with_parent()
        atexit.register(self.stop_all)

    def start(self, name: str, cli_args: Sequence[str], *, url: str = "", ready_path: str = "/health",
              env: Optional[dict[str, str]] = None, timeout_s: float = 60.0, wait: bool = True) -> Child:
        """Starts `python -m tournament CLI_ARGS`; with `wait`, waits until `url + ready_path` answers HTTP
        (any status), else `wait_all_ready` does later (children then start in parallel)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        child = Child(name, [sys.executable, "-m", "tournament", *cli_args], self.log_dir / f"{name}.log", url,
                      ready_path)
        environment = dict(os.environ)
        environment.update(env or {})
        environment.setdefault("PYTHONUNBUFFERED", "1")
        with open(child.log_path, "ab") as out:
            child.process = subprocess.Popen(child.args, stdout=out, stderr=subprocess.STDOUT, env=environment,
                                             stdin=subprocess.DEVNULL, preexec_fn=self._preexec)
        self.children.append(child)
        log.info("started %s (pid %s): %s", name, child.process.pid, " ".join(child.args[1:]))
        if url and wait:
            self._wait_ready(child, url + ready_path, timeout_s)
        return child

    def wait_all_ready(self, timeout_s: float = 60.0) -> None:
        for child in self.children:
            if child.url:
                self._wait_ready(child, child.url + child.ready_path, timeout_s)

    @staticmethod
    def _wait_ready(child: Child, url: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            child.check()
            try:
                requests.get(url, timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise ChildFailed(f"{child.name} did not answer on {url} within {timeout_s:.0f}s; last lines of "
                          f"{child.log_path}:\n    {child.log_tail()}")

    def check_all(self) -> None:
        for child in self.children:
            child.check()

    def stop_all(self) -> None:
        """SIGTERM to every child still running, then SIGKILL to those that outlive the grace period."""
        running = [(c.name, c.process) for c in self.children if c.process is not None and c.alive()]
        for _, process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for name, process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %s) ignored SIGTERM; killing it", name, process.pid)
                process.kill()
                process.wait(timeout=5)
        for name, process in running:
            log.info("stopped %s (pid %s, code %s)", name, process.pid, process.returncode)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Inside: SIGTERM raises KeyboardInterrupt in the main thread, so `finally` blocks stop the children."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):  # noqa: ARG001 (signal handler signature)
        raise KeyboardInterrupt(f"signal {signum}")
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class AlertWebhook:
    """A loopback HTTP endpoint collecting the JSON alerts apprise's `json://` notifier posts."""

    def __init__(self) -> None:
        self.alerts: list[dict] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {"raw": "unreadable"}
                with sink._lock:
                    sink.alerts.append(body if isinstance(body, dict) else {"raw": body})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # no access log in the demo's output
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="alert-webhook", daemon=True)
        self.thread.start()

    @property
    def notify_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/alerts"

    def received(self) -> list[dict]:
        with self._lock:
            return list(self.alerts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
