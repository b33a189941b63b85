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

from tournament.chain.client import PHASES, Deployment, Transactor, tournament_contract, with_retries

__all__ = ["GuardianError", "pause", "veto"]


class GuardianError(RuntimeError):
    """A guardian action that cannot be taken now; the message says why."""


def veto(w3: Web3, deployment: Deployment, guardian: Any, round_id: int, reason: str,
         confirmations: int = 0) -> dict:
    """Vetoes round `round_id`'s proposed results with `reason`; returns the receipt."""
    reason = " ".join(str(reason).split())
    if not reason:
        raise GuardianError(f"round {round_id}: a veto needs a reason (it is published in ResultsVetoed)")
    contract = tournament_contract(w3, deployment)
    phase = PHASES[with_retries(lambda: contract.functions.phase(round_id).call(), f"reading round {round_id}")]
    if phase != "Proposed":
        shown = "not opened" if phase == "None" else phase
        raise GuardianError(f"round {round_id} is {shown}: only Proposed results (inside the challenge window) "
                            "can be vetoed")
    sender = Transactor(w3, guardian, confirmations=confirmations)
    return sender.transact(contract.functions.veto(round_id, reason), f"vetoing round {round_id}")


def pause(w3: Web3, deployment: Deployment, guardian: Any, confirmations: int = 0) -> dict:
    """Pauses the tournament (the tournament clock stops); returns the receipt."""
    contract = tournament_contract(w3, deployment)
    if with_retries(lambda: contract.functions.paused().call(), "reading the paused flag"):
        raise GuardianError("the tournament is already paused")
    sender = Transactor(w3, guardian, confirmations=confirmations)
    return sender.transact(contract.functions.pause(), "pausing the tournament")
