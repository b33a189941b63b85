"""The protocol's named constants: round phases, leaf statuses, units and artifact file names.

One place for the numbers and names the contracts, the operator, the co-signers, the
watchtower and the auditor must agree on (protocol.md, version 2). Pure: no I/O.
"""
from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ARTIFACT_FILES", "LEAVES_NAME", "LIVE_IDS_NAME", "MANIFEST_NAME", "META_MODEL_NAME", "NANOS_PER_UNIT",
    "Phase", "RECEIPTS_NAME", "REQUIRED_FILES", "SCORES_NAME", "SUBMISSIONS_DIR", "Status", "TARGETS_NAME",
    "TARGET_VALUES", "WEI_PER_NMR",
]


class Phase(IntEnum):
    """A round's phase, in the contract's order (`phase(roundId)` returns the index)."""

    NONE = 0
    OPEN = 1
    CLOSED = 2
    RESOLVABLE = 3
    PROPOSED = 4
    ACCEPTED = 5
    REFUNDING = 6
    SETTLED = 7

    @property
    def label(self) -> str:
        """The name as the docs and the CLI write it: 'None', 'Open', ..., 'Settled'."""
        return self.name.capitalize()

    @classmethod
    def from_label(cls, label: str) -> Phase:
        """'Resolvable' (any case) -> Phase.RESOLVABLE; ValueError for an unknown name."""
        try:
            return cls[str(label).upper()]
        except KeyError:
            raise ValueError(f"unknown phase {label!r}; phases are "
                             f"{', '.join(p.label for p in cls)}") from None


class Status(IntEnum):
    """A leaf's status: SCORED stakes are paid or burned, INVALID ones (corr = mmc = 0) get their stake back."""

    SCORED = 1
    INVALID = 2


WEI_PER_NMR = 10**18              # NMR has 18 decimals
NANOS_PER_UNIT = 1_000_000_000    # scores go on-chain as int64 nanos (1e-9)
TARGET_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)

# The artifacts folder of a round (protocol "Artifacts"): every file is required.
LIVE_IDS_NAME = "live_ids.csv"
TARGETS_NAME = "targets.csv"
SUBMISSIONS_DIR = "submissions"          # submissions/<modelId>.<csv|parquet|bin>, exactly as uploaded
RECEIPTS_NAME = "receipts.json"
META_MODEL_NAME = "meta_model.csv"
SCORES_NAME = "scores.csv"
LEAVES_NAME = "leaves.json"
MANIFEST_NAME = "manifest.json"
# The fixed files a round's folder must hold besides the submissions (the manifest lists all but itself).
REQUIRED_FILES = (LIVE_IDS_NAME, TARGETS_NAME, RECEIPTS_NAME, META_MODEL_NAME, SCORES_NAME, LEAVES_NAME,
                  MANIFEST_NAME)
ARTIFACT_FILES = REQUIRED_FILES
