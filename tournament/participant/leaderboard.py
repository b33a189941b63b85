"""The leaderboard, computed only from the chain's StakeSettled and StakeRefunded events.

Per model: the rounds it was scored in, its mean CORR and mean MMC PER ROUND (never a sum
over rounds), the NMR it earned (payouts minus burns, summed), its return (earned / staked
over its settled rounds), and a reputation: like Numerai's, a weighted mean of the model's
CORR over its most recent `REPUTATION_ROUNDS` scored rounds, the newest round weighing most
(weights 1, 2, ..., k from the oldest to the newest of the k <= 20 rounds). INVALID and
refunded stakes are counted apart: they carry no score. `build_leaderboard` is pure (events
in, rows out); `read_leaderboard` reads the events through a ChainReader.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Optional

import numpy as np

from tournament.chain.reader import ChainReader
from tournament.chain.types import EventLog
from tournament.protocol.constants import NANOS_PER_UNIT, Status

__all__ = ["REPUTATION_ROUNDS", "LeaderboardRow", "build_leaderboard", "read_leaderboard", "reputation"]

REPUTATION_ROUNDS = 20


@dataclass(frozen=True)
class LeaderboardRow:
    model_id: int
    model_name: str
    owner: str
    rounds: int                    # SCORED rounds
    invalid: int                   # INVALID stakes (no score)
    refunded: int                  # refunded stakes (no score)
    mean_corr: Optional[float]     # per round, None without a scored round
    mean_mmc: Optional[float]
    earned_wei: int                # sum of payouts (rewards > 0, burns < 0)
    staked_wei: int                # sum of the settled stakes (SCORED and INVALID)
    reputation: Optional[float]    # weighted mean CORR over the recent rounds
    last_round: int

    @property
    def return_ratio(self) -> float:
        return self.earned_wei / self.staked_wei if self.staked_wei else 0.0


def reputation(corrs_by_round: Mapping[int, float], rounds: int = REPUTATION_ROUNDS) -> Optional[float]:
    """Weighted mean of the newest `rounds` scores, weights 1..k from oldest to newest."""
    recent = [corrs_by_round[r] for r in sorted(corrs_by_round)[-rounds:]]
    if not recent:
        return None
    weights = np.arange(1, len(recent) + 1, dtype=np.float64)
    return float(np.dot(weights, recent) / weights.sum())


def build_leaderboard(settled: Iterable[EventLog], refunded: Iterable[EventLog] = (),
                      names: Optional[Mapping[int, str]] = None) -> list[LeaderboardRow]:
    """One row per model that has a settled or refunded stake, best reputation first."""
    names = names or {}
    corr: dict[int, dict[int, float]] = {}
    mmc: dict[int, dict[int, float]] = {}
    invalid: dict[int, int] = {}
    refunds: dict[int, int] = {}
    earned: dict[int, int] = {}
    staked: dict[int, int] = {}
    owners: dict[int, str] = {}
    last: dict[int, int] = {}
    for event in settled:
        a = event.args
        model_id, round_id = int(a["modelId"]), int(a["roundId"])
        owners[model_id] = str(a["owner"])
        last[model_id] = max(last.get(model_id, 0), round_id)
        earned[model_id] = earned.get(model_id, 0) + int(a["payout"])
        staked[model_id] = staked.get(model_id, 0) + int(a["stake"])
        if int(a["status"]) == Status.SCORED:
            corr.setdefault(model_id, {})[round_id] = int(a["corr"]) / NANOS_PER_UNIT
            mmc.setdefault(model_id, {})[round_id] = int(a["mmc"]) / NANOS_PER_UNIT
        else:
            invalid[model_id] = invalid.get(model_id, 0) + 1
    for event in refunded:
        a = event.args
        model_id = int(a["modelId"])
        owners[model_id] = str(a["owner"])
        last[model_id] = max(last.get(model_id, 0), int(a["roundId"]))
        refunds[model_id] = refunds.get(model_id, 0) + 1
    rows = []
    for model_id in owners:
        c, m = corr.get(model_id, {}), mmc.get(model_id, {})
        rows.append(LeaderboardRow(
            model_id, names.get(model_id, ""), owners[model_id], len(c), invalid.get(model_id, 0),
            refunds.get(model_id, 0), float(np.mean(list(c.values()))) if c else None,
            float(np.mean(list(m.values()))) if m else None, earned.get(model_id, 0), staked.get(model_id, 0),
            reputation(c), last[model_id]))
    rows.sort(key=lambda r: (r.reputation is None, -(r.reputation or 0.0), -r.earned_wei, r.model_id))
    return rows


def read_leaderboard(reader: ChainReader) -> list[LeaderboardRow]:
    """The leaderboard at the reader's pinned block."""
    names = {int(e.args["modelId"]): str(e.args["name"]) for e in reader.events("ModelCreated")}
    return build_leaderboard(reader.events("StakeSettled"), reader.events("StakeRefunded"), names)
