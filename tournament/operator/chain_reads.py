"""Every chain read of the operator's steps, behind small methods of one class.

The steps never build a web3 call themselves: they ask `RoundReads` for the round's phase and
state, the stakes at close with their commitments, the closed (settled or refunded) models,
the proposals and vetoes, the signer set and the EIP-712 domain. This is the one place to
switch to `tournament/chain/reader.py` (the block-pinned `ChainReader` of the chain-reader
branch: batched stake reads, paged logs) when it lands; until then it keeps v1's reads,
including one `getStake` per stake to cross-check the events against storage.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from web3 import Web3

from tournament.chain.client import PHASES, Deployment, fetch_events, tournament_contract, with_retries
from tournament.operator.common import OperatorError, StakeInfo
from tournament.operator.round_folder import RoundFolder
from tournament.protocol.signing import Domain, domain_from_eip712_domain_call

log = logging.getLogger(__name__)

__all__ = ["RoundReads"]


def _hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _struct(value, abi_outputs) -> dict:
    """A web3 tuple as a dict by the ABI's component names (nested tuples too)."""
    out = {}
    for item, part in zip(abi_outputs, value):
        if item["type"] == "tuple":
            part = _struct(part, item["components"])
        out[item["name"]] = part
    return out


class RoundReads:
    """The chain as the operator reads it: one deployment, read at `latest`."""

    def __init__(self, w3: Web3, deployment: Deployment, folder_for: Callable[[int], RoundFolder]):
        self.w3 = w3
        self.deployment = deployment
        self.tournament = tournament_contract(w3, deployment)
        self._folder_for = folder_for
        self._opened_blocks: dict[int, int] = {}

    def _view(self, fn, description: str):
        return with_retries(lambda: fn.call(), description)

    # -------------------------------------------------------------- round state
    def phase(self, round_id: int) -> str:
        return PHASES[self._view(self.tournament.functions.phase(round_id), f"reading round {round_id}'s phase")]

    def get_round(self, round_id: int) -> dict:
        fn = self.tournament.functions.getRound(round_id)
        return _struct(self._view(fn, f"reading round {round_id}"), fn.abi["outputs"][0]["components"])

    def now(self) -> int:
        return int(self.latest_block()["timestamp"])

    def latest_block(self) -> dict:
        return with_retries(lambda: self.w3.eth.get_block("latest"), "reading the latest block")

    def chain_id(self) -> int:
        return int(with_retries(lambda: self.w3.eth.chain_id, "reading the chain id"))

    def tournament_time(self) -> int:
        """The contract's tournament clock (v2: wall time minus paused time); challenge ends and timeouts run on it."""
        return int(self._view(self.tournament.functions.tournamentTime(), "reading the tournament time"))

    def refundable_at(self, round_id: int) -> int:
        """Tournament time from which an accepted round's unsettled stakes are refundable (0: no results yet)."""
        return int(self._view(self.tournament.functions.refundableAt(round_id), "reading refundableAt"))

    # -------------------------------------------------------------- events of one round
    def opened_block(self, round_id: int) -> int:
        """The block of the round's RoundOpened event: every later event of the round is at or after it.

        Found once by scanning from the deployment block, then remembered (in memory and as a
        hint in state.json, re-checked against the chain before use), so a long-lived
        deployment does not rescan its whole history at every step.
        """
        cached = self._opened_blocks.get(round_id)
        if cached is not None:
            return cached
        event = self.tournament.events.RoundOpened
        folder = self._folder_for(round_id)
        hint = folder.notes().get("openedBlock")
        found = fetch_events(event, hint, hint, argument_filters={"roundId": round_id}) if isinstance(hint, int) else []
        if not found:
            found = fetch_events(event, self.deployment.deploy_block, argument_filters={"roundId": round_id})
        if not found:
            raise OperatorError(f"round {round_id}: no RoundOpened event since block {self.deployment.deploy_block}; "
                                "is the deployment file for this chain right, and is the RPC's log index complete?")
        block = int(found[0]["blockNumber"])
        self._opened_blocks[round_id] = block
        if hint != block:
            folder.note(openedBlock=block)
        return block

    def _round_events(self, event, round_id: int) -> list:
        return fetch_events(event, self.opened_block(round_id), argument_filters={"roundId": round_id})

    def proposals(self, round_id: int) -> list[dict]:
        """Every ResultsProposed of the round, in chain order (one per attempt that was proposed)."""
        return [dict(e["args"]) for e in self._round_events(self.tournament.events.ResultsProposed, round_id)]

    def vetoes(self, round_id: int) -> list[dict]:
        """Every ResultsVetoed of the round, in chain order (attempt, guardian, reason)."""
        return [dict(e["args"]) for e in self._round_events(self.tournament.events.ResultsVetoed, round_id)]

    def closed_models(self, round_id: int) -> set[int]:
        """Models whose stake in the round was settled or refunded."""
        closed = set()
        for event in (self.tournament.events.StakeSettled, self.tournament.events.StakeRefunded):
            closed |= {int(e["args"]["modelId"]) for e in self._round_events(event, round_id)}
        return closed

    def stakes_at_close(self, round_id: int) -> list[StakeInfo]:
        """Every staked model of a closed round, from StakeChanged events, checked against storage."""
        latest: dict[int, StakeInfo] = {}
        for event in self._round_events(self.tournament.events.StakeChanged, round_id):
            args = event["args"]
            model_id = int(args["modelId"])
            info = latest.get(model_id) or StakeInfo(model_id, args["owner"], 0, 0, 0, "")
            info.owner, info.stake_wei = args["owner"], int(args["total"])
            info.corr_mult, info.mmc_mult = int(args["corrMult"]), int(args["mmcMult"])
            if int.from_bytes(args["submissionHash"], "big") != 0:
                info.submission_hash = _hex32(args["submissionHash"])
            latest[model_id] = info
        staked = [latest[m] for m in sorted(latest) if latest[m].stake_wei > 0]
        round_info = self.get_round(round_id)
        if len(staked) != round_info["stakedCount"]:
            raise OperatorError(f"round {round_id}: StakeChanged events show {len(staked)} staked models but the "
                                f"contract counts {round_info['stakedCount']}; the RPC's logs look incomplete, "
                                "try another RPC or a later block")
        for info in staked:
            (amount, corr_mult, mmc_mult), _closed = self._view(
                self.tournament.functions.getStake(round_id, info.model_id), "reading a stake")
            if (amount, corr_mult, mmc_mult) != (info.stake_wei, info.corr_mult, info.mmc_mult):
                raise OperatorError(f"round {round_id} model {info.model_id}: events say stake {info.stake_wei} "
                                    f"x{info.corr_mult}/{info.mmc_mult}, storage says {amount} x{corr_mult}/{mmc_mult}")
        return staked

    # -------------------------------------------------------------- signing context
    def signer_set(self) -> tuple[list[str], int, int]:
        """(signer addresses, threshold, version) of the current signer set."""
        signers, threshold, version = self._view(self.tournament.functions.signerSet(), "reading the signer set")
        return list(signers), int(threshold), int(version)

    def domain(self) -> Domain:
        domain = domain_from_eip712_domain_call(self._view(self.tournament.functions.eip712Domain(),
                                                           "reading the EIP-712 domain"))
        if domain.chain_id != self.chain_id():
            raise OperatorError(f"the contract's EIP-712 chain id {domain.chain_id} is not the RPC's {self.chain_id()}")
        return domain

    def results_digest(self, results_tuple: tuple) -> bytes:
        return bytes(self._view(self.tournament.functions.resultsDigest(results_tuple), "reading the digest"))

    def current_proposal(self, round_id: int, attempt: int) -> Optional[dict]:
        mine = [p for p in self.proposals(round_id) if int(p["attempt"]) == attempt]
        return mine[-1] if mine else None
