"""A local SQLite cache of `eth_getLogs` answers, so a log scan only asks the RPC for new blocks.

It sits UNDER the log scanner, as a web3 middleware on one `Web3` (`attach_event_cache`): every
`eth_getLogs` with numeric `fromBlock`/`toBlock` is split into the parts already scanned
(answered from the file) and the gaps (asked of the RPC, each as one `eth_getLogs`). What
comes back is stored per scope: (chain id + genesis hash, contract address(es), topics filter,
i.e. event and indexed-argument filter), as the block ranges scanned and their logs. So a
second `participant status`, explorer index or audit of the same rounds makes one small
`eth_getLogs` per scan (the blocks since the last one) instead of re-reading the round's or the
tournament's history; the adaptive window (tournament.chain.events.LogScanner) above it still
splits what the RPC refuses, and a refused gap is not recorded.

Reorg guard: nothing above `head - confirmations` is ever stored (head = the highest block
number this Web3 has seen in a block or block-number answer, which a `ChainReader` reads at
its pin anyway: no extra call); those blocks are asked again each time. And once per process
and chain, the newest stored log's block hash is compared with the chain's (one
`eth_getBlockByNumber`): a mismatch (a reorg deeper than `confirmations`, or a dev chain
restarted with the same genesis) drops that chain's entries. The chain identity is its chain
id AND genesis block hash (anvil and Hardhat share chain id 31337), read once per process.

    cache = EventCache(default_cache_path())      # ~/.cache/tournament/events.sqlite3
    attach_event_cache(w3, cache)                 # every later log scan on w3 goes through it
    cache.stats                                   # hits / rpc calls / blocks served from the file

The file is safe to share between processes (WAL mode, short transactions) and threads (one
connection behind a lock). Deleting it only costs a rescan.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

__all__ = ["CACHE_ENV", "CacheStats", "DEFAULT_CONFIRMATIONS", "EventCache", "attach_event_cache",
           "cache_from_option", "default_cache_path", "detach_event_cache"]

log = logging.getLogger(__name__)

# Blocks below the head that are never stored: deeper than any reorg a public chain has had in
# practice (Ethereum finalises after ~64 blocks; L2s' unsafe heads reorg far less deep).
DEFAULT_CONFIRMATIONS = 64
MIDDLEWARE_NAME = "tournament_event_cache"
CACHE_ENV = "TOURNAMENT_EVENT_CACHE"   # a folder, a file, or "off" (the test suite sets "off")
SCHEMA = """
CREATE TABLE IF NOT EXISTS scopes (scope TEXT PRIMARY KEY, chain TEXT NOT NULL, address TEXT, topics TEXT);
CREATE TABLE IF NOT EXISTS ranges (scope TEXT NOT NULL, from_block INTEGER NOT NULL, to_block INTEGER NOT NULL,
                                   PRIMARY KEY (scope, from_block));
CREATE TABLE IF NOT EXISTS logs (scope TEXT NOT NULL, block INTEGER NOT NULL, log_index INTEGER NOT NULL,
                                 block_hash TEXT NOT NULL, log TEXT NOT NULL,
                                 PRIMARY KEY (scope, block, log_index));
"""


def default_cache_path() -> Path:
    """`$XDG_CACHE_HOME/tournament/events.sqlite3` (default `~/.cache/...`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tournament" / "events.sqlite3"


@dataclass
class CacheStats:
    requests: int = 0        # eth_getLogs requests that reached the cache
    rpc_calls: int = 0       # eth_getLogs calls it made to the RPC (gaps and the unconfirmed tail)
    cached_blocks: int = 0   # blocks answered from the file instead of the RPC
    passed_through: int = 0  # requests it could not cache (tags, block hashes, unknown head)


def _int(value: Any) -> Optional[int]:
    """A block parameter as an int; None for tags ('latest', 'safe', ...)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    return None


def _normal_topics(topics: Any) -> Any:
    """The topics filter in one canonical form (lower-case hex, None for wildcards)."""
    if topics is None:
        return []
    out: list[Any] = []
    for topic in topics:
        if topic is None:
            out.append(None)
        elif isinstance(topic, (list, tuple)):
            out.append(sorted(str(t).lower() for t in topic))
        else:
            out.append(str(topic).lower())
    while out and out[-1] is None:   # trailing wildcards match the same logs
        out.pop()
    return out


def _normal_address(address: Any) -> Any:
    if address is None:
        return None
    if isinstance(address, (list, tuple)):
        return sorted(str(a).lower() for a in address)
    return str(address).lower()


class EventCache:
    """The SQLite file of scanned ranges and their logs (see the module docstring)."""

    def __init__(self, path: Union[str, Path], *, confirmations: int = DEFAULT_CONFIRMATIONS):
        if confirmations < 0:
            raise ValueError(f"confirmations must be >= 0, got {confirmations}")
        self.path = Path(path)
        if self.path.suffix == "" and (self.path.is_dir() or not self.path.exists()):
            self.path = self.path / "events.sqlite3"   # `--cache DIR`
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.confirmations = int(confirmations)
        self.stats = CacheStats()
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._checked_chains: set[str] = set()

    def __repr__(self) -> str:
        return f"EventCache({str(self.path)!r}, confirmations={self.confirmations})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -------------------------------------------------------------- storage
    def scope(self, chain: str, address: Any, topics: Any) -> str:
        address, topics = _normal_address(address), _normal_topics(topics)
        key = json.dumps([chain, address, topics], separators=(",", ":"))
        scope = hashlib.sha256(key.encode()).hexdigest()[:32]
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO scopes VALUES (?, ?, ?, ?)",
                             (scope, chain, json.dumps(address), json.dumps(topics)))
        return scope

    def covered(self, scope: str, start: int, end: int) -> list[tuple[int, int]]:
        """The stored ranges of `scope` that meet [start, end], clipped to it, in order."""
        with self._lock:
            rows = self._db.execute("SELECT from_block, to_block FROM ranges WHERE scope = ? AND to_block >= ? "
                                    "AND from_block <= ? ORDER BY from_block", (scope, start, end)).fetchall()
        return [(max(a, start), min(b, end)) for a, b in rows]

    def logs(self, scope: str, start: int, end: int) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT log FROM logs WHERE scope = ? AND block BETWEEN ? AND ? "
                                    "ORDER BY block, log_index", (scope, start, end)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def store(self, scope: str, start: int, end: int, logs: list[dict]) -> None:
        """Records [start, end] as scanned with `logs` (merged with adjacent or overlapping ranges)."""
        if end < start:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?, ?)",
                               [(scope, _int(x["blockNumber"]), _int(x["logIndex"]), str(x.get("blockHash", "")),
                                 json.dumps(x, separators=(",", ":"))) for x in logs
                                if start <= (_int(x["blockNumber"]) or 0) <= end])
                rows = db.execute("SELECT from_block, to_block FROM ranges WHERE scope = ? AND to_block >= ? "
                                  "AND from_block <= ?", (scope, start - 1, end + 1)).fetchall()
                lo = min([start] + [a for a, _ in rows])
                hi = max([end] + [b for _, b in rows])
                db.execute("DELETE FROM ranges WHERE scope = ? AND to_block >= ? AND from_block <= ?",
                           (scope, start - 1, end + 1))
                db.execute("INSERT INTO ranges VALUES (?, ?, ?)", (scope, lo, hi))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def drop_chain(self, chain: str) -> int:
        """Forgets every entry of one chain; returns how many scopes it had."""
        with self._lock:
            scopes = [r[0] for r in self._db.execute("SELECT scope FROM scopes WHERE chain = ?", (chain,))]
            for scope in scopes:
                self._db.execute("DELETE FROM ranges WHERE scope = ?", (scope,))
                self._db.execute("DELETE FROM logs WHERE scope = ?", (scope,))
        return len(scopes)

    def newest_log(self, chain: str) -> Optional[tuple[int, str]]:
        """(block, block hash) of the newest stored log of `chain`, if any."""
        with self._lock:
            row = self._db.execute("SELECT l.block, l.block_hash FROM logs l JOIN scopes s ON s.scope = l.scope "
                                   "WHERE s.chain = ? ORDER BY l.block DESC LIMIT 1", (chain,)).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    # -------------------------------------------------------------- one eth_getLogs
    def get_logs(self, chain: str, head: Optional[int], params: dict,
                 ask: Callable[[dict], dict]) -> dict:
        """The answer to `eth_getLogs(params)`: stored parts from the file, the rest through `ask`
        (which sends one eth_getLogs and returns the raw JSON-RPC response). An error response
        of `ask` is returned as is (the scanner above splits the window) after storing what
        was already fetched."""
        self.stats.requests += 1
        start, end = _int(params.get("fromBlock")), _int(params.get("toBlock"))
        if start is None or end is None or head is None or "blockHash" in params or end < start:
            self.stats.passed_through += 1
            self.stats.rpc_calls += 1
            return ask(params)
        scope = self.scope(chain, params.get("address"), params.get("topics"))
        safe = min(end, head - self.confirmations)
        pieces: list[tuple[int, int, bool]] = []   # (from, to, cached)
        cursor = start
        for a, b in (self.covered(scope, start, safe) if safe >= start else []):
            if a > cursor:
                pieces.append((cursor, a - 1, False))
            pieces.append((a, b, True))
            cursor = b + 1
        if cursor <= end:
            pieces.append((cursor, end, False))
        out: list[dict] = []
        response: dict = {"jsonrpc": "2.0", "id": 0}
        for a, b, cached in pieces:
            if cached:
                out.extend(self.logs(scope, a, b))
                self.stats.cached_blocks += b - a + 1
                continue
            self.stats.rpc_calls += 1
            response = ask({**params, "fromBlock": hex(a), "toBlock": hex(b)})
            if not isinstance(response, dict) or "result" not in response or response.get("error"):
                return response
            fetched = list(response["result"] or [])
            out.extend(fetched)
            if a <= safe:
                self.store(scope, a, min(b, safe), fetched)
        out.sort(key=lambda x: (_int(x["blockNumber"]) or 0, _int(x["logIndex"]) or 0))
        return {"jsonrpc": response.get("jsonrpc", "2.0"), "id": response.get("id", 0), "result": out}


class _Middleware:
    """The web3 middleware of one Web3: tracks the head, answers eth_getLogs through the cache."""

    def __init__(self, cache: EventCache, w3: Any):
        self.cache = cache
        self.w3 = w3
        self.head: Optional[int] = None
        self.chain: Optional[str] = None

    def _see_head(self, method: str, response: Any) -> None:
        if not isinstance(response, dict):
            return
        result = response.get("result")
        number = None
        if method == "eth_blockNumber":
            number = _int(result)
        elif method in ("eth_getBlockByNumber", "eth_getBlockByHash") and isinstance(result, dict):
            number = _int(result.get("number"))
        if number is not None and (self.head is None or number > self.head):
            self.head = number

    def _chain(self, make_request: Callable) -> Optional[str]:
        """chain id + genesis hash, read once; checks the newest stored log's block once per chain."""
        if self.chain is not None:
            return self.chain
        chain_id = make_request("eth_chainId", [])
        genesis = make_request("eth_getBlockByNumber", ["0x0", False])
        if not isinstance(chain_id, dict) or not isinstance(genesis, dict) or not isinstance(genesis.get("result"),
                                                                                            dict):
            return None
        chain = f"{_int(chain_id.get('result'))}:{str(genesis['result'].get('hash')).lower()}"
        if chain not in self.cache._checked_chains:
            newest = self.cache.newest_log(chain)
            if newest is not None:
                block = make_request("eth_getBlockByNumber", [hex(newest[0]), False])
                found = block.get("result") if isinstance(block, dict) else None
                if not isinstance(found, dict) or str(found.get("hash")).lower() != newest[1].lower():
                    dropped = self.cache.drop_chain(chain)
                    log.warning("event cache: block %d is no longer the one cached (reorg or a restarted chain); "
                                "dropped %d cached scans of this chain", newest[0], dropped)
            self.cache._checked_chains.add(chain)
        self.chain = chain
        return chain

    def wrap_make_request(self, make_request: Callable) -> Callable:
        def middleware(method: str, params: Any) -> Any:
            if method != "eth_getLogs" or not params or not isinstance(params[0], dict):
                response = make_request(method, params)
                self._see_head(method, response)
                return response
            chain = self._chain(make_request)
            if chain is None:
                return make_request(method, params)
            return self.cache.get_logs(chain, self.head, dict(params[0]),
                                       lambda p: make_request("eth_getLogs", [p]))
        return middleware

    def wrap_make_batch_request(self, make_batch_request: Callable) -> Callable:
        return make_batch_request   # batches carry views, never log scans

    # web3's async stack is not used by the project; the sync wrappers are all it calls.


def cache_from_option(value: Optional[str]) -> Optional[Path]:
    """The cache file for a `--cache` value: None/"" -> $TOURNAMENT_EVENT_CACHE, else the
    default file in the user's cache folder; "off" (or "none", "0") -> no cache; else a folder or file."""
    text = (value if value is not None else os.environ.get(CACHE_ENV, "")).strip()
    if text.lower() in ("off", "none", "no", "0", "false"):
        return None
    return Path(text).expanduser() if text else default_cache_path()


def attach_event_cache(w3: Any, cache: Union[EventCache, str, Path, None],
                       confirmations: int = DEFAULT_CONFIRMATIONS) -> Optional[EventCache]:
    """Puts `cache` (an EventCache, or a path/folder for one) under `w3`'s log scans; None: no cache.
    Attaching twice replaces the first. Returns the EventCache."""
    if cache is None:
        return None
    if not isinstance(cache, EventCache):
        cache = EventCache(cache, confirmations=confirmations)
    detach_event_cache(w3)
    middleware = _Middleware(cache, w3)
    # Innermost (next to the provider): it sees and returns raw JSON-RPC answers (hex strings),
    # which web3's formatting middleware then turns into logs as usual.
    onion = w3.middleware_onion
    onion.inject(lambda _w3: middleware, name=MIDDLEWARE_NAME, layer=0)   # web3: layer 0 is the innermost
    return cache


def detach_event_cache(w3: Any) -> None:
    try:
        w3.middleware_onion.remove(MIDDLEWARE_NAME)
    except (ValueError, KeyError):
        pass
