"""Settling an accepted round from its published leaves (permissionless, any key with gas).

The keeper trusts nothing it downloads: `leaves.json` from the artifacts folder or URL is
turned into the results tree (tournament.protocol.results) and its root and leaf count must
equal the accepted ones on-chain before any transaction is sent. Unsettled leaves are sent in
multiproof batches of at most `batch_size`; a batch whose gas estimate exceeds a share of the
block gas limit is halved. Stakes the tree does not cover stay for the settleTimeout refund.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from tournament.admin.connection import TournamentChain
from tournament.chain.calls import Calls
from tournament.chain.client import Transactor
from tournament.keeper import reads
from tournament.keeper.refunds import KeeperError
from tournament.protocol.results import DEFAULT_BATCH_SIZE, Leaf, ResultsError, ResultsTree, leaves_from_json

log = logging.getLogger(__name__)

LEAVES_NAME = "leaves.json"
BLOCK_GAS_SHARE = 0.5  # a settle batch may use at most this share of a block


def _candidates(artifacts: str, round_id: int) -> list[str]:
    text = str(artifacts).rstrip("/")
    if "{round}" in text:
        return [text.format(round=round_id)]
    if text.endswith(".json"):
        return [text]
    return [f"{text}/rounds/{round_id}/artifacts/{LEAVES_NAME}", f"{text}/{round_id}/{LEAVES_NAME}",
            f"{text}/{LEAVES_NAME}"]


def load_leaves_bytes(artifacts: str, round_id: int, timeout_s: float = 30.0) -> Optional[bytes]:
    """The round's leaves.json from a folder or an http(s) base URL; None where it is not published.

    Tried in order: `<base>/rounds/<round>/artifacts/leaves.json` (an operator work folder),
    `<base>/<round>/leaves.json`, `<base>/leaves.json`; a `{round}` placeholder in `artifacts`
    names the file exactly. A leaves file of another round fails the root check later, so the
    last, round-less candidate is safe."""
    for candidate in _candidates(artifacts, round_id):
        if candidate.startswith(("http://", "https://")):
            import requests
            response = requests.get(candidate, timeout=timeout_s)
            if response.status_code == 404:
                continue
            response.raise_for_status()
            return response.content
        path = Path(candidate)
        if path.is_file():
            return path.read_bytes()
    if not str(artifacts).startswith(("http://", "https://")) and not Path(str(artifacts).split("{")[0]).exists():
        raise FileNotFoundError(2, "no such file or directory", str(artifacts))
    return None


def verified_tree(chain: TournamentChain, round_id: int, raw: bytes) -> ResultsTree:
    """The tree of the downloaded leaves, checked against the accepted root and leaf count."""
    try:
        leaves = leaves_from_json(raw)
        tree = ResultsTree(leaves, round_id)
    except ResultsError as exc:
        raise KeeperError(f"round {round_id}: the published leaves are unusable ({exc})") from None
    info = reads.get_round(chain, round_id)
    root = bytes(info.results_root)
    if tree.root != root:
        raise KeeperError(f"round {round_id}: the published leaves give root {tree.root_hex}, not the accepted root "
                          f"0x{root.hex()}; not settling from them (wrong or tampered artifacts)")
    if tree.leaf_count != info.leaf_count:
        raise KeeperError(f"round {round_id}: {tree.leaf_count} published leaves, the accepted results have "
                          f"{info.leaf_count}")
    return tree


def _gas_target(chain: TournamentChain) -> int:
    return int(reads.block_gas_limit(chain) * BLOCK_GAS_SHARE)


def settle(chain: TournamentChain, tx: Transactor, round_id: int, tree: ResultsTree,
           unsettled: Sequence[Leaf], batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[int, int]:
    """Settles `unsettled` leaves of the tree; returns (stakes settled, transactions sent)."""
    if not unsettled:
        return 0, 0
    target = _gas_target(chain)
    queue = list(tree.batches(unsettled, batch_size))
    calls = Calls(chain.w3, chain.deployment)
    settled = sent = 0
    while queue:
        batch = queue.pop(0)
        fn = calls.settle(int(round_id), batch.leaf_values(), batch.proof, batch.proof_flags)
        estimate = tx.estimate_gas(fn, f"estimating a settle batch of round {round_id}")
        if estimate > target and len(batch.leaves) > 1:
            half = len(batch.leaves) // 2
            queue[:0] = [tree.multiproof(batch.leaves[:half]), tree.multiproof(batch.leaves[half:])]
            continue
        receipt = tx.transact(fn, f"settling {len(batch.leaves)} stake(s) of round {round_id}",
                              gas=min(target * 2, estimate * 6 // 5))
        settled += len(calls.receipt_events(receipt, "StakeSettled"))
        sent += 1
    return settled, sent
