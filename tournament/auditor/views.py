"""What the auditor reads about one round: plain records of the chain's events and views, and the artifacts.

`ChainView` (with its StakeView, ProposalView, ... parts) is what a chain reader fills in and
what the pure verifier (tournament.auditor.verify) checks; tests build them by hand. Fields
are only ever added (a v1 chain leaves the v2 fields None), never renamed. Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

__all__ = ["ArtifactsView", "ChainView", "ProposalView", "RefundView", "SettledView", "SignerSetView",
           "StakeView", "VetoView"]


@dataclass
class StakeView:
    """A stake as the chain has it at close: last StakeChanged before close (and getStake)."""

    model_id: int
    owner: str
    stake_wei: int                      # StakeChanged.total of the last event
    corr_mult: int
    mmc_mult: int
    submission_hash: bytes              # latest non-zero commitment
    get_stake_wei: Optional[int] = None  # getStake(round, model).amount, for the cross-check
    closed: bool = False                # getStake(...).closed
    tx_hash: str = ""                   # the last StakeChanged


@dataclass
class ProposalView:
    """One ResultsProposed event plus the signatures read from its transaction's calldata."""

    attempt: int
    results_root: bytes
    artifacts_hash: bytes
    leaf_count: int
    payout_factor_wei: int
    reserve_wei: int
    challenge_end: int
    signer_set_version: int
    tx_hash: str = ""
    block_number: int = 0
    signatures: Optional[list[bytes]] = None       # None when the calldata could not be decoded
    calldata_results: Optional[dict] = None        # the Results struct as sent (roundId, ...)
    scored_at_risk_wei: Optional[int] = None       # (v2) ResultsProposed.scoredAtRisk; None on a v1 chain


@dataclass
class VetoView:
    attempt: int
    guardian: str
    reason: str
    tx_hash: str = ""


@dataclass
class SettledView:
    """One StakeSettled event."""

    model_id: int
    owner: str
    stake_wei: int
    status: int
    corr_nanos: int
    mmc_nanos: int
    payout_wei: int
    burned_wei: int
    tx_hash: str = ""


@dataclass
class RefundView:
    model_id: int
    owner: str
    amount_wei: int
    tx_hash: str = ""


@dataclass
class SignerSetView:
    version: int
    signers: list[str]
    threshold: int


@dataclass
class ChainView:
    """Everything the auditor read from the chain about one round (events and view calls)."""

    round_id: int
    chain_id: int
    tournament: str
    now: int                                # latest block timestamp
    phase: str
    close_time: int
    resolve_time: int
    config: dict                            # the round's snapshot: clipBps, stakeThreshold, ...
    staked_count: int                       # getRound
    total_at_risk_wei: int                  # getRound
    stakes: dict[int, StakeView] = field(default_factory=dict)
    proposals: list[ProposalView] = field(default_factory=list)
    vetoes: list[VetoView] = field(default_factory=list)
    signer_sets: dict[int, SignerSetView] = field(default_factory=dict)
    settled: dict[int, list[SettledView]] = field(default_factory=dict)   # model -> events (one, normally)
    refunds: dict[int, list[RefundView]] = field(default_factory=dict)
    round_settled: Optional[dict] = None    # RoundSettled: rewards, burned, reserveReleased
    # Token supply (whole tournament, not only this round): the fall must equal all burns.
    initial_supply_wei: Optional[int] = None
    total_supply_wei: Optional[int] = None
    tournament_burns_wei: Optional[int] = None     # sum of StakeSettled.burned over all rounds
    other_burns_wei: Optional[int] = None          # Transfer-to-zero not sent by the tournament
    # (v2) keccak256 of the published live_ids.csv, from RoundOpened / getRound; None on a v1 chain.
    live_ids_hash: Optional[bytes] = None
    # (v2) the addresses holding RECEIPT_ROLE (whose upload receipts count); None when unknown.
    receipt_signers: Optional[list[str]] = None

    @property
    def accepted(self) -> Optional[ProposalView]:
        """The proposal that counts: the last one after the last veto (None if vetoed or none)."""
        if not self.proposals:
            return None
        last = self.proposals[-1]
        vetoed = {v.attempt for v in self.vetoes}
        return None if last.attempt in vetoed else last


@dataclass
class ArtifactsView:
    """The published folder: relative POSIX path -> bytes (manifest.json included when present)."""

    files: dict[str, bytes]
    source: str = ""

    def get(self, path: str) -> Optional[bytes]:
        return self.files.get(path)
