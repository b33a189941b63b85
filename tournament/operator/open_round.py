"""Step 1, open: publish the round's live ids in the round folder and open the round on-chain, once.

The live ids file is written first (atomically), then `openRound` is sent only while the
round's phase is still `None`; a rerun after a crash finds the file and the open round and
does nothing. Once the round is open the published file is the round's: different ids given
later are refused, because (v2) its keccak256 is committed on-chain as `liveIdsHash`.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Union

from eth_hash.auto import keccak
from web3.contract.contract import ContractFunction

from tournament.operator.common import OperatorError, RoundStatus
from tournament.operator.context import StepContext
from tournament.operator.round_folder import live_ids_csv, read_live_ids

log = logging.getLogger(__name__)

__all__ = ["live_ids_hash", "open_round"]


def live_ids_hash(content: bytes) -> bytes:
    """`liveIdsHash = keccak256(raw bytes of the published live_ids.csv)` (protocol v2)."""
    return keccak(bytes(content))


def _open_round_call(ctx: StepContext, round_id: int, close_time: int, resolve_time: int, ids_hash: bytes) -> ContractFunction:
    """The contract call that opens a round (the one place that knows openRound's arguments)."""
    return ctx.calls.open_round(round_id, int(close_time), int(resolve_time), ids_hash)


def open_round(ctx: StepContext, round_id: int, close_time: int, resolve_time: int,
               live_ids: Union[Sequence[str], str, Path]) -> RoundStatus:
    """Publishes the live ids in the round folder and opens the round on-chain (once)."""
    ids = read_live_ids(Path(live_ids)) if isinstance(live_ids, (str, Path)) else [str(x) for x in live_ids]
    if len(ids) < 2 or len(set(ids)) != len(ids):
        raise OperatorError(f"round {round_id}: live ids must be at least two distinct ids")
    folder = ctx.folder(round_id)
    path = folder.live_ids_path
    content = live_ids_csv(ids)
    actions = []
    if path.exists() and path.read_bytes() != content and ctx.chain.phase(round_id) != "None":
        raise OperatorError(f"{path}: differs from the live ids given, and round {round_id} is already "
                            "open with the published ones; keep the published file")
    if not path.exists() or path.read_bytes() != content:
        folder.write(path.name, content)
        actions.append(f"wrote {path}")
    if ctx.chain.phase(round_id) == "None":
        ctx.settle_pending()   # an open sent by a crashed run may still be in flight
    if ctx.chain.phase(round_id) == "None":
        ctx.transact(_open_round_call(ctx, round_id, close_time, resolve_time, live_ids_hash(content)),
                     f"opening round {round_id}", round_id, "open:sent")
        actions.append("opened the round on-chain")
        ctx.point("open:done")
    else:
        info = ctx.chain.get_round(round_id)
        on_chain = bytes(info.live_ids_hash or b"")
        if on_chain != live_ids_hash(path.read_bytes()):
            raise OperatorError(f"{path}: its keccak256 0x{live_ids_hash(path.read_bytes()).hex()} is not round "
                                f"{round_id}'s liveIdsHash 0x{on_chain.hex()} on-chain; restore "
                                "the file published at open")
        if (info.close_time, info.resolve_time) != (int(close_time), int(resolve_time)):
            log.warning("round %s is already open with close %s / resolve %s (asked %s / %s); keeping it",
                        round_id, info.close_time, info.resolve_time, close_time, resolve_time)
    return ctx.status(round_id, actions, "collect after the close time")
