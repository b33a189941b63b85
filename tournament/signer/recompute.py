"""The bridge from the co-signer to the shared round scoring (the ONE function every party uses).

Until branch round-scoring is merged, tournament.protocol.round_scoring does not exist and
the interim copy with the same interface is used; afterwards the import below picks the
shared one and the interim module can be deleted.
"""
from __future__ import annotations

from typing import Mapping, Sequence

try:
    from tournament.protocol.round_scoring import RoundInputs, RoundScoring, score_round
    SHARED_SCORING = True
except ImportError:  # branch round-scoring not merged yet
    from tournament.signer.interim_scoring import RoundInputs, RoundScoring, score_round
    SHARED_SCORING = False

from tournament.signer.receipts import SignedReceipt

__all__ = ["RoundInputs", "RoundScoring", "SHARED_SCORING", "recompute"]


def recompute(round_id: int, stakes: Sequence, files: Mapping[int, bytes], live_ids_raw: bytes,
              targets_raw: bytes, receipts: Sequence[SignedReceipt]) -> RoundScoring:
    """Score a round from inputs the signer gathered itself (pure)."""
    return score_round(RoundInputs(round_id, tuple(stakes), dict(files), bytes(live_ids_raw), bytes(targets_raw),
                                   tuple(receipts)))
