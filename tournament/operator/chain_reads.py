"""Every chain read of the operator's steps, on ONE block-pinned `ChainReader` per step.

The steps never build a web3 call themselves: they ask `RoundReads` for the round's phase and
state, the stakes at close with their commitments, the closed (settled or refunded) models,
the proposals and vetoes, the signer set and the EIP-712 domain. All of them come from one
`tournament.chain.reader.ChainReader` pinned at `head - confirmations`, so a step sees the
chain as of one block (a block landing mid-step cannot make it disagree with itself) and
reads a round's stakes in a few JSON-RPC batches, not one call per stake.

The pin is taken lazily at the first read of a step and dropped by `refresh()`: at the start
of each step, and after each transaction the step sends (the Transactor waits for the same
`confirmations`, so the re-pinned reader sees it).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Optional

from web3 import Web3

from tournament.chain.contracts import Deployment
from tournament.chain.reader import ChainReader
from tournament.chain.rpc import chain_id as rpc_chain_id
from tournament.chain.types import RoundState, StakeState
from tournament.operator.common import OperatorError, StakeInfo
from tournament.operator.round_folder import RoundFolder
from tournament.protocol.signing import Domain, domain_from_eip712_domain_call

log = logging.getLogger(__name__)

__all__ = ["RoundReads"]


def _hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class RoundReads:
    """The chain as the operator reads it: one deployment, read at `head - confirmations`."""

    def __init__(self, w3: Web3, deployment: Deployment, folder_for: Callable[[int], RoundFolder],
                 confirmations: int = 0):
        self.w3 = w3
        self.deployment = deployment
        self.confirmations = int(confirmations)
        self._folder_for = folder_for
        self._root: Optional[ChainReader] = None      # keeps the contract bindings and the log scanner
        self._pinned: Optional[ChainReader] = None
        self._chain_id: Optional[int] = None

    # -------------------------------------------------------------- the pin
    @property
    def reader(self) -> ChainReader:
        """The step's reader, pinned at its first read (head minus `confirmations`)."""
        if self._pinned is None:
            if self._root is None:
                self._root = ChainReader(self.w3, self.deployment, confirmations=self.confirmations)
                self._pinned = self._root
            else:
                self._pinned = self._root.at("latest", self.confirmations)
        return self._pinned

    def refresh(self) -> None:
        """Drops the pin: the next read pins the then-current block (a new step, or after a transaction)."""
        self._pinned = None

    # -------------------------------------------------------------- round state
    def round(self, round_id: int) -> RoundState:
        return self.reader.round(round_id, with_opened_block=False)

    def phase(self, round_id: int) -> str:
        """The phase's label ('None', 'Open', ..., 'Settled')."""
        return self.round(round_id).phase.label

    def get_round(self, round_id: int) -> RoundState:
        return self.round(round_id)

    def now(self) -> int:
        """Chain time at the pin (unix seconds)."""
        return self.reader.now()

    @property
    def block_gas_limit(self) -> int:
        return self.reader.block_gas_limit

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = rpc_chain_id(self.w3)
        return self._chain_id

    def tournament_time(self) -> int:
        """The contract's tournament clock (v2: wall time minus paused time); challenge ends and timeouts run on it."""
        return self.reader.tournament_time()

    def refundable_at(self, round_id: int) -> int:
        """Tournament time from which an accepted round's unsettled stakes are refundable (0: no results yet)."""
        return self.reader.refundable_at(round_id)

    # -------------------------------------------------------------- events of one round
    def opened_block(self, round_id: int) -> int:
        """The block of the round's RoundOpened event: every later event of the round is at or after it.

        Found once per process (the reader caches it), checked first at the block remembered in
        state.json, so a long-lived deployment does not rescan its whole history at every step.
        """
        folder = self._folder_for(round_id)
        hint = folder.notes().get("openedBlock")
        block = self.reader.opened_block(round_id, hint=hint if isinstance(hint, int) else None)
        if block is None:
            raise OperatorError(f"round {round_id}: no RoundOpened event since block {self.deployment.deploy_block}; "
                                "is the deployment file for this chain right, and is the RPC's log index complete?")
        if hint != block:
            folder.note(openedBlock=block)
        return block

    def _events(self, round_id: int, name: str) -> list[dict]:
        self.opened_block(round_id)
        return [dict(e.args) for e in self.reader.round_events(round_id).of(name)]

    def proposals(self, round_id: int) -> list[dict]:
        """Every ResultsProposed of the round, in chain order (one per attempt that was proposed)."""
        return self._events(round_id, "ResultsProposed")

    def vetoes(self, round_id: int) -> list[dict]:
        """Every ResultsVetoed of the round, in chain order (attempt, guardian, reason)."""
        return self._events(round_id, "ResultsVetoed")

    def _stakes(self, round_id: int) -> dict[int, StakeState]:
        self.opened_block(round_id)
        return self.reader.stakes(round_id)

    def closed_models(self, round_id: int) -> set[int]:
        """Models whose stake in the round was settled or refunded (the contract's closed flags)."""
        return {m for m, s in self._stakes(round_id).items() if s.closed}

    def stakes_at_close(self, round_id: int) -> list[StakeInfo]:
        """Every staked model of a closed round (StakeChanged events and storage, one pinned block), by model id."""
        stakes = self._stakes(round_id)
        expected = self.round(round_id).staked_count
        if len(stakes) != expected:
            raise OperatorError(f"round {round_id}: StakeChanged events show {len(stakes)} staked models but the "
                                f"contract counts {expected}; the RPC's logs look incomplete, "
                                "try another RPC or a later block")
        out = []
        for model_id, s in sorted(stakes.items()):
            if s.amount_wei != s.event_total_wei:
                raise OperatorError(f"round {round_id} model {model_id}: events say stake {s.event_total_wei}, "
                                    f"storage says {s.amount_wei}")
            out.append(StakeInfo(model_id, s.owner, s.amount_wei, s.corr_mult, s.mmc_mult,
                                 _hex32(s.submission_hash) if any(s.submission_hash) else ""))
        return out

    # -------------------------------------------------------------- signing context
    def signer_set(self) -> tuple[list[str], int, int]:
        """(signer addresses, threshold, version) of the current signer set."""
        current = self.reader.signer_set()
        return list(current.signers), current.threshold, current.version

    def domain(self) -> Domain:
        domain = domain_from_eip712_domain_call(self.reader.eip712_domain())
        if domain.chain_id != self.chain_id():
            raise OperatorError(f"the contract's EIP-712 chain id {domain.chain_id} is not the RPC's {self.chain_id()}")
        return domain

    def results_digest(self, results_tuple: tuple) -> bytes:
        return self.reader.results_digest(results_tuple)

    def current_proposal(self, round_id: int, attempt: int) -> Optional[dict]:
        mine = [p for p in self.proposals(round_id) if int(p["attempt"]) == attempt]
        return mine[-1] if mine else None
