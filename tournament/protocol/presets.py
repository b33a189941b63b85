"""Tournament configuration presets (protocol "Configuration snapshotted per round").

Multipliers are in hundredths, the clip in basis points, amounts in NMR wei, times in seconds.
`as_tuple` gives the order of the contract's `ITournament.Config` struct.
"""
from __future__ import annotations

from dataclasses import astuple, dataclass, replace

from tournament.protocol.constants import WEI_PER_NMR

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class TournamentConfig:
    corr_mult_min: int
    corr_mult_max: int
    mmc_mult_min: int
    mmc_mult_max: int
    clip_bps: int
    challenge_period_s: int
    results_timeout_s: int
    settle_timeout_s: int
    min_resolution_delay_s: int
    stake_threshold_wei: int
    min_stake_wei: int

    def as_tuple(self) -> tuple:
        """The contract's Config struct, field for field."""
        return astuple(self)

    def with_(self, **changes: int) -> TournamentConfig:
        return replace(self, **changes)


SEED = TournamentConfig(
    corr_mult_min=50, corr_mult_max=300, mmc_mult_min=0, mmc_mult_max=0, clip_bps=2500,
    challenge_period_s=DAY_SECONDS, results_timeout_s=14 * DAY_SECONDS,
    settle_timeout_s=14 * DAY_SECONDS, min_resolution_delay_s=DAY_SECONDS,
    stake_threshold_wei=72_000 * WEI_PER_NMR, min_stake_wei=WEI_PER_NMR // 100,
)

PRESET_2024 = SEED.with_(corr_mult_min=50, corr_mult_max=50, mmc_mult_min=200, mmc_mult_max=200,
                         clip_bps=500)

PRESETS: dict[str, TournamentConfig] = {"seed": SEED, "2024": PRESET_2024}
