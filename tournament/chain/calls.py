"""Builders of the contracts' state-changing calls, for a `Transactor` to simulate and send.

Callers outside tournament/chain never touch web3 contract objects: they ask for a call here
(`calls.stake(...)`) and hand it to `Transactor.transact` / `.call`. Arguments are passed as
the contract takes them (ABI order), so a contract change touches only its callers' values.
`model_created(receipt)` decodes the ModelCreated event of a createModel receipt;
`receipt_events(receipt, name)` any tournament event a receipt carries. `simulate(call, sender,
description)` eth_calls a built call from an address without its key (e.g. a multisig).
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD

from tournament.chain.contracts import Deployment, nmr_contract, tournament_contract
from tournament.chain.errors import TransactionReverted, abi_of, decode_revert, revert_data
from tournament.chain.rpc import rpc
from tournament.chain.token import token_binding

__all__ = ["CHANGE_APPROVAL_SELECTOR", "Calls", "simulate"]

# The legacy mainnet NMR's way to move a non-zero allowance (protocol.md, NMR token).
CHANGE_APPROVAL_SELECTOR = function_signature_to_4byte_selector("changeApproval(address,uint256,uint256)")


def simulate(call: Any, sender: str, description: str) -> None:
    """eth_call a built call from `sender` at the head; a revert raises TransactionReverted, decoded."""
    try:
        rpc(functools.partial(call.call, {"from": sender}), description)
    except (ContractCustomError, ContractLogicError) as exc:
        raise TransactionReverted(description, decode_revert(abi_of(call), revert_data(exc))) from exc


class Calls:
    """Call builders for one deployment (tournament and NMR token)."""

    def __init__(self, w3: Web3, deployment: Deployment):
        self.w3 = w3
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

    # admin
    def set_signers(self, signers: Sequence[str], threshold: int) -> Any:
        return self.tournament.functions.setSigners(list(signers), threshold)

    def grant_role(self, role: bytes, account: str) -> Any:
        return self.tournament.functions.grantRole(role, account)

    def revoke_role(self, role: bytes, account: str) -> Any:
        return self.tournament.functions.revokeRole(role, account)

    def set_config(self, values: Sequence[int]) -> Any:
        """setConfig with the Config struct's values in ABI order (ChainReader.config_values())."""
        return self.tournament.functions.setConfig(tuple(values))

    def approve_for(self, spender: str, amount_wei: int) -> Any:
        """NMR approve(spender, amount) (approve() is the same with the tournament as spender)."""
        return self.nmr.functions.approve(spender, amount_wei)

    def change_approval(self, spender: str, old_wei: int, new_wei: int) -> Any:
        """The legacy mainnet NMR's changeApproval (check CHANGE_APPROVAL_SELECTOR is in its code)."""
        return token_binding(self.w3, self.nmr.address).functions.changeApproval(spender, old_wei, new_wei)

    def withdraw_rewards(self, amount_wei: int, to: str) -> Any:
        return self.tournament.functions.withdrawRewards(amount_wei, to)

    def unpause(self) -> Any:
        return self.tournament.functions.unpause()

    def recover_surplus(self, token: str, to: str) -> Any:
        return self.tournament.functions.recoverSurplus(token, to)

    # receipts
    def receipt_events(self, receipt: Any, name: str) -> list[dict]:
        """The arguments of every `name` event of the tournament in a receipt, in log order
        (logs of other contracts or events are skipped)."""
        return [dict(e["args"]) for e in self.tournament.events[name]().process_receipt(receipt, errors=DISCARD)]

    def model_created(self, receipt: Any) -> int:
        """The model id a createModel receipt created."""
        events = self.tournament.events.ModelCreated().process_receipt(receipt, errors=DISCARD)
        return int(events[0]["args"]["modelId"])
