"""What a co-signer reads from the chain, all at one confirmed block.

`RoundOnChain` is the record the rest of the signer uses; `Web3RoundReader` fills it from a
tournament.chain.reader.ChainReader pinned at head minus `confirmations` blocks (so a reorg
shallower than that cannot change what was signed). It makes no web3 call itself.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Protocol

from eth_hash.auto import keccak

from tournament.chain.errors import ChainError, TransactionReverted
from tournament.chain.events import LogScanner
from tournament.chain.reader import ChainReader
from tournament.protocol.constants import Phase
from tournament.protocol.signing import Domain, domain_from_eip712_domain_call

if TYPE_CHECKING:
    from web3 import Web3

    from tournament.chain.contracts import Deployment

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


class Web3RoundReader:
    """SignerChain over a ChainReader, reads pinned to head - confirmations."""

    def __init__(self, w3: Web3, deployment: Deployment, confirmations: int = 2) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.confirmations = max(0, int(confirmations))
        self.scanner = LogScanner()
        self._domain: Optional[Domain] = None

    def _reader(self, block: Optional[int] = None) -> ChainReader:
        if block is None:
            return ChainReader(self.w3, self.deployment, confirmations=self.confirmations, scanner=self.scanner)
        return ChainReader(self.w3, self.deployment, block, scanner=self.scanner)

    def chain_id(self) -> int:
        return int(self.deployment.chain_id)

    def domain(self) -> Domain:
        if self._domain is None:
            self._domain = domain_from_eip712_domain_call(self._reader().eip712_domain())
        return self._domain

    def confirmed_block(self) -> int:
        return self._reader().block_number

    def read_round(self, round_id: int) -> RoundOnChain:
        reader = self._reader()
        block = reader.block_number
        state = reader.round(round_id)
        signer_set = reader.signer_set()
        stakes: tuple[StakeCommit, ...] = ()
        if state.phase != Phase.NONE and state.opened_block is not None:
            stakes = tuple(StakeCommit(model_id=m, stake_wei=s.event_total_wei, submission_hash=s.submission_hash,
                                       owner=s.owner, corr_mult=s.corr_mult, mmc_mult=s.mmc_mult)
                           for m, s in sorted(reader.stakes(round_id).items()))
            if len(stakes) != state.staked_count:
                raise ChainError(f"round {round_id}: StakeChanged events show {len(stakes)} staked models at block "
                                 f"{block}, the contract counts {state.staked_count}; the RPC's logs look incomplete")
        return RoundOnChain(
            round_id=round_id, block_number=block, phase=Phase(state.phase).label, attempt=state.attempt,
            close_time=state.close_time, staked_count=state.staked_count, live_ids_hash=state.live_ids_hash,
            signer_set_version=signer_set.version, signers=signer_set.signers, threshold=signer_set.threshold,
            stakes=stakes)

    def receipt_signers(self, addresses: Sequence[str], block_number: int) -> set[str]:
        reader = self._reader(block_number)
        holders = set()
        for address in sorted(set(addresses)):
            try:
                if reader.has_role(RECEIPT_ROLE, address):
                    holders.add(address)
            except TransactionReverted:
                log.warning("the contract cannot answer hasRole(RECEIPT_ROLE, %s); receipt ignored", address)
        return holders
