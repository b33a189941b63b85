"""Builders of the contracts' state-changing calls, for a `Transactor` to simulate and send.

Callers outside tournament/chain never touch web3 contract objects: they ask for a call here
(`calls.stake(...)`) and hand it to `Transactor.transact` / `.call`. Arguments are passed as
the contract takes them (ABI order), so a contract change touches only its callers' values.
`model_created(receipt)` decodes the ModelCreated event of a createModel receipt;
`receipt_events(receipt, name)` any tournament event a receipt carries.
"""
from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.logs import DISCARD

from tournament.chain.contracts import Deployment, nmr_contract, tournament_contract

__all__ = ["Calls"]


class Calls:
    """Call builders for one deployment (tournament and NMR token)."""

    def __init__(self, w3: Web3, deployment: Deployment):
        self.tournament = tournament_contract(w3, deployment)
        self.nmr = nmr_contract(w3, deployment)

    @property
    def tournament_address(self) -> str:
        return str(self.tournament.address)

    @property
    def nmr_address(self) -> str:
        return str(self.nmr.address)

    def tournament_call(self, name: str, *args: Any) -> Any:
        """Any tournament function by its ABI name, e.g. ("openRound", round_id, close, resolve)."""
        return self.tournament.functions[name](*args)

    def token_call(self, name: str, *args: Any) -> Any:
        return self.nmr.functions[name](*args)

    # participant
    def create_model(self, name: str) -> Any:
        return self.tournament.functions.createModel(name)

    def approve(self, amount_wei: int) -> Any:
        return self.nmr.functions.approve(self.tournament.address, amount_wei)

    def deposit(self, amount_wei: int) -> Any:
        return self.tournament.functions.deposit(amount_wei)

    def deposit_with_permit(self, amount_wei: int, deadline: int, v: int, r: bytes, s: bytes) -> Any:
        return self.tournament.functions.depositWithPermit(amount_wei, deadline, v, r, s)

    def withdraw(self, amount_wei: int) -> Any:
        return self.tournament.functions.withdraw(amount_wei)

    def stake(self, round_id: int, model_id: int, amount_wei: int, corr_mult: int, mmc_mult: int,
              submission_hash: bytes) -> Any:
        return self.tournament.functions.stake(round_id, model_id, amount_wei, corr_mult, mmc_mult, submission_hash)

    def unstake(self, round_id: int, model_id: int, amount_wei: int) -> Any:
        return self.tournament.functions.unstake(round_id, model_id, amount_wei)

    # operator, keeper, guardian
    def open_round(self, *args: Any) -> Any:
        return self.tournament.functions.openRound(*args)

    def propose_results(self, results: tuple, signatures: list) -> Any:
        return self.tournament.functions.proposeResults(results, signatures)

    def settle(self, round_id: int, leaves: list, proof: list, proof_flags: list) -> Any:
        return self.tournament.functions.settle(round_id, leaves, proof, proof_flags)

    def refund(self, round_id: int, model_ids: list[int]) -> Any:
        return self.tournament.functions.refund(round_id, model_ids)

    def veto(self, round_id: int, reason: str) -> Any:
        return self.tournament.functions.veto(round_id, reason)

    def fund_rewards(self, amount_wei: int) -> Any:
        return self.tournament.functions.fundRewards(amount_wei)

    def pause(self) -> Any:
        return self.tournament.functions.pause()

    # receipts
    def receipt_events(self, receipt: Any, name: str) -> list[dict]:
        """The arguments of every `name` event of the tournament in a receipt, in log order
        (logs of other contracts or events are skipped)."""
        return [dict(e["args"]) for e in self.tournament.events[name]().process_receipt(receipt, errors=DISCARD)]

    def model_created(self, receipt: Any) -> int:
        """The model id a createModel receipt created."""
        events = self.tournament.events.ModelCreated().process_receipt(receipt)
        return int(events[0]["args"]["modelId"])
