"""What a co-signer reads from the chain, all at one confirmed block.

`RoundOnChain` is the record the rest of the signer uses; `Web3RoundReader` fills it with
web3 (head minus `confirmations` blocks, so a reorg shallower than that cannot change what
was signed). This is a small adapter until tournament.chain.reader (ChainReader, issue 12)
is merged: only this module talks to web3, so swapping it is one file.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Protocol

from eth_hash.auto import keccak

if TYPE_CHECKING:
    from web3 import Web3
    from web3.contract.contract import ContractFunction

    from tournament.chain.contracts import Deployment

from tournament.protocol.signing import Domain, domain_from_eip712_domain_call

__all__ = ["RECEIPT_ROLE", "RoundOnChain", "SignerChain", "StakeCommit", "Web3RoundReader"]

log = logging.getLogger(__name__)

RECEIPT_ROLE = keccak(b"RECEIPT_ROLE")
ZERO32 = b"\x00" * 32


@dataclass(frozen=True)
class StakeCommit:
    """One staked model at close: its stake and the latest non-zero commitment."""

    model_id: int
    stake_wei: int
    submission_hash: bytes
    owner: str = ""
    corr_mult: int = 0
    mmc_mult: int = 0


@dataclass(frozen=True)
class RoundOnChain:
    """One round and the signer set, as the chain has them at `block_number`."""

    round_id: int
    block_number: int
    phase: str
    attempt: int
    close_time: int
    staked_count: int
    live_ids_hash: Optional[bytes]      # None on a v1 contract (no liveIdsHash)
    signer_set_version: int
    signers: tuple[str, ...]
    threshold: int
    stakes: tuple[StakeCommit, ...]


class SignerChain(Protocol):
    """The chain as a co-signer sees it."""

    def chain_id(self) -> int: ...

    def domain(self) -> Domain: ...

    def read_round(self, round_id: int) -> RoundOnChain: ...

    def receipt_signers(self, addresses: Sequence[str], block_number: int) -> set[str]:
        """Those of `addresses` that hold RECEIPT_ROLE at the block (checksummed)."""


def _struct(value: Sequence[Any], abi_outputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item, part in zip(abi_outputs, value):
        out[item["name"]] = _struct(part, item["components"]) if item["type"] == "tuple" else part
    return out


class Web3RoundReader:
    """SignerChain over web3 and the deployment's contract, reads pinned to head - confirmations."""

    def __init__(self, w3: Web3, deployment: Deployment, confirmations: int = 2) -> None:
        from tournament.chain.client import tournament_contract

        self.w3 = w3
        self.deployment = deployment
        self.confirmations = max(0, int(confirmations))
        self.tournament = tournament_contract(w3, deployment)
        self._domain: Optional[Domain] = None
        self._opened_block: dict[int, int] = {}

    def chain_id(self) -> int:
        return int(self.deployment.chain_id)

    def domain(self) -> Domain:
        from tournament.chain.client import with_retries

        if self._domain is None:
            self._domain = domain_from_eip712_domain_call(
                with_retries(lambda: self.tournament.functions.eip712Domain().call(), "reading the EIP-712 domain"))
        return self._domain

    def confirmed_block(self) -> int:
        from tournament.chain.client import with_retries

        head = int(with_retries(lambda: self.w3.eth.block_number, "reading the block number"))
        return max(0, head - self.confirmations)

    def _call(self, fn: ContractFunction, block: int, what: str) -> Any:
        from tournament.chain.client import with_retries

        return with_retries(lambda: fn.call(block_identifier=block), what)

    def _opened(self, round_id: int, block: int) -> Optional[int]:
        from tournament.chain.client import fetch_events

        if round_id not in self._opened_block:
            found = fetch_events(self.tournament.events.RoundOpened, int(self.deployment.deploy_block), block,
                                 argument_filters={"roundId": round_id})
            if not found:
                return None
            self._opened_block[round_id] = int(found[0]["blockNumber"])
        return self._opened_block[round_id]

    def read_round(self, round_id: int) -> RoundOnChain:
        from tournament.chain.client import PHASES, ChainError, fetch_events

        block = self.confirmed_block()
        phase = PHASES[self._call(self.tournament.functions.phase(round_id), block, f"reading round {round_id}'s phase")]
        fn = self.tournament.functions.getRound(round_id)
        info = _struct(self._call(fn, block, f"reading round {round_id}"), fn.abi["outputs"][0]["components"])
        signers, threshold, version = self._call(self.tournament.functions.signerSet(), block, "reading the signer set")
        live_ids_hash = info.get("liveIdsHash")
        stakes: tuple[StakeCommit, ...] = ()
        opened = self._opened(round_id, block) if phase != "None" else None
        if opened is not None:
            latest: dict[int, dict] = {}
            for event in fetch_events(self.tournament.events.StakeChanged, opened, block,
                                      argument_filters={"roundId": round_id}):
                args = event["args"]
                entry = latest.setdefault(int(args["modelId"]), {"submission_hash": ZERO32})
                entry.update(stake_wei=int(args["total"]), owner=args["owner"], corr_mult=int(args["corrMult"]),
                             mmc_mult=int(args["mmcMult"]))
                if bytes(args["submissionHash"]) != ZERO32:   # the latest non-zero commitment counts
                    entry["submission_hash"] = bytes(args["submissionHash"])
            stakes = tuple(StakeCommit(model_id=m, **latest[m]) for m in sorted(latest) if latest[m]["stake_wei"] > 0)
            if len(stakes) != int(info["stakedCount"]):
                raise ChainError(f"round {round_id}: StakeChanged events show {len(stakes)} staked models at block "
                                 f"{block}, the contract counts {info['stakedCount']}; the RPC's logs look incomplete")
        return RoundOnChain(
            round_id=round_id, block_number=block, phase=phase, attempt=int(info["attempt"]),
            close_time=int(info["closeTime"]), staked_count=int(info["stakedCount"]),
            live_ids_hash=None if live_ids_hash is None else bytes(live_ids_hash),
            signer_set_version=int(version), signers=tuple(signers), threshold=int(threshold), stakes=stakes)

    def receipt_signers(self, addresses: Sequence[str], block_number: int) -> set[str]:
        from web3.exceptions import ContractLogicError

        holders = set()
        for address in sorted(set(addresses)):
            try:
                if self._call(self.tournament.functions.hasRole(RECEIPT_ROLE, address), block_number,
                              "reading RECEIPT_ROLE"):
                    holders.add(address)
            except ContractLogicError:
                log.warning("the contract cannot answer hasRole(RECEIPT_ROLE, %s); receipt ignored", address)
        return holders
