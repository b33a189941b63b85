"""The protocol's payout arithmetic (version 2), integer for integer, as the contract computes it.

(v2) The payout factor and the round's reserve derive from `scoredAtRisk`, the sum of the stakes
at close of the round's SCORED leaves (signed with the results), not from the total at risk:
INVALID stakes carry no risk, so they neither dilute `pf` nor inflate the reserve.

This mirror exists so that the oracle, the auditor and the tests can predict every settlement
to the wei without a chain. It follows the protocol's "Payout" section line by line with
Python ints only (no floats anywhere), and every division truncates toward zero the way
Solidity's signed division does; Python's `//` floors, which differs for negative operands,
so it is never used on a value that can be negative. Inputs outside the Solidity types the
contract takes (uint256, int64, uint16) are refused with ValueError, as the contract would
refuse them in the ABI decoder.
"""
from __future__ import annotations

WAD = 10**18                 # payout factor scale: 1e18 = 1.0
EXPOSURE_UNIT = 10**11       # nanos (1e-9) x hundredths (1e-2) = units of 1e-11
BPS_TO_EXPOSURE = 10**7      # 1 bps = 1e-4 = 1e7 units of 1e-11

SCORED = 1
INVALID = 2

_UINT256_MAX = 2**256 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT16_MAX = 2**16 - 1


def _check(name: str, value: int, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value} is outside [{lo}, {hi}]")


def div_toward_zero(numerator: int, denominator: int) -> int:
    """Integer division truncating toward zero (Solidity's `/` on signed integers)."""
    if denominator == 0:
        raise ZeroDivisionError("division by zero")
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


def payout_factor_wei(scored_at_risk_wei: int, stake_threshold_wei: int) -> int:
    """pf = 1e18 when scoredAtRisk <= threshold, else threshold * 1e18 / scoredAtRisk (floored;
    both are non-negative so floor and truncation agree). v2: pass the SCORED stakes' sum."""
    _check("scored_at_risk_wei", scored_at_risk_wei, 0, _UINT256_MAX)
    _check("stake_threshold_wei", stake_threshold_wei, 0, _UINT256_MAX)
    if scored_at_risk_wei <= stake_threshold_wei:
        return WAD
    return stake_threshold_wei * WAD // scored_at_risk_wei


def reserve_wei(scored_at_risk_wei: int, clip_bps: int) -> int:
    """The reserve a proposal takes from the reward pool: scoredAtRisk * clipBps / 10_000 (floored)."""
    _check("scored_at_risk_wei", scored_at_risk_wei, 0, _UINT256_MAX)
    _check("clip_bps", clip_bps, 0, _UINT16_MAX)
    return scored_at_risk_wei * clip_bps // 10_000


def scored_at_risk_wei(stakes_wei: dict, statuses: dict) -> int:
    """scoredAtRisk of a round: the sum of `stakes_wei[model]` over models whose leaf status is SCORED.

    `stakes_wei` maps modelId to the stake at close, `statuses` modelId to SCORED or INVALID;
    every staked model must have a status (a leaf).
    """
    missing = sorted(set(stakes_wei) - set(statuses))
    if missing:
        raise ValueError(f"models {missing[:10]} are staked but have no leaf status")
    total = 0
    for model_id, stake in stakes_wei.items():
        status = statuses[model_id]
        if status not in (SCORED, INVALID):
            raise ValueError(f"model {model_id}: status={status} is neither SCORED nor INVALID")
        _check("stake_wei", stake, 0, _UINT256_MAX)
        if status == SCORED:
            total += stake
    return total


def payout_wei(stake_wei: int, corr_nanos: int, mmc_nanos: int, corr_mult: int, mmc_mult: int,
               payout_factor_wei: int, clip_bps: int) -> int:
    """Signed payout of a SCORED stake: positive is a reward, negative is a burn.

    exposure = corr * a + mmc * b            (units of 1e-11)
    adjusted = exposure * pf / 1e18          (truncating toward zero)
    adjusted = clamp(adjusted, +-clip_bps * 1e7)
    payout   = stake * adjusted / 1e11       (truncating toward zero)
    """
    _check("stake_wei", stake_wei, 0, _UINT256_MAX)
    _check("corr_nanos", corr_nanos, _INT64_MIN, _INT64_MAX)
    _check("mmc_nanos", mmc_nanos, _INT64_MIN, _INT64_MAX)
    _check("corr_mult", corr_mult, 0, _UINT16_MAX)
    _check("mmc_mult", mmc_mult, 0, _UINT16_MAX)
    _check("payout_factor_wei", payout_factor_wei, 0, _UINT256_MAX)
    _check("clip_bps", clip_bps, 0, _UINT16_MAX)
    exposure = corr_nanos * corr_mult + mmc_nanos * mmc_mult
    adjusted = div_toward_zero(exposure * payout_factor_wei, WAD)
    bound = clip_bps * BPS_TO_EXPOSURE
    adjusted = min(max(adjusted, -bound), bound)
    return div_toward_zero(stake_wei * adjusted, EXPOSURE_UNIT)


def settle_amounts(stake_wei: int, status: int, corr_nanos: int, mmc_nanos: int,
                   corr_mult: int, mmc_mult: int, pf_wei: int, clip_bps: int,
                   ) -> tuple[int, int, int]:
    """(credit to the owner's wallet, burned, reward from the reserve) for one stake.

    SCORED: credit stake + payout; a negative payout is burned, a positive one is the
    reward. INVALID: the stake comes back whole, nothing burned or paid.
    """
    if status == INVALID:
        _check("stake_wei", stake_wei, 0, _UINT256_MAX)
        return stake_wei, 0, 0
    if status != SCORED:
        raise ValueError(f"status={status} is neither SCORED ({SCORED}) nor INVALID ({INVALID})")
    paid = payout_wei(stake_wei, corr_nanos, mmc_nanos, corr_mult, mmc_mult, pf_wei, clip_bps)
    if paid < 0:
        return stake_wei + paid, -paid, 0
    return stake_wei + paid, 0, paid
