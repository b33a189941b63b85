"""Protocol constants shared by every user: round phases, stake statuses, units.

Pure code, no I/O. `Phase` mirrors the contract's `ITournament.Phase` enum and `Status` the
leaf status of protocol.md ("Leaves"): their integer values ARE the protocol, so they are
IntEnums (they compare equal to the raw uint8 the chain returns) with the contract's names.
"""
from __future__ import annotations

from enum import IntEnum

__all__ = ["NMR_DECIMALS", "Phase", "Status", "WEI_PER_NMR"]

NMR_DECIMALS = 18
WEI_PER_NMR = 10**NMR_DECIMALS


class Phase(IntEnum):
    """Derived phase of a round (protocol.md "Rounds"); `Phase.None_` is an unknown round."""

    None_ = 0
    Open = 1
    Closed = 2
    Resolvable = 3
    Proposed = 4
    Accepted = 5
    Refunding = 6
    Settled = 7

    @property
    def label(self) -> str:
        """The contract's name of the phase ("None", "Open", ...), as shown to users."""
        return "None" if self is Phase.None_ else self.name

    @classmethod
    def from_label(cls, label: str) -> "Phase":
        return cls.None_ if label == "None" else cls[label]

    def __str__(self) -> str:
        return self.label


class Status(IntEnum):
    """Status of a results leaf (protocol.md "Leaves"): how a stake is settled."""

    SCORED = 1
    INVALID = 2

    def __str__(self) -> str:
        return self.name
