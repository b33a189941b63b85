// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title PayoutMath
/// @notice The protocol's integer payout arithmetic, mirrored to the wei by `oracle/payout.py`.
///         Scores are in nanos (1e-9), multipliers in hundredths, exposure in units of 1e-11,
///         the payout factor in 1e18. Every division truncates toward zero (Solidity's signed
///         division), which the Python mirror reproduces explicitly.
library PayoutMath {
    /// @dev 1.0 in the payout factor's scale.
    uint256 internal constant PAYOUT_FACTOR_ONE = 1e18;
    /// @dev 1.0 in exposure units (1e-11 = nanos x hundredths).
    int256 internal constant EXPOSURE_ONE = 1e11;
    /// @dev One basis point in exposure units.
    int256 internal constant EXPOSURE_PER_BPS = 1e7;

    /// @notice The payout factor: 1 while the round's total at risk is within the threshold,
    ///         else threshold / totalAtRisk, in 1e18.
    function payoutFactor(uint256 totalAtRiskWei, uint256 stakeThresholdWei) internal pure returns (uint256) {
        if (totalAtRiskWei <= stakeThresholdWei) return PAYOUT_FACTOR_ONE;
        return (stakeThresholdWei * PAYOUT_FACTOR_ONE) / totalAtRiskWei;
    }

    /// @notice The signed payout of a SCORED stake: positive is a reward, negative a burn.
    /// @param stakeWei the stake at close
    /// @param corrNanos corr score in 1e-9
    /// @param mmcNanos mmc score in 1e-9
    /// @param corrMult corr multiplier in hundredths
    /// @param mmcMult mmc multiplier in hundredths
    /// @param payoutFactorWei the round's payout factor in 1e18
    /// @param clipBps the clip, in basis points of the stake
    function payout(
        uint256 stakeWei,
        int64 corrNanos,
        int64 mmcNanos,
        uint16 corrMult,
        uint16 mmcMult,
        uint256 payoutFactorWei,
        uint16 clipBps
    ) internal pure returns (int256) {
        int256 exposure = int256(corrNanos) * int256(uint256(corrMult)) + int256(mmcNanos) * int256(uint256(mmcMult));
        int256 adjusted = (exposure * SafeCast.toInt256(payoutFactorWei)) / int256(PAYOUT_FACTOR_ONE);
        int256 bound = int256(uint256(clipBps)) * EXPOSURE_PER_BPS;
        if (adjusted > bound) adjusted = bound;
        else if (adjusted < -bound) adjusted = -bound;
        return (SafeCast.toInt256(stakeWei) * adjusted) / EXPOSURE_ONE;
    }
}
