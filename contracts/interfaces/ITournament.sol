// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ITournament
/// @notice Types, events and errors of the staking tournament (see shared/design/protocol.md).
///         Everything only auditors need (names, submission hashes, scores, artifacts hashes)
///         lives in events; storage holds only what the contract itself must read.
interface ITournament {
    // ---------------------------------------------------------------- types

    /// @notice Tournament configuration; `openRound` snapshots it into the round.
    struct Config {
        uint16 corrMultMin; // hundredths (50 = 0.5x)
        uint16 corrMultMax;
        uint16 mmcMultMin;
        uint16 mmcMultMax;
        uint16 clipBps; // basis points of the stake
        uint32 challengePeriod; // seconds
        uint32 resultsTimeout; // seconds after resolveTime
        uint32 settleTimeout; // seconds after acceptance (end of the challenge window)
        uint32 minResolutionDelay; // seconds between closeTime and resolveTime, at least
        uint128 stakeThreshold; // NMR wei
        uint128 minStake; // NMR wei
    }

    /// @notice Derived phase of a round.
    enum Phase {
        None,
        Open,
        Closed,
        Resolvable,
        Proposed,
        Accepted,
        Refunding,
        Settled
    }

    /// @notice Round state as `getRound` returns it (storage packs it differently).
    struct Round {
        uint64 closeTime;
        uint64 resolveTime;
        uint32 stakedCount; // staked models; frozen at close
        uint32 closedCount; // stakes settled or refunded
        uint32 attempt; // bumped by each veto
        uint32 leafCount;
        uint128 totalAtRisk; // sum of stakes; frozen at close
        uint64 challengeEnd; // 0 while no results are proposed; acceptance time
        bool settled;
        bytes32 resultsRoot; // 0 while no results are proposed
        uint128 payoutFactor; // 1e18; set at proposal
        uint128 reserve; // NMR wei reserved from the pool and not yet paid
        uint128 rewardsPaid;
        uint128 burned;
        uint128 closedAmount; // stake wei settled or refunded
        Config config;
    }

    /// @notice A stake of (round, model). One storage slot.
    struct Stake {
        uint96 amount;
        uint16 corrMult;
        uint16 mmcMult;
    }

    /// @notice One results leaf: (roundId, modelId, status, corr, mmc).
    struct Leaf {
        uint256 roundId;
        uint256 modelId;
        uint8 status; // 1 SCORED, 2 INVALID
        int64 corr; // nanos
        int64 mmc; // nanos
    }

    /// @notice The EIP-712 struct the oracle signers sign.
    struct Results {
        uint256 roundId;
        uint32 attempt;
        bytes32 resultsRoot;
        uint32 leafCount;
        bytes32 artifactsHash;
        uint64 signerSetVersion;
    }

    // ---------------------------------------------------------------- events

    event ModelCreated(uint256 indexed modelId, address indexed owner, string name);
    event Deposited(address indexed owner, uint256 amount);
    event Withdrawn(address indexed owner, uint256 amount);
    event RoundOpened(uint256 indexed roundId, uint64 closeTime, uint64 resolveTime, Config config);
    /// @dev `submissionHash` is bytes32(0) on unstake: the commitment is unchanged.
    event StakeChanged(
        uint256 indexed roundId,
        uint256 indexed modelId,
        address indexed owner,
        uint256 total,
        uint16 corrMult,
        uint16 mmcMult,
        bytes32 submissionHash
    );
    event ResultsProposed(
        uint256 indexed roundId,
        uint32 attempt,
        bytes32 resultsRoot,
        bytes32 artifactsHash,
        uint32 leafCount,
        uint256 payoutFactor,
        uint256 reserve,
        uint64 challengeEnd,
        uint64 signerSetVersion
    );
    event ResultsVetoed(uint256 indexed roundId, uint32 attempt, address indexed guardian, string reason);
    event StakeSettled(
        uint256 indexed roundId,
        uint256 indexed modelId,
        address indexed owner,
        uint256 stake,
        uint8 status,
        int64 corr,
        int64 mmc,
        int256 payout,
        uint256 burned
    );
    event StakeRefunded(uint256 indexed roundId, uint256 indexed modelId, address indexed owner, uint256 amount);
    event RoundSettled(uint256 indexed roundId, uint256 rewards, uint256 burned, uint256 reserveReleased);
    event RewardsFunded(address indexed funder, uint256 amount);
    event RewardsWithdrawn(address indexed to, uint256 amount);
    event SignersUpdated(uint64 indexed version, address[] signers, uint8 threshold);
    event ConfigUpdated(Config config);
    event SurplusRecovered(address indexed token, address indexed to, uint256 amount);

    // ---------------------------------------------------------------- errors

    error ZeroAmount();
    error ZeroAddress();
    error InsufficientBalance(address owner, uint256 balance, uint256 needed);
    error InvalidModelName(uint256 length, uint256 maxLength);
    error UnknownModel(uint256 modelId);
    error NotModelOwner(uint256 modelId, address owner, address caller);
    error InvalidConfig(string field);
    error RoundIdNotIncreasing(uint256 roundId, uint256 lastRoundId);
    error InvalidRoundTimes(uint256 closeTime, uint256 resolveTime, uint256 now_, uint256 minResolutionDelay);
    error UnknownRound(uint256 roundId);
    error RoundNotOpen(uint256 roundId, uint256 closeTime, uint256 now_);
    error WrongPhase(uint256 roundId, Phase expected, Phase actual);
    error MultiplierOutOfBounds(string which, uint256 value, uint256 min, uint256 max);
    error EmptySubmissionHash();
    error StakeBelowMinimum(uint256 total, uint256 minStake);
    error InsufficientStake(uint256 staked, uint256 requested);
    error WrongAttempt(uint256 roundId, uint256 expected, uint256 provided);
    error StaleSignerSet(uint256 expected, uint256 provided);
    error LeafCountMismatch(uint256 roundId, uint256 stakedCount, uint256 leafCount);
    error EmptyResultsRoot();
    error InsufficientRewardPool(uint256 needed, uint256 available);
    error LeafRoundMismatch(uint256 roundId, uint256 leafRoundId, uint256 modelId);
    error InvalidProof(uint256 roundId);
    error NoStake(uint256 roundId, uint256 modelId);
    error InvalidLeafStatus(uint256 modelId, uint8 status);
    error InvalidScore(uint256 modelId, int64 corr, int64 mmc);
    error RewardsExceedReserve(uint256 roundId, uint256 rewards, uint256 reserve);
    error RefundNotAvailable(uint256 roundId, Phase phase, uint256 refundableAt);
    error NoSurplus(address token);
}
