"""`keeper run`: one pass (or a loop) over every round of the tournament, doing what anyone may do.

For each round: Accepted -> settle its unsettled stakes from the published leaves (verified
against the accepted root first); once settleTimeout after acceptance has passed, refund what
is still unsettled (stakes the tree left out, or every stake when no leaves were published);
Refunding -> refund every unsettled stake. Rounds in other phases are left alone. One round's
problem (no leaves yet, a tampered file, a revert) is reported and the others still run.
Every decision is re-derived from the chain, so the keeper can be killed and restarted at any
time, and two keepers racing only waste gas (the contract skips closed stakes).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from tournament.admin.connection import TournamentChain
from tournament.chain.client import ChainError, Transactor
from tournament.keeper import reads
from tournament.keeper.refunds import DEFAULT_REFUND_BATCH, KeeperError, refund, refund_open
from tournament.keeper.settlement import load_leaves_bytes, settle, verified_tree
from tournament.protocol.results import DEFAULT_BATCH_SIZE

log = logging.getLogger(__name__)

ACTIVE_PHASES = ("Accepted", "Refunding")


@dataclass
class PassReport:
    """What one pass did: a line per action, and a line per round it could not finish."""

    actions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Keeper:
    """Settles and refunds every round that needs it; `artifacts` is where leaves are published."""

    def __init__(self, chain: TournamentChain, tx: Transactor, artifacts: Optional[str] = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, refund_batch: int = DEFAULT_REFUND_BATCH):
        self.chain = chain
        self.tx = tx
        self.artifacts = artifacts
        self.batch_size = batch_size
        self.refund_batch = refund_batch
        self._rounds: dict[int, int] = {}  # round id -> RoundOpened block
        self._scanned_to: Optional[int] = None
        self._finished: set[int] = set()  # Settled rounds never change again

    def _discover(self) -> None:
        head = reads.head_block(self.chain)
        start = self.chain.deployment.deploy_block if self._scanned_to is None else self._scanned_to + 1
        if start <= head:
            for opened in reads.opened_rounds(self.chain, start, head):
                self._rounds.setdefault(opened.round_id, opened.block)
        self._scanned_to = head

    def run_once(self) -> PassReport:
        report = PassReport()
        self.tx.settle_pending()
        self._discover()
        for round_id in sorted(self._rounds):
            if round_id in self._finished:
                continue
            try:
                self._round(round_id, report)
            except (KeeperError, ChainError, OSError, ValueError) as exc:
                report.problems.append(f"round {round_id}: {exc}")
                log.warning("round %s: %s", round_id, exc)
        return report

    def _round(self, round_id: int, report: PassReport) -> None:
        phase = reads.phase(self.chain, round_id)
        if phase == "Settled":
            self._finished.add(round_id)
            return
        if phase not in ACTIVE_PHASES:
            return
        staked, closed = reads.round_stakes(self.chain, round_id)
        if phase == "Accepted":
            unsettled_ids = [m for m in staked if m not in closed]
            tree_problem = None
            tree = None
            if self.artifacts is None:
                tree_problem = "no --artifacts given, so no leaves to settle from"
            else:
                raw = load_leaves_bytes(self.artifacts, round_id)
                if raw is None:
                    tree_problem = f"no leaves.json published for it under {self.artifacts}"
                else:
                    tree = verified_tree(self.chain, round_id, raw)
            if tree is not None:
                leaves = [leaf for leaf in tree.leaves if leaf.model_id in staked and leaf.model_id not in closed]
                count, sent = settle(self.chain, self.tx, round_id, tree, leaves, self.batch_size)
                if count:
                    report.actions.append(f"round {round_id}: settled {count} stake(s) in {sent} transaction(s)")
                _staked, closed = reads.round_stakes(self.chain, round_id)
                unsettled_ids = [m for m in staked if m not in closed]
            if unsettled_ids:
                is_open, _why = refund_open(self.chain, round_id)
                if is_open:
                    result = refund(self.chain, self.tx, round_id, unsettled_ids, self.refund_batch)
                    report.actions.append(result.summary() + " (unsettled settleTimeout after acceptance)")
                elif tree_problem:
                    at = reads.to_wall_time(self.chain, reads.refundable_at(self.chain, round_id))
                    from tournament.keeper.refunds import utc
                    report.problems.append(f"round {round_id}: Accepted but {tree_problem}; its stakes become "
                                           f"refundable at {utc(at)}")
        elif phase == "Refunding":
            todo = [m for m in staked if m not in closed]
            if todo:
                report.actions.append(refund(self.chain, self.tx, round_id, todo, self.refund_batch).summary())
        if reads.phase(self.chain, round_id) == "Settled":
            self._finished.add(round_id)

    def run(self, interval_s: float, passes: Optional[int] = None,
            on_pass: Optional[Callable[[PassReport], None]] = None,
            sleep: Callable[[float], None] = time.sleep) -> None:
        """Passes every `interval_s` seconds (forever, or `passes` times); RPC faults are retried next pass."""
        done = 0
        while passes is None or done < passes:
            try:
                report = self.run_once()
            except ChainError as exc:  # the RPC is down for longer than the retries: try again next pass
                report = PassReport(problems=[f"pass failed: {exc}"])
            if on_pass is not None:
                on_pass(report)
            done += 1
            if passes is None or done < passes:
                sleep(interval_s)
