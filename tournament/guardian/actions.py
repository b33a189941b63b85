"""The guardian's two transactions: veto a round's proposed results, pause the tournament.

Both are sent with the guardian's own key (GUARDIAN_ROLE) through its own `Transactor`; the
operator never holds that key. A veto is possible only while the round is Proposed (inside
its challenge window) and bumps the round's attempt, so the vetoed signatures can never be
replayed; the reason is emitted in ResultsVetoed for everyone to read. A pause stops the
tournament clock (protocol v2): it delays outcomes, never changes them; only the admin
unpauses. Errors come back as `GuardianError` (one line) or the chain's `TransactionReverted`
with the contract's decoded custom error.
"""
from __future__ import annotations

from typing import Any

from web3 import Web3

from tournament.chain.calls import Calls
from tournament.chain.client import Deployment, Transactor
from tournament.chain.reader import ChainReader
from tournament.chain.transactor import Receipt
from tournament.chain.types import Phase

__all__ = ["GuardianError", "pause", "veto"]


class GuardianError(RuntimeError):
    """A guardian action that cannot be taken now; the message says why."""


def veto(w3: Web3, deployment: Deployment, guardian: Any, round_id: int, reason: str,
         confirmations: int = 0) -> Receipt:
    """Vetoes round `round_id`'s proposed results with `reason`; returns the receipt."""
    reason = " ".join(str(reason).split())
    if not reason:
        raise GuardianError(f"round {round_id}: a veto needs a reason (it is published in ResultsVetoed)")
    # Read at the head: a veto must see the latest state (the contract re-checks it anyway).
    phase = ChainReader(w3, deployment).phase(round_id)
    if phase != Phase.PROPOSED:
        shown = "not opened" if phase == Phase.NONE else phase.label
        raise GuardianError(f"round {round_id} is {shown}: only Proposed results (inside the challenge window) "
                            "can be vetoed")
    sender = Transactor(w3, guardian, confirmations=confirmations)
    return sender.transact(Calls(w3, deployment).veto(round_id, reason), f"vetoing round {round_id}")


def pause(w3: Web3, deployment: Deployment, guardian: Any, confirmations: int = 0) -> Receipt:
    """Pauses the tournament (the tournament clock stops); returns the receipt."""
    if ChainReader(w3, deployment).paused():
        raise GuardianError("the tournament is already paused")
    sender = Transactor(w3, guardian, confirmations=confirmations)
    return sender.transact(Calls(w3, deployment).pause(), "pausing the tournament")
