"""Where the operator fetches the prediction files that stakes committed to.

A `SubmissionSource` answers one question: the raw bytes uploaded for (round, model), or
None when there are none. `FolderSource` is the embedded default, a content-addressed
folder (`<dir>/<0x-keccak-hex>`, as the participants' tools write it); `HttpSource` asks
the submission API (`GET {base}/v1/rounds/{roundId}/models/{modelId}/submission`). Neither
trusts what it returns: the operator checks keccak256 against the on-chain commitment, so a
source can be wrong but never able to make a wrong file count. `HttpSource.receipts` also
lists the round's signed upload receipts (protocol v2), which the operator carries into the
artifacts' receipts.json. `open_source` picks one from a command-line value (a URL or a folder).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional, Protocol, Union

import requests

log = logging.getLogger(__name__)

__all__ = ["FolderSource", "HttpSource", "SourceError", "SubmissionSource", "open_source"]


class SourceError(RuntimeError):
    """A source that cannot answer (unreachable API, round still open); the message says what to do."""


class SubmissionSource(Protocol):
    def fetch(self, round_id: int, model_id: int, expected_hash: bytes) -> Optional[bytes]:
        """The uploaded bytes for (round, model), or None if there are none."""


def _hex(digest: Union[bytes, str]) -> str:
    if isinstance(digest, str):
        return "0x" + digest.lower().removeprefix("0x")
    return "0x" + bytes(digest).hex()


class FolderSource:
    """Content-addressed files `<dir>/<0x-keccak-hex>` (no extension)."""

    def __init__(self, directory: Union[str, Path]):
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"FolderSource({str(self.directory)!r})"

    def fetch(self, round_id: int, model_id: int, expected_hash: bytes) -> Optional[bytes]:
        path = self.directory / _hex(expected_hash)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None


class HttpSource:
    """The submission API: 200 raw bytes, 404 none, 403 round still open."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0, attempts: int = 4,
                 base_delay_s: float = 0.5, session: Optional[requests.Session] = None):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.base_delay_s = base_delay_s
        self.session = session or requests.Session()

    def __repr__(self) -> str:
        return f"HttpSource({self.base_url!r})"

    def fetch(self, round_id: int, model_id: int, expected_hash: bytes) -> Optional[bytes]:
        url = f"{self.base_url}/v1/rounds/{int(round_id)}/models/{int(model_id)}/submission"
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.session.get(url, params={"hash": _hex(expected_hash)}, timeout=self.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as exc:
                error = f"unreachable ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    served = response.headers.get("X-Submission-Hash")
                    if served and served.lower() != _hex(expected_hash):
                        log.info("round %s model %s: API serves %s, the stake committed to %s",
                                 round_id, model_id, served, _hex(expected_hash))
                    return response.content
                if response.status_code == 404:
                    return None
                if response.status_code == 403:
                    raise SourceError(f"{url}: 403, the submission API says round {round_id} is still open; "
                                      "collect after the round's close time")
                error = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    raise SourceError(f"{url}: {error}; check --source")
            if attempt == self.attempts:
                raise SourceError(f"{url}: {error} after {self.attempts} attempts; "
                                  "check that the submission API is up, then rerun collect")
            delay = self.base_delay_s * 2 ** (attempt - 1)
            log.warning("%s: %s; retry %d/%d in %.1fs", url, error, attempt, self.attempts, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def receipts(self, round_id: int) -> Optional[bytes]:
        """The round's upload receipts as the API lists them (JSON bytes), None if it has no such endpoint."""
        url = f"{self.base_url}/v1/rounds/{int(round_id)}/receipts"
        try:
            response = self.session.get(url, timeout=self.timeout_s)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SourceError(f"{url}: unreachable ({type(exc).__name__}); check that the submission API is up, "
                              "then rerun collect") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SourceError(f"{url}: HTTP {response.status_code}; rerun collect once the API answers")
        return response.content


def open_source(spec: Union[str, Path, SubmissionSource, None]) -> Optional[SubmissionSource]:
    """A source from a command-line value: an http(s) URL or a folder path."""
    if spec is None or hasattr(spec, "fetch"):
        return spec
    text = str(spec)
    if text.startswith(("http://", "https://")):
        return HttpSource(text)
    directory = Path(text)
    if not directory.is_dir():
        raise SourceError(f"submission source {text}: not a folder or an http(s) URL")
    return FolderSource(directory)
