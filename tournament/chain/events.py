"""Paged log scans whose window adapts to the provider's limits.

Providers refuse `eth_getLogs` over too many blocks ("block range is too wide", "exceeds max
block range", code -32005 or -32602 ...) or with too many results ("query returned more than
10000 results", "Log response size exceeded" ...). `LogScanner` asks for a window that starts
large, HALVES on such a refusal and retries the same range, and doubles again after a few
successes (not past the last halved window until many successes in a row), so a scan costs about (blocks / the provider's limit) calls, never a fixed 5,000-
block grid. A range that cannot be split further (one block with more logs than the cap)
fails with a ChainError saying so. Scans are per round (from its RoundOpened block), see
tournament.chain.reader.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, Optional

import requests
from web3.exceptions import Web3RPCError

from tournament.chain.errors import ChainError
from tournament.chain.rpc import TRANSIENT, rpc

__all__ = ["LogScanner", "fetch_events", "is_log_limit_error"]

log = logging.getLogger(__name__)

# JSON-RPC codes providers use for range / result-count refusals of eth_getLogs.
LIMIT_CODES = frozenset({-32005, -32602, -32614, -32701, -32011})
# ... and their wordings across clients (geth, erigon, nethermind, reth, Alchemy, Infura,
# QuickNode, Ankr, Hardhat, public L2 RPCs); lower case, matched as substrings.
LIMIT_PHRASES = (
    "query returned more than", "more than 10000 results", "too many results", "too many logs",
    "block range is too wide", "block range too", "range is too large", "range too large", "range too wide",
    "exceeds max block range", "exceed maximum block range", "exceeds the range", "max block range",
    "block range limit", "block range exceeded", "limit exceeded", "response size exceeded", "response is too big",
    "log response size", "query timeout exceeded", "max results", "maximum results", "logs matched by query exceeds",
    "eth_getlogs is limited", "range should work", "try with this block range", "request timed out",
)


def _error_fields(exc: BaseException) -> tuple[Optional[int], str]:
    """(JSON-RPC error code or None, lower-case message) of a provider error."""
    code: Optional[int] = None
    message = str(exc)
    response = getattr(exc, "rpc_response", None)
    payload: Any = response.get("error") if isinstance(response, dict) else None
    if payload is None and exc.args and isinstance(exc.args[0], dict):  # older web3 / other clients
        payload = exc.args[0]
    if isinstance(payload, dict):
        raw_code = payload.get("code")
        code = int(raw_code) if isinstance(raw_code, int) else None
        message = f"{payload.get('message', '')} {payload.get('data', '') or ''} {message}"
    return code, message.lower()


def is_log_limit_error(exc: BaseException) -> bool:
    """True when a provider refused an eth_getLogs for its range or its number of results."""
    if isinstance(exc, requests.HTTPError):  # some gateways answer 413 / 400 for oversized queries
        status = getattr(exc.response, "status_code", None)
        return status in (400, 413)
    if not isinstance(exc, (Web3RPCError, ValueError)):
        return False
    code, message = _error_fields(exc)
    return code in LIMIT_CODES or any(phrase in message for phrase in LIMIT_PHRASES)


class LogScanner:
    """Scans a block range in windows that shrink on provider limits and grow after successes.

    One scanner per RPC keeps what it learnt (the current window) across scans; `calls` counts
    the eth_getLogs requests made (for measurements).
    """

    def __init__(self, *, initial_window: int = 100_000, max_window: int = 2_000_000, grow_after: int = 3):
        self.window = max(1, initial_window)
        self.max_window = max(self.window, max_window)
        self.grow_after = grow_after
        self.calls = 0
        self._successes = 0
        self._ceiling: Optional[int] = None  # after a refusal: the halved window, not grown past for a while

    def scan(self, fetch: Callable[[int, int], Sequence[Any]], from_block: int, to_block: int,
             description: str, *, stop_when_found: bool = False) -> list:
        """Every result of `fetch(start, end)` over [from_block, to_block], in window order;
        with `stop_when_found`, stops after the first window that returned anything."""
        out: list = []
        start = from_block
        while start <= to_block and not (stop_when_found and out):
            end = min(to_block, start + self.window - 1)
            try:
                self.calls += 1
                out.extend(rpc(functools.partial(fetch, start, end), f"{description} (blocks {start}-{end})"))
            except TRANSIENT:
                raise
            except (Web3RPCError, ValueError, requests.HTTPError) as exc:
                if not is_log_limit_error(exc):
                    raise
                if end == start:
                    raise ChainError(f"{description}: the RPC refuses even one block ({start}) of logs ({exc}); "
                                     "use an RPC without a result cap this low") from exc
                self.window = max(1, (end - start + 1) // 2)
                self._ceiling = self.window
                self._successes = 0
                log.info("%s: the RPC refused blocks %d-%d (%s); window now %d blocks",
                         description, start, end, str(exc)[:120], self.window)
                continue
            start = end + 1
            self._successes += 1
            if self._successes >= self.grow_after and self.window < self.max_window:
                ceiling = self.max_window if self._ceiling is None else self._ceiling
                if self.window < ceiling:
                    self.window = min(ceiling, self.window * 2)
                    self._successes = 0
                elif self._successes >= 8 * self.grow_after:  # limits change (result caps vary): re-probe
                    self._ceiling = None
        return out


_DEFAULT_SCANNER = LogScanner()


def fetch_events(event: Any, from_block: int, to_block: Optional[int] = None,
                 argument_filters: Optional[dict] = None, chunk_blocks: Optional[int] = None,
                 scanner: Optional[LogScanner] = None) -> list:
    """All logs of `event` (e.g. `contract.events.StakeChanged`) in [from_block, to_block],
    decoded, sorted by chain order; paged by an adaptive `LogScanner` (`chunk_blocks`, if
    given, caps the window). Prefer `ChainReader`, which scans per round at a pinned block."""
    w3 = event.w3
    if to_block is None:
        to_block = int(rpc(lambda: w3.eth.block_number, "reading the block number"))
    scanner = scanner or (LogScanner(initial_window=chunk_blocks, max_window=chunk_blocks) if chunk_blocks
                          else _DEFAULT_SCANNER)
    logs = scanner.scan(lambda start, end: event().get_logs(from_block=start, to_block=end,
                                                            argument_filters=argument_filters),
                        from_block, to_block, f"reading {event.event_name} events")
    return sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))
