"""What every step of the pipeline is given: the chain (reads and the sender), the work folder, test hooks.

A `StepContext` is built once per `Operator`; each step module (open_round, collect,
propose, settle) is a set of functions taking it. Reads come from `chain` (one block-pinned
ChainReader per step: `begin()` drops the pin at a step's start, and every transaction sent
through `transact` or `settle_pending` drops it too, so later reads see the step's own
writes). Transactions are built by `calls` (tournament.chain.calls.Calls) and sent by one
`Transactor` holding OPERATOR_ROLE's key (absent for read-only commands: a step that must
send says what key is missing). `point(name)` calls the test hook at named points of the pipeline, so tests
can crash a step anywhere and rerun it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from web3 import Web3
from web3.contract.contract import ContractFunction

from tournament.chain.calls import Calls
from tournament.chain.client import Deployment, Transactor
from tournament.chain.transactor import Receipt
from tournament.operator.chain_reads import RoundReads
from tournament.operator.common import OperatorError, RoundStatus
from tournament.operator.round_folder import RoundFolder

log = logging.getLogger(__name__)

__all__ = ["StepContext"]


@dataclass
class StepContext:
    w3: Web3
    deployment: Deployment
    chain: RoundReads
    calls: Calls
    work_dir: Path
    tx: Optional[Transactor] = None
    hook: Optional[Callable[[str], None]] = None
    poll_s: float = 0.05

    def begin(self) -> None:
        """A step starts: its reads pin the current block (head minus confirmations)."""
        self.chain.refresh()

    def settle_pending(self) -> None:
        """Waits out (or cancels) transactions of a crashed run; reads then re-pin past them."""
        self.sender().settle_pending()
        self.chain.refresh()

    def folder(self, round_id: int) -> RoundFolder:
        return RoundFolder(self.work_dir, round_id)

    def point(self, name: str) -> None:
        log.debug("pipeline point %s", name)
        if self.hook is not None:
            self.hook(name)

    def sender(self) -> Transactor:
        if self.tx is None:
            raise OperatorError("this step sends transactions: give the operator key "
                                "(OPERATOR_KEY, --operator-keystore or --anvil-keys)")
        return self.tx

    def transact(self, fn: ContractFunction, description: str, round_id: int, point: str,
                 gas: Optional[int] = None) -> Receipt:
        """Sends `fn`; notes the tx hash in state.json and reaches `point` right after the broadcast."""
        folder = self.folder(round_id)

        def on_sent(tx_hash: bytes) -> None:
            folder.note(last_tx={description: "0x" + bytes(tx_hash).hex()})
            self.point(point)

        try:
            return self.sender().transact(fn, description, gas=gas, on_sent=on_sent)
        finally:
            self.chain.refresh()   # the chain moved on: later reads of the step must see this transaction

    def status(self, round_id: int, actions: Optional[list[str]] = None, next_step: str = "") -> RoundStatus:
        phase = self.chain.phase(round_id)
        if phase == "None":
            return RoundStatus(round_id, phase, 0, 0, 0, list(actions or []), next_step)
        info = self.chain.get_round(round_id)
        return RoundStatus(round_id, phase, info.attempt, info.staked_count, info.closed_count,
                           list(actions or []), next_step)
