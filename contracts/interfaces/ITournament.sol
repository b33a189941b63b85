// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title ITournament
/// @notice Types, functions, events and errors of the staking tournament, protocol version 2
///         (see shared/design/protocol.md). Everything only auditors need (names, submission
///         hashes, scores, artifacts hashes) lives in events; storage holds only what the
///         contract itself must read. Every external function of `Tournament` is declared
///         here, except those it inherits from OpenZeppelin's AccessControl (IAccessControl),
///         Pausable (`paused()`) and EIP712 (IERC5267 `eip712Domain()`).
///
///         Times: `closeTime` and `resolveTime` are wall-clock unix seconds. The challenge
///         window and both timeouts run on the tournament clock (`tournamentTime()`), which
///         stops while the tournament is paused: `challengeEnd`, `refundableAt` and
///         `resultsDeadline` are tournament times, to be compared with `tournamentTime()`.
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

    /// @notice How settlement burns NMR, fixed at deployment: OpenZeppelin `burn(uint256)`, or
    ///         the legacy mainnet NMR's `mint(uint256)`, which burns the caller's tokens.
    enum BurnMethod {
        Burn,
        LegacyMint
    }

    /// @notice Round state as `getRound` returns it (storage packs it differently). Fields
    ///         16-18 are new in v2 (appended, so earlier indices are unchanged).
    struct Round {
        uint64 closeTime; // wall clock
        uint64 resolveTime; // wall clock
        uint32 stakedCount; // staked models; frozen at close
        uint32 closedCount; // stakes settled or refunded
        uint32 attempt; // bumped by each veto
        uint32 leafCount;
        uint128 totalAtRisk; // sum of stakes; frozen at close
        uint64 challengeEnd; // TOURNAMENT time the window ends (acceptance); 0 while no results
        bool settled;
        bytes32 resultsRoot; // 0 while no results are proposed
        uint128 payoutFactor; // 1e18; set at proposal, from scoredAtRisk
        uint128 reserve; // NMR wei reserved from the pool and not yet paid
        uint128 rewardsPaid;
        uint128 burned;
        uint128 closedAmount; // stake wei settled or refunded
        Config config;
        uint128 scoredAtRisk; // signed: stakes at close of the SCORED leaves; 0 while no results
        uint128 scoredSettled; // stake wei of SCORED leaves settled so far; never above scoredAtRisk
        bytes32 liveIdsHash; // keccak256 of the round's live_ids.csv, fixed at open
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
        uint128 scoredAtRisk; // NMR wei: sum of the stakes at close of the SCORED leaves
        bytes32 artifactsHash;
        uint64 signerSetVersion;
    }

    /// @notice The EIP-712 struct the submission service (RECEIPT_ROLE) signs for each upload.
    struct UploadReceipt {
        uint256 roundId;
        uint256 modelId;
        bytes32 submissionHash; // keccak256 of the uploaded bytes
        uint64 receivedAt; // unix seconds
    }

    // ---------------------------------------------------------------- events

    event ModelCreated(uint256 indexed modelId, address indexed owner, string name);
    event Deposited(address indexed owner, uint256 amount);
    event Withdrawn(address indexed owner, uint256 amount);
    event RoundOpened(
        uint256 indexed roundId, uint64 closeTime, uint64 resolveTime, bytes32 liveIdsHash, Config config
    );
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
        uint128 scoredAtRisk,
        uint256 payoutFactor,
        uint256 reserve,
        uint64 challengeEnd, // tournament time
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
    error InvalidFirstRoundId(uint256 roundId, uint256 min, uint256 max);
    error InvalidRoundId(uint256 roundId, uint256 expected);
    error InvalidRoundTimes(
        uint256 closeTime, uint256 resolveTime, uint256 now_, uint256 minResolutionDelay, uint256 maxPeriod
    );
    error EmptyLiveIdsHash();
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
    error ScoredAtRiskAboveTotal(uint256 roundId, uint256 scoredAtRisk, uint256 totalAtRisk);
    error ScoredSettledAboveSigned(uint256 roundId, uint256 scoredSettled, uint256 scoredAtRisk);
    error BurnFailed(uint256 amount);
    // signer set (raised by the SignerSet library)
    error InvalidSignerSet(uint256 signerCount, uint256 threshold);
    error InvalidSigner(address signer);
    error DuplicateSignerInSet(address signer);
    error NotEnoughSignatures(uint256 provided, uint256 threshold);
    error InvalidSignature(uint256 index);
    error DuplicateSigner(uint256 index, address signer);
    error SignersNotAscending(uint256 index, address signer, address previous);
    error NotASigner(uint256 index, address recovered);
    error RefundNotAvailable(uint256 roundId, Phase phase, uint256 refundableAt);
    error NoSurplus(address token);

    // ---------------------------------------------------------------- constants

    function OPERATOR_ROLE() external view returns (bytes32);
    function GUARDIAN_ROLE() external view returns (bytes32);
    function RECEIPT_ROLE() external view returns (bytes32);
    function RESULTS_TYPEHASH() external view returns (bytes32);
    function RECEIPT_TYPEHASH() external view returns (bytes32);

    // ---------------------------------------------------------------- state

    function nmr() external view returns (IERC20);
    function burnMethod() external view returns (BurnMethod);
    function accountedNmr() external view returns (uint256);
    function rewardPool() external view returns (uint256);
    function lastRoundId() external view returns (uint256);
    function lastModelId() external view returns (uint256);

    // ---------------------------------------------------------------- admin, guardian

    function setConfig(Config calldata config) external;
    function setSigners(address[] calldata signers, uint8 threshold) external;
    function pause() external;
    function unpause() external;
    function recoverSurplus(IERC20 token, address to) external;
    function fundRewards(uint256 amount) external;
    function withdrawRewards(uint256 amount, address to) external;

    // ---------------------------------------------------------------- participants

    function deposit(uint256 amount) external;
    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;
    function withdraw(uint256 amount) external;
    function createModel(string calldata name) external returns (uint256 modelId);
    function stake(
        uint256 roundId,
        uint256 modelId,
        uint256 amount,
        uint16 corrMult,
        uint16 mmcMult,
        bytes32 submissionHash
    ) external;
    function unstake(uint256 roundId, uint256 modelId, uint256 amount) external;

    // ---------------------------------------------------------------- rounds, results

    function openRound(uint256 roundId, uint64 closeTime, uint64 resolveTime, bytes32 liveIdsHash) external;
    function proposeResults(Results calldata results, bytes[] calldata signatures) external;
    function veto(uint256 roundId, string calldata reason) external;
    function settle(uint256 roundId, Leaf[] calldata leaves, bytes32[] calldata proof, bool[] calldata proofFlags)
        external;
    function refund(uint256 roundId, uint256[] calldata modelIds) external;

    // ---------------------------------------------------------------- views

    function computePayout(
        uint256 stakeWei,
        int64 corrNanos,
        int64 mmcNanos,
        uint16 corrMult,
        uint16 mmcMult,
        uint256 payoutFactorWei,
        uint16 clipBps
    ) external pure returns (int256 payoutWei);
    function payoutFactor(uint256 scoredAtRiskWei, uint256 stakeThresholdWei) external pure returns (uint256);
    function leafHash(Leaf calldata leaf) external pure returns (bytes32);
    function resultsDigest(Results calldata results) external view returns (bytes32);
    function receiptDigest(UploadReceipt calldata receipt) external view returns (bytes32);
    function isValidReceipt(UploadReceipt calldata receipt, bytes calldata signature)
        external
        view
        returns (bool valid, address signer);
    function phase(uint256 roundId) external view returns (Phase);
    function getRound(uint256 roundId) external view returns (Round memory);
    function getStake(uint256 roundId, uint256 modelId) external view returns (Stake memory position, bool closed);
    function getStakes(uint256 roundId, uint256[] calldata modelIds)
        external
        view
        returns (Stake[] memory positions, bool[] memory closed);
    function isStakeClosed(uint256 roundId, uint256 modelId) external view returns (bool);
    function balanceOf(address owner) external view returns (uint256);
    function modelCountOf(address owner) external view returns (uint256);
    function modelOwner(uint256 modelId) external view returns (address);
    function config() external view returns (Config memory);
    function signerSet() external view returns (address[] memory signers, uint8 threshold, uint64 version);
    function signerSetVersion() external view returns (uint64);
    function tournamentTime() external view returns (uint64);
    function resultsDeadline(uint256 roundId) external view returns (uint256);
    function refundableAt(uint256 roundId) external view returns (uint256);
}
