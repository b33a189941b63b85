"""The off-chain inputs a co-signer reads itself: live ids, committed files, receipts, targets.

Every input is checked before use: the live ids against the round's `liveIdsHash`, each file
against the hash its stake committed to, each receipt against its signature, RECEIPT_ROLE,
the round and the close time. A committed file with a valid receipt that the submission
service does not serve is a refusal (the round cannot be recomputed honestly); a source
that is down or a round whose targets are not yet published is "not ready" (retryable).
Receipts come from the submission service's receipts endpoint and, as a second source, the
operator's `receipts.json`: a receipt proves itself, so where it was found does not matter.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlparse

import requests
from eth_hash.auto import keccak

from tournament.operator.sources import SourceError, open_source
from tournament.protocol.constants import RECEIPTS_NAME
from tournament.protocol.receipts import ReceiptError, SignedReceipt, parse_receipts
from tournament.protocol.signing import Domain
from tournament.signer.chain import RoundOnChain, SignerChain
from tournament.signer.decision import Evidence, NotReady, Refusal
from tournament.signer.receipts import recover_all, usable_receipts
from tournament.targets.client import TargetsNotPublished, TargetsSourceError, fetch_targets

__all__ = ["Gathered", "Sources", "gather", "read_location"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sources:
    """Where a signer reads each input. Templates may contain `{round}`."""

    submissions: str                      # submission service base URL (or a content-addressed folder)
    targets: str                          # targets source: URL, folder or file
    live_ids: Optional[str] = None        # default: {submissions}/v1/rounds/{round}/live_ids
    receipts: Optional[str] = None        # default: {submissions}/v1/rounds/{round}/receipts
    timeout_s: float = 30.0

    def _is_http(self) -> bool:
        return self.submissions.startswith(("http://", "https://"))

    def live_ids_location(self, round_id: int) -> str:
        if self.live_ids:
            return self.live_ids.replace("{round}", str(round_id))
        if not self._is_http():
            raise NotReady("no live ids location: pass --live-ids-url (the submission source is a folder)")
        return f"{self.submissions.rstrip('/')}/v1/rounds/{round_id}/live_ids"

    def receipts_location(self, round_id: int) -> Optional[str]:
        if self.receipts:
            return self.receipts.replace("{round}", str(round_id))
        if self._is_http():
            return f"{self.submissions.rstrip('/')}/v1/rounds/{round_id}/receipts"
        return None


@dataclass(frozen=True)
class Gathered:
    evidence: Evidence
    receipts: tuple[SignedReceipt, ...]
    served: dict          # model id -> the bytes the submission service served (any hash), for scoring


def read_location(location: str, timeout_s: float = 30.0) -> Optional[bytes]:
    """Bytes at an http(s) URL, a file:// URL or a path; None when absent (404, no such file)."""
    if location.startswith(("http://", "https://")):
        try:
            response = requests.get(location, timeout=timeout_s)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise NotReady(f"{location}: unreachable ({type(error).__name__})") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise NotReady(f"{location}: HTTP {response.status_code}")
        return response.content
    if location.startswith("file://"):
        location = unquote(urlparse(location).path)
    path = Path(location)
    return path.read_bytes() if path.is_file() else None


def artifacts_location(artifacts_url: str, name: str) -> str:
    return artifacts_url.rstrip("/") + "/" + name


def _receipts(location: Optional[str], source_name: str, timeout_s: float) -> list[SignedReceipt]:
    if not location:
        return []
    try:
        raw = read_location(location, timeout_s)
    except NotReady as error:
        log.warning("receipts from %s unavailable: %s", source_name, error)
        return []
    if raw is None:
        log.info("no receipts at %s (%s)", location, source_name)
        return []
    try:
        return parse_receipts(raw, location)
    except ReceiptError as error:
        log.warning("%s", error)
        return []


def gather(state: RoundOnChain, domain: Domain, chain: SignerChain, sources: Sources,
           artifacts_url: Optional[str]) -> Gathered:
    """Read and check every input of the round (see the module docstring)."""
    round_id = state.round_id
    # Live ids: the exact bytes committed at open.
    location = sources.live_ids_location(round_id)
    live_ids_raw = read_location(location, sources.timeout_s)
    if live_ids_raw is None:
        raise NotReady(f"round {round_id}: no live ids at {location}")
    if state.live_ids_hash is not None and keccak(live_ids_raw) != state.live_ids_hash:
        raise Refusal(f"round {round_id}: the live ids at {location} have keccak256 0x{keccak(live_ids_raw).hex()}, "
                      f"the round's liveIdsHash is 0x{state.live_ids_hash.hex()}")
    # Targets: from the targets source only.
    try:
        targets_raw = fetch_targets(sources.targets, round_id, timeout_s=sources.timeout_s)
    except TargetsNotPublished as error:
        raise NotReady(f"targets not yet published: {error}") from None
    except TargetsSourceError as error:
        raise NotReady(f"targets source: {error}") from None
    # Receipts: both sources, each receipt verified on its own.
    found = _receipts(sources.receipts_location(round_id), "the submission service", sources.timeout_s)
    if artifacts_url:
        found += _receipts(artifacts_location(artifacts_url, RECEIPTS_NAME), "the operator's artifacts", sources.timeout_s)
    recovered = recover_all(domain, found)
    holders = chain.receipt_signers([a for _, a in recovered if a is not None], state.block_number) if recovered else set()
    receipts = usable_receipts(recovered, round_id, state.close_time, holders)
    distinct = len({r.sort_key() for r in found})
    if len(receipts) < distinct:
        log.info("round %s: %d of %d distinct receipts count (others: bad signature, no RECEIPT_ROLE, other round "
                 "or after close)", round_id, len(receipts), distinct)
    committed = {s.model_id: bytes(s.submission_hash) for s in state.stakes}
    receipt_models = frozenset(r.receipt.model_id for r in receipts
                               if committed.get(r.receipt.model_id) == r.receipt.submission_hash)
    # Files: each committed hash from the submission service.
    try:
        source = open_source(sources.submissions)
    except SourceError as error:
        raise NotReady(str(error)) from None
    if source is None:  # open_source gives None only for no spec; `submissions` is always set
        raise NotReady("no submission source configured")
    files: dict[int, bytes] = {}
    served: dict[int, bytes] = {}
    for stake in state.stakes:
        try:
            raw = source.fetch(round_id, stake.model_id, bytes(stake.submission_hash))
        except SourceError as error:
            raise NotReady(f"submission service: {error}") from None
        if raw is not None:
            served[stake.model_id] = raw   # a mismatching file is scored INVALID, as the operator does
        if raw is not None and keccak(raw) == bytes(stake.submission_hash):
            files[stake.model_id] = raw
            continue
        if stake.model_id in receipt_models:
            state_text = "does not serve that file" if raw is None else "serves other bytes for it"
            raise Refusal(f"model {stake.model_id}: a valid upload receipt of 0x{bytes(stake.submission_hash).hex()} "
                          f"exists, but the submission service {state_text}; the round cannot be recomputed")
    evidence = Evidence(stakes=state.stakes, files=files, receipt_models=receipt_models,
                        live_ids_raw=live_ids_raw, targets_raw=targets_raw)
    return Gathered(evidence, tuple(receipts), served)
