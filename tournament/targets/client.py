"""Reading a round's targets from the targets source: `fetch_targets(source, round_id) -> bytes`.

`source` is one of:
- an http(s) base URL of `tournament targets serve`: `GET {url}/v1/rounds/{round}/targets`
  (a URL containing `{round}` is used as the full address instead);
- a `file://` URL or a local path: a published folder (`<dir>/<round>/targets.*`, as
  `tournament targets publish` writes it) or one targets file (then the round is not checked).
Signers, the watchtower and `tournament audit --targets-source` all read targets here, so
they agree on what "the published targets" are: the exact bytes, never a re-encoding.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional, Union
from urllib.parse import unquote, urlparse

import requests

from tournament.targets.store import TargetsError, TargetsStore

__all__ = ["TargetsNotPublished", "TargetsSourceError", "fetch_targets", "targets_url"]

log = logging.getLogger(__name__)


class TargetsSourceError(RuntimeError):
    """The targets source cannot answer (unreachable, bad address); the message says what to do."""


class TargetsNotPublished(TargetsSourceError):
    """The source answers but has no targets for this round yet (retry after resolution)."""


def targets_url(base_url: str, round_id: int) -> str:
    """The address of a round's targets at an http(s) targets source."""
    if "{round}" in base_url:
        return base_url.replace("{round}", str(int(round_id)))
    return f"{base_url.rstrip('/')}/v1/rounds/{int(round_id)}/targets"


def _fetch_http(base_url: str, round_id: int, timeout_s: float, attempts: int, base_delay_s: float,
                session: Optional[requests.Session]) -> bytes:
    url = targets_url(base_url, round_id)
    http = session or requests
    for attempt in range(1, attempts + 1):
        try:
            response = http.get(url, timeout=timeout_s)
        except (requests.ConnectionError, requests.Timeout) as error:
            problem = f"unreachable ({type(error).__name__})"
        else:
            if response.status_code == 200:
                return response.content
            if response.status_code == 404:
                raise TargetsNotPublished(f"{url}: round {round_id}'s targets are not published yet")
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                raise TargetsSourceError(f"{url}: {problem}; check the targets source address")
        if attempt == attempts:
            raise TargetsSourceError(f"{url}: {problem} after {attempts} attempts; is the targets source up?")
        delay = base_delay_s * 2 ** (attempt - 1)
        log.warning("%s: %s; retry %d/%d in %.1fs", url, problem, attempt, attempts, delay)
        time.sleep(delay)
    raise AssertionError("unreachable")


def _fetch_local(path: Path, round_id: int) -> bytes:
    if path.is_file():
        return path.read_bytes()
    if not path.is_dir():
        raise TargetsSourceError(f"targets source {path}: no such folder or file; give an http(s) URL, "
                                 "a folder written by `tournament targets publish`, or a targets file")
    try:
        raw = TargetsStore(path).get(round_id)
    except TargetsError as error:
        raise TargetsSourceError(str(error)) from None
    if raw is None:
        raise TargetsNotPublished(f"targets source {path}: round {round_id}'s targets are not published yet "
                                  f"(no {path / str(int(round_id))}/targets.csv or .parquet)")
    return raw


def fetch_targets(source: Union[str, Path], round_id: int, *, timeout_s: float = 30.0, attempts: int = 3,
                  base_delay_s: float = 0.5, session: Optional[requests.Session] = None) -> bytes:
    """The raw bytes of `round_id`'s published targets at `source` (URL, folder or file).

    Raises TargetsNotPublished before publication, TargetsSourceError when the source cannot
    be read; both name the address.
    """
    text = str(source)
    if text.startswith(("http://", "https://")):
        return _fetch_http(text, round_id, timeout_s, attempts, base_delay_s, session)
    if text.startswith("file://"):
        text = unquote(urlparse(text).path)
    return _fetch_local(Path(text), round_id)
