"""The bridge from the co-signer to the shared round scoring (the ONE function every party uses).

The co-signer's own records (StakeCommit from its chain adapter, receipts it verified) are
turned into tournament.protocol.round_scoring's inputs here, so the rest of the signer does
not depend on that module's types.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

from tournament.protocol.receipts import SignedReceipt
from tournament.protocol.round_scoring import RoundInputs, RoundScoring, StakeAtClose, score_round

__all__ = ["RoundScoring", "recompute"]


def recompute(round_id: int, stakes: Sequence, files: Mapping[int, Optional[bytes]], live_ids_raw: bytes,
              targets_raw: bytes, receipts: Sequence[SignedReceipt]) -> RoundScoring:
    """Score a round from inputs the signer gathered itself (pure)."""
    at_close = tuple(StakeAtClose(s.model_id, s.owner, s.stake_wei, s.corr_mult, s.mmc_mult, bytes(s.submission_hash))
                     for s in stakes)
    return score_round(RoundInputs(round_id, at_close, dict(files), bytes(live_ids_raw), bytes(targets_raw),
                                   tuple(receipts)))
