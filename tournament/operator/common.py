"""What every operator step shares: its error type, the stake record, the status it returns.

`OperatorError` is the one expected failure of a step (the CLI prints its message as one
line); `StakeInfo` is one staked model of a round as the chain records it at close (plus
what collect received for it); `RoundStatus` is what a step found and did, and the next
action it leaves for the operator. `phase_label` is how a phase reads to a person: the
contract's `None` (a round id never opened) reads "not opened", never "None".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

__all__ = ["OperatorError", "RoundStatus", "StakeInfo", "phase_label"]


class OperatorError(RuntimeError):
    """A pipeline step cannot go on; the message says what was wrong and what to do."""


def phase_label(phase: str) -> str:
    """The phase as a person reads it: a round that was never opened is "not opened"."""
    return "not opened" if phase == "None" else phase


@dataclass
class StakeInfo:
    """One staked model of a round as the chain records it at close."""
    model_id: int
    owner: str
    stake_wei: int
    corr_mult: int
    mmc_mult: int
    submission_hash: str          # 0x-hex, the latest non-zero commitment
    file: Optional[str] = None    # artifacts-relative path of the received file, if any
    message: str = ""             # why no usable file was received
    rejected_file: Optional[str] = None  # round-folder path of a received file whose hash differs


@dataclass
class RoundStatus:
    """What a pipeline call found and did, and the next action it leaves."""
    round_id: int
    phase: str
    attempt: int
    staked_count: int
    closed_count: int
    actions: list[str] = field(default_factory=list)
    next_step: str = ""

    def __str__(self) -> str:
        if self.phase == "None":
            return (f"round {self.round_id}: not opened on this deployment"
                    + (f"; next: {self.next_step}" if self.next_step else ""))
        head = (f"round {self.round_id}: {self.phase} (attempt {self.attempt}, {self.closed_count}/"
                f"{self.staked_count} stakes closed)")
        if self.actions:
            head += ": " + "; ".join(self.actions)
        elif not self.next_step:
            head += ": nothing to do"
        return head + (f"; next: {self.next_step}" if self.next_step else "")
