"""The operator's round pipeline: the steps in order, each idempotent and resumable from chain state.

The steps live in their own modules: `open_round` (publish live ids, open on-chain),
`collect` (fetch and hash-check every committed file), `propose` (score into the artifacts
folder, collect m-of-n signatures, propose), `settle` (gas-sized batches; refunds of
Refunding rounds and of stakes unsettled after settleTimeout). The work folder is
`round_folder`; every chain read goes through `chain_reads` (one block-pinned ChainReader
per step, re-pinned after each transaction) and every transaction is built by
`tournament.chain.calls.Calls`. `Operator` wires them to one
deployment and `run` does whatever the round's phase calls for, in order: each step first
reads the chain, then does only what is still missing, so running it twice or rerunning
after a crash finishes the round exactly once (the contract refuses a second proposal per
attempt and skips stakes already closed; the folder's notes are never trusted over the
chain). A guardian's veto makes the round Resolvable again with the next attempt, which
`run` re-scores, has signed and proposes. `next_action` says what the operator should do
next for a round, from the chain alone.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional, Union

from eth_account.signers.local import LocalAccount
from web3 import Web3

from tournament.chain.calls import Calls
from tournament.chain.client import Deployment, Transactor
from tournament.chain.types import RoundState
from tournament.guardian.actions import veto  # noqa: F401  (moved: import it from tournament.guardian.actions)
from tournament.operator import collect as collect_step
from tournament.operator import open_round as open_step
from tournament.operator import propose as propose_step
from tournament.operator.chain_reads import RoundReads
from tournament.operator.common import OperatorError, RoundStatus, StakeInfo
from tournament.operator.context import StepContext
from tournament.operator.round_folder import COLLECT_NAME
from tournament.operator.settle import DEFAULT_BLOCK_GAS_FRACTION, DEFAULT_TX_GAS_CAP, Settler, check_settled, refund
from tournament.operator.signatures import LocalKeySigners, SignatureSource
from tournament.operator.sources import SubmissionSource, open_source
from tournament.protocol import artifacts as art

log = logging.getLogger(__name__)

__all__ = ["Operator", "OperatorError", "RoundStatus", "StakeInfo"]


class Operator:
    """The round pipeline for one deployment.

    operator_account holds OPERATOR_ROLE. Signatures come from `signatures` (an
    `HttpSignatureCollector` asking co-signers, in production) or, for dev/test only, from
    `signer_accounts`, keys held by this process (`LocalKeySigners`). work_dir holds
    `rounds/<roundId>/`; source is where committed files come from (FolderSource,
    HttpSource, a folder path or URL); artifacts_url_for(round_id), if given, is where the
    round's published artifacts folder is, told to the co-signers. hook(point) is called at
    named points (tests inject crashes). `max_fee_per_gas_wei` caps every fee the operator
    pays (nothing is sent above it); `tx_gas_cap` bounds one settlement batch's gas (besides
    the share of the block), for chains whose per-transaction cap is below the block limit.
    """

    def __init__(self, w3: Web3, deployment: Deployment, operator_account: Optional[LocalAccount],
                 signer_accounts: Sequence[LocalAccount] = (), work_dir: Union[str, Path] = "tournament-data",
                 source: Union[SubmissionSource, str, Path, None] = None, *, confirmations: int = 0,
                 hook: Optional[Callable[[str], None]] = None, transactor: Optional[Transactor] = None,
                 block_gas_fraction: float = DEFAULT_BLOCK_GAS_FRACTION, max_batch_leaves: Optional[int] = None,
                 receipt_timeout_s: float = 120.0, poll_s: float = 0.05,
                 signatures: Optional[SignatureSource] = None,
                 artifacts_url_for: Optional[Callable[[int], str]] = None,
                 max_fee_per_gas_wei: Optional[int] = None, tx_gas_cap: Optional[int] = DEFAULT_TX_GAS_CAP):
        self.w3 = w3
        self.deployment = deployment
        self.work_dir = Path(work_dir)
        if transactor is None and operator_account is not None:
            transactor = Transactor(w3, operator_account, confirmations=confirmations,
                                    receipt_timeout_s=receipt_timeout_s, max_fee_per_gas_wei=max_fee_per_gas_wei)
        reads = RoundReads(w3, deployment, lambda round_id: self.ctx.folder(round_id), confirmations)
        self.ctx = StepContext(w3, deployment, reads, Calls(w3, deployment), self.work_dir, transactor, hook, poll_s)
        self.source = open_source(source)
        if signatures is None and signer_accounts:
            signatures = LocalKeySigners(signer_accounts)   # dev/test only: this process holds the keys
        self.signatures = signatures
        self.artifacts_url_for = artifacts_url_for
        self.settler = Settler(self.ctx, block_gas_fraction, max_batch_leaves, tx_gas_cap)
        self.poll_s = poll_s

    # -------------------------------------------------------------- what tests and tools read
    @property
    def tx(self) -> Optional[Transactor]:
        return self.ctx.tx

    @property
    def last_settle_gas(self) -> list[tuple[int, int]]:
        return self.settler.last_settle_gas

    def round_dir(self, round_id: int) -> Path:
        return self.ctx.folder(round_id).path

    def artifacts_dir(self, round_id: int) -> Path:
        return self.ctx.folder(round_id).artifacts

    def phase(self, round_id: int) -> str:
        self.ctx.begin()
        return self.ctx.chain.phase(round_id)

    def get_round(self, round_id: int) -> RoundState:
        self.ctx.begin()
        return self.ctx.chain.get_round(round_id)

    def now(self) -> int:
        self.ctx.begin()
        return self.ctx.chain.now()

    def stakes_at_close(self, round_id: int) -> list[StakeInfo]:
        self.ctx.begin()
        return self.ctx.chain.stakes_at_close(round_id)

    def status(self, round_id: int, actions: Optional[list[str]] = None, next_step: str = "") -> RoundStatus:
        return self.ctx.status(round_id, actions, next_step)

    # -------------------------------------------------------------- the steps
    def open_round(self, round_id: int, close_time: int, resolve_time: int,
                   live_ids: Union[Sequence[str], str, Path]) -> RoundStatus:
        self.ctx.begin()
        return open_step.open_round(self.ctx, round_id, close_time, resolve_time, live_ids)

    def collect(self, round_id: int) -> RoundStatus:
        self.ctx.begin()
        return collect_step.collect(self.ctx, self.source, round_id)

    def score(self, round_id: int, targets_path: Union[str, Path, None] = None) -> RoundStatus:
        self.ctx.begin()
        return propose_step.score(self.ctx, round_id, targets_path)

    def propose(self, round_id: int) -> RoundStatus:
        url = self.artifacts_url_for(round_id) if self.artifacts_url_for else None
        self.ctx.begin()
        return propose_step.propose(self.ctx, self.signatures, round_id, url)

    def settle(self, round_id: int) -> RoundStatus:
        self.ctx.begin()
        return self.settler.settle(round_id)

    def refund(self, round_id: int, batch_size: int = 200) -> RoundStatus:
        self.ctx.begin()
        return refund(self.ctx, round_id, batch_size)

    # -------------------------------------------------------------- run
    def run(self, round_id: int, targets_path: Union[str, Path, None] = None, *, wait: bool = False,
            max_wait_s: float = 0.0) -> RoundStatus:
        """Does every step that is due for the round, in order; with `wait`, sleeps until the next is due."""
        actions: list[str] = []
        collected = False
        deadline = time.monotonic() + max_wait_s
        folder = self.ctx.folder(round_id)
        while True:
            self.ctx.begin()
            phase = self.ctx.chain.phase(round_id)
            if phase == "None":
                raise OperatorError(f"round {round_id} is not opened on this deployment; run open-round first")
            info = self.ctx.chain.get_round(round_id)
            next_step = ""
            if phase in ("Closed", "Resolvable") and not collected:
                if self.source is not None or not (folder.path / COLLECT_NAME).exists():
                    actions += self.collect(round_id).actions
                collected = True
            if phase == "Open":
                next_step = f"collect after the close time {info.close_time}"
            elif phase == "Closed":
                next_step = f"score after the resolve time {info.resolve_time}"
            elif phase == "Resolvable":
                if targets_path is None and not (folder.path / art.TARGETS_NAME).exists():
                    return self.status(round_id, actions, "score: the targets are needed (--targets FILE)")
                actions += self.score(round_id, targets_path).actions
                actions += self.propose(round_id).actions
                continue
            elif phase == "Proposed":
                next_step = f"settle after the challenge window ends at {info.challenge_end}"
            elif phase == "Accepted":
                actions += self.settle(round_id).actions
                continue
            elif phase == "Refunding":
                actions += self.refund(round_id).actions
                continue
            elif phase == "Settled":
                check_settled(self.ctx, round_id)
                return self.status(round_id, actions, "")
            if not wait or (max_wait_s and time.monotonic() > deadline):
                return self.status(round_id, actions, next_step)
            time.sleep(max(1.0, self.poll_s))

    # -------------------------------------------------------------- what to do next
    def next_action(self, round_id: int) -> RoundStatus:
        """The round's state and the operator's true next action, read from the chain (and the folder)."""
        self.ctx.begin()
        chain = self.ctx.chain
        phase = chain.phase(round_id)
        if phase == "None":
            return self.status(round_id, [], f"open it: `tournament operator open-round --round {round_id} ...`")
        info = chain.get_round(round_id)
        folder = self.ctx.folder(round_id)
        now = chain.now()
        if phase == "Open":
            step = f"wait: staking closes at {info.close_time} (in {_duration(info.close_time - now)}), then collect"
        elif phase == "Closed":
            step = ("collect the committed files" if not folder.collect_path.exists() else
                    f"wait: resolve time {info.resolve_time} (in {_duration(info.resolve_time - now)}), then score")
        elif phase == "Resolvable":
            scored = (folder.artifacts / art.MANIFEST_NAME).exists()
            if info.attempt > 0:
                vetoes = chain.vetoes(round_id)
                last = vetoes[-1] if vetoes else {"attempt": info.attempt - 1, "reason": "unknown"}
                step = (f"re-propose: attempt {last['attempt']} was vetoed ({last['reason']!r}); fix what the veto "
                        f"names, re-score, then propose attempt {info.attempt}")
            elif not folder.collect_path.exists():
                step = "collect, then score (--targets FILE) and propose"
            elif not scored:
                step = "score (--targets FILE), then propose"
            else:
                step = f"propose attempt {info.attempt}"
        elif phase == "Proposed":
            # challengeEnd is tournament time (v2): it stops while the tournament is paused.
            step = (f"wait: the challenge window ends in {_duration(info.challenge_end - chain.tournament_time())} "
                    "of unpaused time, then settle")
        elif phase == "Accepted":
            open_count = info.staked_count - info.closed_count
            refundable_at = chain.refundable_at(round_id)
            late = refundable_at and chain.tournament_time() >= refundable_at
            step = (f"settle the {open_count} open stake(s)" +
                    (" (settleTimeout has passed: anyone may refund them now)" if late else ""))
        elif phase == "Refunding":
            step = (f"refund the {info.staked_count - info.closed_count} open stake(s): no results came by "
                    "resolveTime + resultsTimeout")
        else:
            step = "nothing: the round is settled"
        return self.status(round_id, [], step)


def _duration(seconds: int) -> str:
    """'3d 4h', '5h 12m', '7m', '40s': how long until a chain time."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{secs}s"
