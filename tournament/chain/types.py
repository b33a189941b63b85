"""Typed results of chain reads (frozen dataclasses), decoded by the contract's ABI names.

`RoundState` has every field of `getRound` (whatever fields the compiled ABI returns: fields
this module does not know yet, e.g. from a newer contract, land in `extra` by ABI name, so a
contract upgrade never shifts a positional decode); `StakeState` is one staked model of a
round with its commitment; `Config`, `SignerSet`, `ModelInfo`, `EventLog`, `RoundEvents`.
The enums `Phase` and `Status` are tournament.protocol.constants', re-exported here.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from tournament.protocol.constants import Phase, Status

__all__ = ["Config", "EventLog", "ModelInfo", "Phase", "RoundEvents", "RoundState", "SignerSet", "StakeState",
           "Status", "ZERO32", "decode_struct", "stake_commitments"]

ZERO32 = bytes(32)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def plain_value(value: Any) -> Any:
    """ABI values as plain Python: bytes for bytesN, tuples for arrays/structs, ints, bools, str."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return tuple(plain_value(v) for v in value)
    return value


def decode_struct(components: list[dict], values: Any) -> dict[str, Any]:
    """{abiName: value} of a struct returned by web3 (a tuple in ABI component order)."""
    return {c["name"]: plain_value(v) for c, v in zip(components, values)}


@dataclass(frozen=True)
class Config:
    """A tournament configuration (the current one, or a round's snapshot): protocol.md table."""

    corr_mult_min: int  # hundredths (50 = 0.5x)
    corr_mult_max: int
    mmc_mult_min: int
    mmc_mult_max: int
    clip_bps: int  # basis points of the stake
    challenge_period_s: int
    results_timeout_s: int  # after resolveTime
    settle_timeout_s: int  # after acceptance
    min_resolution_delay_s: int
    stake_threshold_wei: int
    min_stake_wei: int
    extra: tuple[tuple[str, Any], ...] = ()  # fields of a newer ABI, by ABI name

    _ABI = {"corrMultMin": "corr_mult_min", "corrMultMax": "corr_mult_max", "mmcMultMin": "mmc_mult_min",
            "mmcMultMax": "mmc_mult_max", "clipBps": "clip_bps", "challengePeriod": "challenge_period_s",
            "resultsTimeout": "results_timeout_s", "settleTimeout": "settle_timeout_s",
            "minResolutionDelay": "min_resolution_delay_s", "stakeThreshold": "stake_threshold_wei",
            "minStake": "min_stake_wei"}

    @classmethod
    def from_abi(cls, by_name: Mapping[str, Any]) -> Config:
        known = {cls._ABI[k]: int(v) for k, v in by_name.items() if k in cls._ABI}
        extra = tuple((k, v) for k, v in by_name.items() if k not in cls._ABI)
        return cls(**known, extra=extra)

    def as_abi_dict(self) -> dict[str, int]:
        """{abiName: value}, e.g. {"corrMultMin": 50, ...}, as the contract and events name them."""
        out = {abi: getattr(self, attr) for abi, attr in self._ABI.items()}
        out.update(dict(self.extra))
        return out

    def as_tuple(self) -> tuple:
        """The struct as the contract takes it (ABI order)."""
        return tuple(self.as_abi_dict().values())


_ROUND_FIELDS = {"closeTime": "close_time", "resolveTime": "resolve_time", "stakedCount": "staked_count",
                 "closedCount": "closed_count", "attempt": "attempt", "leafCount": "leaf_count",
                 "totalAtRisk": "total_at_risk_wei", "challengeEnd": "challenge_end", "settled": "settled",
                 "resultsRoot": "results_root", "payoutFactor": "payout_factor_e18", "reserve": "reserve_wei",
                 "rewardsPaid": "rewards_paid_wei", "burned": "burned_wei", "closedAmount": "closed_amount_wei",
                 "scoredAtRisk": "scored_at_risk_wei", "liveIdsHash": "live_ids_hash"}


@dataclass(frozen=True)
class RoundState:
    """Every field of `getRound(roundId)`, its `phase` and the block it was read at.

    Times are unix seconds (chain time); amounts wei; `payout_factor_e18` is 1e18-scaled.
    `opened_block` is the block of its RoundOpened event (None for a round never opened).
    v2 fields (`scored_at_risk_wei`, `live_ids_hash`) are None on a v1 contract.
    """

    round_id: int
    block_number: int
    phase: Phase
    close_time: int
    resolve_time: int
    staked_count: int
    closed_count: int
    attempt: int
    leaf_count: int
    total_at_risk_wei: int
    challenge_end: int
    settled: bool
    results_root: bytes
    payout_factor_e18: int
    reserve_wei: int
    rewards_paid_wei: int
    burned_wei: int
    closed_amount_wei: int
    config: Config
    opened_block: Optional[int] = None
    scored_at_risk_wei: Optional[int] = None
    live_ids_hash: Optional[bytes] = None
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def exists(self) -> bool:
        return self.close_time != 0

    @classmethod
    def from_abi(cls, round_id: int, block_number: int, phase: int, by_name: Mapping[str, Any],
                 config_components: list[dict], opened_block: Optional[int]) -> RoundState:
        values: dict[str, Any] = {}
        extra = []
        for name, value in by_name.items():
            if name == "config":
                values["config"] = Config.from_abi(decode_struct(config_components, value))
            elif name in _ROUND_FIELDS:
                values[_ROUND_FIELDS[name]] = value
            else:
                extra.append((name, value))
        return cls(round_id=round_id, block_number=block_number, phase=Phase(phase), opened_block=opened_block,
                   extra=tuple(extra), **values)


@dataclass(frozen=True)
class StakeState:
    """A staked model of a round at the reader's block.

    `amount_wei`, multipliers and `closed` (settled or refunded) come from `getStake`; `owner`
    and `submission_hash` (the commitment: the latest NON-ZERO hash of its StakeChanged events,
    since an unstake emits a zero hash and keeps the commitment) from the events.
    `event_total_wei` is the total of its latest StakeChanged (equal to `amount_wei` until the
    stake is closed, when the contract zeroes nothing but the auditor compares them).
    """

    model_id: int
    owner: str
    amount_wei: int
    corr_mult: int
    mmc_mult: int
    submission_hash: bytes
    closed: bool
    event_total_wei: int = 0
    changed_tx: str = ""  # tx of the latest StakeChanged


@dataclass(frozen=True)
class ModelInfo:
    model_id: int
    owner: str
    name: str = ""
    created_block: int = 0


@dataclass(frozen=True)
class SignerSet:
    signers: tuple[str, ...]
    threshold: int
    version: int


@dataclass(frozen=True)
class EventLog:
    """One decoded event: its name, arguments by ABI name (bytes as bytes) and where it is."""

    name: str
    args: Mapping[str, Any]
    block_number: int
    log_index: int
    tx_hash: str  # 0x-hex
    address: str = ""

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


@dataclass(frozen=True)
class RoundEvents:
    """Every event of one round (all indexed by roundId), in chain order, up to the reader's block."""

    round_id: int
    block_number: int
    events: tuple[EventLog, ...] = field(default=())

    def of(self, name: str) -> list[EventLog]:
        return [e for e in self.events if e.name == name]

    def __iter__(self) -> Iterator[EventLog]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


def stake_commitments(changes: list[EventLog]) -> dict[int, tuple[EventLog, bytes]]:
    """THE commitment rule, written once: for each model, its latest StakeChanged and the latest
    NON-ZERO submissionHash among its StakeChanged events (ZERO32 when it never committed).
    `changes` must be in chain order (an unstake emits a zero hash and keeps the commitment)."""
    out: dict[int, tuple[EventLog, bytes]] = {}
    for event in changes:
        model_id = int(event.args["modelId"])
        digest = bytes(event.args["submissionHash"])
        previous = out.get(model_id, (event, ZERO32))[1]
        out[model_id] = (event, digest if digest != ZERO32 else previous)
    return out
