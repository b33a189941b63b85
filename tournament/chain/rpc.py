"""Connecting to an RPC, and the ONE retry layer.

Retries live in web3's HTTPProvider only (`exception_retry_configuration`): a connection
error, timeout or HTTP 5xx is retried there `RETRIES` times with exponential backoff
(0.5, 1, 2, 4 s: about 7.5 s of outage is ridden out). Nothing above it retries again (the
old `with_retries` wrapper did, so one timeout could be retried 25 times). `use_retry_policy`
puts that policy on any Web3 the chain code is handed (a test's or a bench's), once.
JSON-RPC batches are the one path web3 never retries; `execute_batch` gives them the same
policy. `rpc` turns a fault that outlived the retries into a one-line `ChainError`.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from web3 import Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from tournament.chain.errors import ChainError

__all__ = ["RETRIES", "TRANSIENT", "chain_id", "connect", "execute_batch", "rpc", "use_retry_policy", "with_retries"]

log = logging.getLogger(__name__)

T = TypeVar("T")
TRANSIENT = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)
RETRIES = 5
BACKOFF_S = 0.5
_POLICY_MARK = "_tournament_retry_policy"


def _policy() -> ExceptionRetryConfiguration:
    return ExceptionRetryConfiguration(errors=(*TRANSIENT, requests.HTTPError), retries=RETRIES,
                                       backoff_factor=BACKOFF_S)


def use_retry_policy(w3: Web3) -> Web3:
    """Gives `w3`'s HTTP provider the project's retry policy (once; other providers untouched)."""
    provider = w3.provider
    if hasattr(provider, "exception_retry_configuration") and not getattr(provider, _POLICY_MARK, False):
        provider.exception_retry_configuration = _policy()
        setattr(provider, _POLICY_MARK, True)
    return w3


def connect(rpc_url: str, timeout_s: float = 30.0) -> Web3:
    """A Web3 on `rpc_url` with the retry policy, checked to answer (a clear error if not)."""
    w3 = use_retry_policy(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s})))
    rpc(lambda: w3.eth.chain_id, f"connecting to {rpc_url}")
    return w3


def chain_id(w3: Web3) -> int:
    """The RPC's chain id (one call)."""
    return int(rpc(lambda: w3.eth.chain_id, "reading the chain id"))


def rpc(fn: Callable[[], T], description: str) -> T:
    """Calls `fn` once (the provider already retried); a transient fault becomes a ChainError."""
    try:
        return fn()
    except TRANSIENT as exc:
        raise ChainError(f"{description}: RPC unreachable after {RETRIES} attempts ({type(exc).__name__}); "
                         "check the RPC URL and that the node is running, then rerun") from exc


def with_retries(fn: Callable[[], T], description: str, **_ignored: Any) -> T:
    """Compatibility name for `rpc` (callers outside chain/ still import it): no second retry layer."""
    return rpc(fn, description)


def execute_batch(w3: Web3, add_requests: Callable[[Any], None], description: str) -> list:
    """One JSON-RPC batch: `add_requests(batch)` adds the calls; retried like single requests.

    web3 does not retry batches, so this is their (only) retry layer, with the provider's policy.
    """
    for attempt in range(1, RETRIES + 1):
        try:
            with w3.batch_requests() as batch:
                add_requests(batch)
                return list(batch.execute())
        except TRANSIENT as exc:
            if attempt == RETRIES:
                raise ChainError(f"{description}: RPC unreachable after {RETRIES} attempts "
                                 f"({type(exc).__name__}); check the RPC URL and that the node is running, "
                                 "then rerun") from exc
            log.warning("%s: RPC fault (%s); retry %d/%d", description, exc, attempt, RETRIES)
            time.sleep(BACKOFF_S * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def batched(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """`items` in consecutive pages of at most `size`."""
    return [items[i:i + size] for i in range(0, len(items), size)]
