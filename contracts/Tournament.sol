// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {ITournament} from "./interfaces/ITournament.sol";
import {PauseClock} from "./libraries/PauseClock.sol";
import {PayoutMath} from "./libraries/PayoutMath.sol";
import {SignerSet} from "./libraries/SignerSet.sol";

/// @dev The burn entry point of the NMR token (OpenZeppelin ERC20Burnable).
interface IBurnable {
    function burn(uint256 value) external;
}

/// @dev The burn entry point of the legacy mainnet NMR (0x1776e1F26f98b1A5dF9cD347953a26dd3Cb46671):
///      `mint(value)` burns `value` of the caller's tokens.
interface ILegacyBurnable {
    function mint(uint256 value) external returns (bool);
}

/// @title Tournament
/// @notice Numerai-style staking tournament: participants stake NMR on their models'
///         predictions for a round; an m-of-n oracle posts signed scores (a Merkle root);
///         after a challenge window anyone settles stakes against the root and the contract
///         pays rewards from a reserve and burns losses, with the protocol's integer math.
///         If the oracle fails, every stake can be refunded in full after a timeout.
///         Protocol version 2: live ids committed at open, upload receipts (RECEIPT_ROLE),
///         payout factor and reserve from the signed `scoredAtRisk`, a tournament clock that
///         stops while paused, bounded round ids and times, a burn entry point fixed at deployment.
/// @dev Accounting (protocol invariant 1): NMR held == wallets + unsettled stakes + reward pool
///      + outstanding reserves, tracked as `accountedNmr` so a donation can be recovered.
///      Settled/refunded stakes are marked in a per-round bitmap, not by rewriting the stake,
///      so a stake never changes after close and settlement costs a warm bit flip per stake.
contract Tournament is ITournament, AccessControl, Pausable, ReentrancyGuardTransient, EIP712 {
    using SafeERC20 for IERC20;
    using SignerSet for SignerSet.Data;
    using PauseClock for PauseClock.Data;

    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @notice Held by the submission service, whose EIP-712 upload receipts prove an upload.
    bytes32 public constant RECEIPT_ROLE = keccak256("RECEIPT_ROLE");

    /// @notice EIP-712 type of the signed results (v2: with scoredAtRisk).
    bytes32 public constant RESULTS_TYPEHASH = keccak256(
        "Results(uint256 roundId,uint32 attempt,bytes32 resultsRoot,uint32 leafCount,uint128 scoredAtRisk,bytes32 artifactsHash,uint64 signerSetVersion)"
    );
    /// @notice EIP-712 type of an upload receipt.
    bytes32 public constant RECEIPT_TYPEHASH =
        keccak256("UploadReceipt(uint256 roundId,uint256 modelId,bytes32 submissionHash,uint64 receivedAt)");

    uint8 internal constant STATUS_SCORED = 1;
    uint8 internal constant STATUS_INVALID = 2;
    int64 internal constant MAX_SCORE_NANOS = 1e9;
    uint16 internal constant MAX_MULTIPLIER = 500; // 5x in hundredths
    uint16 internal constant MAX_CLIP_BPS = 10_000;
    uint256 internal constant MAX_MODEL_NAME_LENGTH = 64;
    uint32 internal constant MIN_TIMEOUT = 1 days;
    uint32 internal constant MAX_PERIOD = 365 days;
    /// @notice The first round's id is in [1, MAX_FIRST_ROUND_ID]; every later one is the last + 1.
    uint256 internal constant MAX_FIRST_ROUND_ID = type(uint32).max;

    /// @notice The NMR token.
    IERC20 public immutable nmr;
    /// @notice How settlement burns: `burn(uint256)` or the legacy NMR's `mint(uint256)`.
    BurnMethod public immutable burnMethod;

    /// @notice NMR this contract owes to someone (wallets, stakes, pool, reserves).
    uint256 public accountedNmr;
    /// @notice Rewards available to reserve for new proposals.
    uint256 public rewardPool;
    uint256 public lastRoundId;
    uint256 public lastModelId;

    Config private _config;
    SignerSet.Data private _signerSet;
    PauseClock.Data private _clock;

    /// @dev `modelCount` keeps an owner's slot non-zero after its first model, so a
    ///      settlement credit rewrites a live slot instead of creating one (5k vs 20k gas).
    struct Wallet {
        uint128 balance;
        uint64 modelCount;
    }

    mapping(address owner => Wallet) private _wallets;
    mapping(uint256 modelId => address owner) private _modelOwners;
    /// @dev Storage layout of a round, packed so that both slots a stake writes (counters,
    ///      total at risk) are already non-zero after openRound: the round's first stake then
    ///      costs no more than any other. `getRound` returns it as the ABI's `Round`.
    struct RoundState {
        // slot 0
        uint64 resolveTime;
        uint32 stakedCount;
        uint32 closedCount;
        uint32 attempt;
        uint32 leafCount;
        bool settled;
        // slot 1
        uint128 totalAtRisk;
        uint64 closeTime;
        uint64 challengeEnd; // tournament time
        // slot 2
        bytes32 resultsRoot;
        // slot 3, written once by a proposal: payoutFactor <= 1e18 < 2**64, and reserve <=
        // scoredAtRisk <= totalAtRisk <= the token's supply < 2**96 (SafeCast checks both).
        uint64 payoutFactor;
        uint96 reserve;
        uint96 scoredAtRisk;
        // slots 4-7
        uint128 rewardsPaid;
        uint128 burned;
        uint128 closedAmount;
        uint128 scoredSettled; // shares the slot settlement writes anyway (closedAmount)
        Config config;
        // slot 8
        bytes32 liveIdsHash;
    }

    mapping(uint256 roundId => RoundState) private _rounds;
    mapping(uint256 roundId => mapping(uint256 modelId => Stake)) private _stakes;
    /// @dev Bit `modelId % 256` of word `modelId / 256` is set once the stake is settled or refunded.
    mapping(uint256 roundId => mapping(uint256 word => uint256 bits)) private _closedBits;

    /// @param nmrToken the NMR token
    /// @param admin receives DEFAULT_ADMIN_ROLE (a multisig in production)
    /// @param initialConfig the configuration future rounds snapshot
    /// @param burnMethod_ the token's burn entry point: Burn for `burn(uint256)` (OpenZeppelin
    ///        ERC20Burnable, this repository's NMR), LegacyMint for the mainnet NMR's `mint(uint256)`
    constructor(IERC20 nmrToken, address admin, Config memory initialConfig, BurnMethod burnMethod_)
        EIP712("NumeraireTournament", "2")
    {
        if (address(nmrToken) == address(0) || admin == address(0)) revert ZeroAddress();
        nmr = nmrToken;
        burnMethod = burnMethod_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setConfig(initialConfig);
    }

    // =============================================================== admin and roles

    /// @notice Sets the configuration that rounds opened from now on snapshot.
    function setConfig(Config calldata config) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setConfig(config);
    }

    /// @notice Replaces the oracle signer set; bumps `signerSetVersion`.
    /// @param signers distinct non-zero addresses (at most 32)
    /// @param threshold signatures needed, 1..signers.length
    function setSigners(address[] calldata signers, uint8 threshold) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint64 version = _signerSet.update(signers, threshold);
        emit SignersUpdated(version, signers, threshold);
    }

    /// @notice Stops new activity (deposits, stakes, proposals, settlement) and the tournament
    ///         clock: the challenge window and the timeouts stand still until `unpause`, so a
    ///         pause delays outcomes and never changes them. Withdrawals, unstaking, refunds
    ///         already due and vetoes keep working.
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
        _clock.pause();
    }

    /// @notice Resumes activity and the tournament clock.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
        _clock.unpause();
    }

    /// @notice Sends tokens that nobody is owed (donations, tokens sent by mistake) to `to`.
    ///         For NMR only the surplus over `accountedNmr` can leave.
    function recoverSurplus(IERC20 token, address to) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        uint256 held = token.balanceOf(address(this));
        uint256 owed = address(token) == address(nmr) ? accountedNmr : 0;
        if (held <= owed) revert NoSurplus(address(token));
        uint256 amount = held - owed;
        emit SurplusRecovered(address(token), to, amount);
        token.safeTransfer(to, amount);
    }

    // =============================================================== reward pool

    /// @notice Adds `amount` NMR from the caller to the reward pool.
    function fundRewards(uint256 amount) external nonReentrant whenNotPaused {
        if (amount == 0) revert ZeroAmount();
        rewardPool += amount;
        accountedNmr += amount;
        emit RewardsFunded(msg.sender, amount);
        nmr.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Takes `amount` NMR of the unreserved reward pool out to `to`, e.g. to retire
    ///         the pool: without it, funded rewards could never leave. Reserves of proposed
    ///         rounds are not part of the pool and stay untouched; a later proposal that the
    ///         pool can no longer cover fails, and its round is refunded after the timeout.
    function withdrawRewards(uint256 amount, address to) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (amount > rewardPool) revert InsufficientRewardPool(amount, rewardPool);
        rewardPool -= amount;
        accountedNmr -= amount;
        emit RewardsWithdrawn(to, amount);
        nmr.safeTransfer(to, amount);
    }

    // =============================================================== wallet

    /// @notice Moves `amount` NMR from the caller into its tournament wallet (needs allowance).
    function deposit(uint256 amount) external nonReentrant whenNotPaused {
        _deposit(amount);
    }

    /// @notice Deposit with an EIP-2612 permit. A permit that fails (e.g. front-run and
    ///         already used) is ignored, so the deposit still works when the allowance exists.
    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        whenNotPaused
    {
        try IERC20Permit(address(nmr)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _deposit(amount);
    }

    /// @notice Sends `amount` NMR from the caller's wallet back to the caller. Works while paused.
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Wallet storage wallet = _wallets[msg.sender];
        if (wallet.balance < amount) revert InsufficientBalance(msg.sender, wallet.balance, amount);
        wallet.balance -= SafeCast.toUint128(amount);
        accountedNmr -= amount;
        emit Withdrawn(msg.sender, amount);
        nmr.safeTransfer(msg.sender, amount);
    }

    // =============================================================== models

    /// @notice Creates a model owned by the caller.
    /// @param name 1 to 64 bytes; recorded in the ModelCreated event only
    /// @return modelId the new model's sequential id
    function createModel(string calldata name) external whenNotPaused returns (uint256 modelId) {
        uint256 length = bytes(name).length;
        if (length == 0 || length > MAX_MODEL_NAME_LENGTH) revert InvalidModelName(length, MAX_MODEL_NAME_LENGTH);
        modelId = ++lastModelId;
        _modelOwners[modelId] = msg.sender;
        _wallets[msg.sender].modelCount += 1;
        emit ModelCreated(modelId, msg.sender, name);
    }

    // =============================================================== rounds

    /// @notice Opens a round that snapshots the current configuration.
    /// @param roundId the first round: any id in [1, MAX_FIRST_ROUND_ID]; later: lastRoundId + 1
    /// @param closeTime end of staking (unix seconds): now < closeTime <= now + MAX_PERIOD
    /// @param resolveTime when targets are known: closeTime + minResolutionDelay <= resolveTime
    ///        <= closeTime + MAX_PERIOD
    /// @param liveIdsHash keccak256 of the raw bytes of the round's published live_ids.csv
    function openRound(uint256 roundId, uint64 closeTime, uint64 resolveTime, bytes32 liveIdsHash)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
    {
        uint256 last = lastRoundId;
        if (last == 0) {
            if (roundId == 0 || roundId > MAX_FIRST_ROUND_ID) {
                revert InvalidFirstRoundId(roundId, 1, MAX_FIRST_ROUND_ID);
            }
        } else if (roundId != last + 1) {
            revert InvalidRoundId(roundId, last + 1);
        }
        Config memory config = _config;
        if (
            closeTime <= block.timestamp || closeTime > block.timestamp + MAX_PERIOD
                || resolveTime < uint256(closeTime) + config.minResolutionDelay
                || resolveTime > uint256(closeTime) + MAX_PERIOD
        ) {
            revert InvalidRoundTimes(closeTime, resolveTime, block.timestamp, config.minResolutionDelay, MAX_PERIOD);
        }
        if (liveIdsHash == bytes32(0)) revert EmptyLiveIdsHash();
        lastRoundId = roundId;
        RoundState storage round = _rounds[roundId];
        round.closeTime = closeTime;
        round.resolveTime = resolveTime;
        Config storage snapshot = round.config;
        assembly ("memory-safe") {
            let from := _config.slot
            let to := snapshot.slot
            sstore(to, sload(from))
            sstore(add(to, 1), sload(add(from, 1)))
        }
        round.liveIdsHash = liveIdsHash;
        emit RoundOpened(roundId, closeTime, resolveTime, liveIdsHash, config);
    }

    // =============================================================== stakes

    /// @notice Raises the stake of (round, model) by `amount` from the owner's wallet and sets
    ///         its multipliers and submission commitment. Only while the round is Open.
    /// @param amount wei added (0 only changes multipliers and hash of an existing stake)
    /// @param corrMult corr multiplier in hundredths, within the round's bounds
    /// @param mmcMult mmc multiplier in hundredths, within the round's bounds
    /// @param submissionHash keccak256 of the raw bytes of the predictions file
    function stake(
        uint256 roundId,
        uint256 modelId,
        uint256 amount,
        uint16 corrMult,
        uint16 mmcMult,
        bytes32 submissionHash
    ) external nonReentrant whenNotPaused {
        RoundState storage round = _openRound(roundId);
        address owner = _requireModelOwner(modelId);
        Config storage config = round.config;
        if (corrMult < config.corrMultMin || corrMult > config.corrMultMax) {
            revert MultiplierOutOfBounds("corr", corrMult, config.corrMultMin, config.corrMultMax);
        }
        if (mmcMult < config.mmcMultMin || mmcMult > config.mmcMultMax) {
            revert MultiplierOutOfBounds("mmc", mmcMult, config.mmcMultMin, config.mmcMultMax);
        }
        if (submissionHash == bytes32(0)) revert EmptySubmissionHash();

        Stake storage position = _stakes[roundId][modelId];
        uint256 previous = position.amount;
        uint256 total = previous + amount;
        if (total < config.minStake) revert StakeBelowMinimum(total, config.minStake);
        Wallet storage wallet = _wallets[owner];
        if (wallet.balance < amount) revert InsufficientBalance(owner, wallet.balance, amount);

        wallet.balance -= SafeCast.toUint128(amount);
        if (previous == 0) round.stakedCount += 1;
        round.totalAtRisk += SafeCast.toUint128(amount);
        _stakes[roundId][modelId] = Stake(SafeCast.toUint96(total), corrMult, mmcMult);
        emit StakeChanged(roundId, modelId, owner, total, corrMult, mmcMult, submissionHash);
    }

    /// @notice Lowers the stake of (round, model) by `amount` back to the owner's wallet.
    ///         Only while the round is Open; works while paused. Unstaking everything removes
    ///         the stake; what remains must otherwise be at least the round's minStake.
    function unstake(uint256 roundId, uint256 modelId, uint256 amount) external nonReentrant {
        RoundState storage round = _openRound(roundId);
        address owner = _requireModelOwner(modelId);
        if (amount == 0) revert ZeroAmount();
        Stake storage position = _stakes[roundId][modelId];
        uint256 previous = position.amount;
        if (amount > previous) revert InsufficientStake(previous, amount);
        uint256 total = previous - amount;
        uint256 minStake = round.config.minStake;
        if (total != 0 && total < minStake) revert StakeBelowMinimum(total, minStake);

        round.totalAtRisk -= SafeCast.toUint128(amount);
        _wallets[owner].balance += SafeCast.toUint128(amount);
        uint16 corrMult = position.corrMult;
        uint16 mmcMult = position.mmcMult;
        if (total == 0) {
            round.stakedCount -= 1;
            delete _stakes[roundId][modelId];
        } else {
            position.amount = SafeCast.toUint96(total);
        }
        emit StakeChanged(roundId, modelId, owner, total, corrMult, mmcMult, bytes32(0));
    }

    // =============================================================== results

    /// @notice Proposes the round's results, signed m-of-n by the oracle signers; starts the
    ///         challenge window (challengePeriod seconds of tournament time) and reserves the
    ///         most the round could pay from the pool: scoredAtRisk * clipBps / 10_000.
    /// @param results the signed EIP-712 struct: roundId; attempt (the round's current one,
    ///        bumped by each veto); resultsRoot (StandardMerkleTree root of the leaves);
    ///        leafCount (must equal the staked count); scoredAtRisk (the stakes at close of the
    ///        SCORED leaves, at most totalAtRisk; the payout factor and the reserve derive from
    ///        it, and settlement never settles SCORED stakes above it); artifactsHash
    ///        (keccak256 of the published manifest.json); signerSetVersion (the current one)
    /// @param signatures 65-byte signatures, by distinct signers in ascending address order
    function proposeResults(Results calldata results, bytes[] calldata signatures)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
    {
        uint256 roundId = results.roundId;
        RoundState storage round = _rounds[roundId];
        _requirePhase(roundId, Phase.Resolvable);
        if (results.attempt != round.attempt) revert WrongAttempt(roundId, round.attempt, results.attempt);
        if (results.signerSetVersion != _signerSet.version) {
            revert StaleSignerSet(_signerSet.version, results.signerSetVersion);
        }
        if (results.leafCount != round.stakedCount) {
            revert LeafCountMismatch(roundId, round.stakedCount, results.leafCount);
        }
        if (results.resultsRoot == bytes32(0)) revert EmptyResultsRoot();
        if (results.scoredAtRisk > round.totalAtRisk) {
            revert ScoredAtRiskAboveTotal(roundId, results.scoredAtRisk, round.totalAtRisk);
        }
        _signerSet.verify(_resultsDigest(results), signatures);

        _recordProposal(results, round);
    }

    /// @dev Reserves the round's maximum reward from the pool and stores the proposal.
    function _recordProposal(Results calldata results, RoundState storage round) private {
        uint256 scoredAtRisk = results.scoredAtRisk;
        uint256 reserve = (scoredAtRisk * round.config.clipBps) / 10_000;
        if (reserve > rewardPool) revert InsufficientRewardPool(reserve, rewardPool);
        uint256 factor = PayoutMath.payoutFactor(scoredAtRisk, round.config.stakeThreshold);
        // Not paused here (whenNotPaused), so the tournament clock is running.
        uint64 challengeEnd = SafeCast.toUint64(_clock.now_() + round.config.challengePeriod);

        rewardPool -= reserve;
        round.reserve = SafeCast.toUint96(reserve);
        round.payoutFactor = SafeCast.toUint64(factor);
        round.scoredAtRisk = SafeCast.toUint96(scoredAtRisk);
        round.resultsRoot = results.resultsRoot;
        round.leafCount = results.leafCount;
        round.challengeEnd = challengeEnd;
        emit ResultsProposed(
            results.roundId,
            results.attempt,
            results.resultsRoot,
            results.artifactsHash,
            results.leafCount,
            results.scoredAtRisk,
            factor,
            reserve,
            challengeEnd,
            results.signerSetVersion
        );
    }

    /// @notice Rejects proposed results during the challenge window. The round becomes
    ///         Resolvable again with `attempt + 1`, so the vetoed signatures cannot be replayed.
    ///         Works while paused (the window stands still then, so it stays open).
    function veto(uint256 roundId, string calldata reason) external onlyRole(GUARDIAN_ROLE) {
        RoundState storage round = _rounds[roundId];
        _requirePhase(roundId, Phase.Proposed);
        uint32 vetoed = round.attempt;
        rewardPool += round.reserve;
        round.reserve = 0;
        round.payoutFactor = 0;
        round.resultsRoot = bytes32(0);
        round.leafCount = 0;
        round.challengeEnd = 0;
        round.scoredAtRisk = 0;
        round.attempt = vetoed + 1;
        emit ResultsVetoed(roundId, vetoed, msg.sender, reason);
    }

    // =============================================================== settlement

    /// @notice Settles a batch of stakes of an Accepted round against its results root.
    ///         Anyone may call it. Leaves already settled or refunded are skipped, so
    ///         overlapping batches never pay twice (a batch for a round already Settled does
    ///         nothing). Burns of the batch are summed.
    /// @param leaves the batch, in the order of the multiproof
    /// @param proof, proofFlags an OpenZeppelin multiproof of `leaves` against the root
    /// @dev Reverts if the SCORED stakes settled in the round would sum above the signed
    ///      scoredAtRisk (the payout factor and the reserve were computed from it).
    function settle(uint256 roundId, Leaf[] calldata leaves, bytes32[] calldata proof, bool[] calldata proofFlags)
        external
        nonReentrant
        whenNotPaused
    {
        RoundState storage round = _rounds[roundId];
        // A keeper whose batch lands after the last one (two keepers racing) gets a no-op,
        // not a revert: every stake of a Settled round is already closed.
        if (round.settled) return;
        _requirePhase(roundId, Phase.Accepted);
        uint256 count = leaves.length;
        bytes32[] memory hashes = new bytes32[](count);
        for (uint256 i = 0; i < count; ++i) {
            hashes[i] = _leafHash(roundId, leaves[i]);
        }
        if (!MerkleProof.multiProofVerifyCalldata(proof, proofFlags, round.resultsRoot, hashes)) {
            revert InvalidProof(roundId);
        }

        BatchTotals memory totals;
        uint256 factor = round.payoutFactor;
        uint16 clipBps = round.config.clipBps;
        for (uint256 i = 0; i < count; ++i) {
            _settleLeaf(roundId, leaves[i], factor, clipBps, totals);
        }
        uint256 scoredSettled = round.scoredSettled + totals.scored;
        if (scoredSettled > round.scoredAtRisk) {
            revert ScoredSettledAboveSigned(roundId, scoredSettled, round.scoredAtRisk);
        }
        if (totals.rewards > round.reserve) revert RewardsExceedReserve(roundId, totals.rewards, round.reserve);
        round.reserve -= SafeCast.toUint96(totals.rewards);
        round.rewardsPaid += SafeCast.toUint128(totals.rewards);
        round.burned += SafeCast.toUint128(totals.burned);
        round.scoredSettled = SafeCast.toUint128(scoredSettled);
        accountedNmr -= totals.burned;
        _recordClosed(roundId, round, totals.count, totals.amount);
        if (totals.burned > 0) _burn(totals.burned);
    }

    /// @dev Running sums of one settlement batch.
    struct BatchTotals {
        uint256 count;
        uint256 amount;
        uint256 scored;
        uint256 rewards;
        uint256 burned;
    }

    /// @dev Burns `amount` of the tournament's NMR through the entry point fixed at deployment.
    function _burn(uint256 amount) private {
        if (burnMethod == BurnMethod.Burn) {
            IBurnable(address(nmr)).burn(amount);
        } else if (!ILegacyBurnable(address(nmr)).mint(amount)) {
            revert BurnFailed(amount);
        }
    }

    /// @dev Settles one verified leaf into the owner's wallet; skips a stake closed before.
    function _settleLeaf(uint256 roundId, Leaf calldata leaf, uint256 factor, uint16 clipBps, BatchTotals memory totals)
        private
    {
        uint256 modelId = leaf.modelId;
        if (!_markClosed(roundId, modelId)) return;
        // Everything this leaf allocates (the stake copy, the event data) is dead at the end:
        // give the memory back so a large batch does not pay quadratic memory expansion.
        uint256 freeMemory;
        assembly ("memory-safe") {
            freeMemory := mload(0x40)
        }
        Stake memory position = _stakes[roundId][modelId];
        if (position.amount == 0) revert NoStake(roundId, modelId);
        int256 payout;
        if (leaf.status == STATUS_SCORED) {
            payout = PayoutMath.payout(
                position.amount, leaf.corr, leaf.mmc, position.corrMult, position.mmcMult, factor, clipBps
            );
            totals.scored += position.amount;
        }
        // |payout| <= stake * clipBps / 10_000 <= stake, so the credit is never negative.
        address owner = _modelOwners[modelId];
        _wallets[owner].balance += SafeCast.toUint128(uint256(int256(uint256(position.amount)) + payout));
        totals.count += 1;
        totals.amount += position.amount;
        if (payout > 0) totals.rewards += uint256(payout);
        else totals.burned += uint256(-payout);
        emit StakeSettled(
            roundId,
            modelId,
            owner,
            position.amount,
            leaf.status,
            leaf.corr,
            leaf.mmc,
            payout,
            payout < 0 ? uint256(-payout) : 0
        );
        assembly ("memory-safe") {
            mstore(0x40, freeMemory)
        }
    }

    /// @notice Refunds stakes in full, no burn and no reward, when the oracle failed: the
    ///         round is Refunding (no results resultsTimeout unpaused seconds after resolveTime),
    ///         or results were accepted but these stakes are still unsettled settleTimeout
    ///         unpaused seconds after acceptance. Anyone may call it; works while paused for
    ///         refunds already due (the clock stands still, so none becomes due while paused).
    ///         Stakes already closed are skipped.
    function refund(uint256 roundId, uint256[] calldata modelIds) external nonReentrant {
        RoundState storage round = _rounds[roundId];
        Phase current = phase(roundId);
        uint256 refundableAt_ = _refundableAt(round);
        if (!(current == Phase.Refunding || (current == Phase.Accepted && _clock.now_() >= refundableAt_))) {
            revert RefundNotAvailable(roundId, current, refundableAt_);
        }
        uint256 closedCount;
        uint256 closedAmount;
        for (uint256 i = 0; i < modelIds.length; ++i) {
            uint256 modelId = modelIds[i];
            uint256 amount = _stakes[roundId][modelId].amount;
            if (amount == 0) revert NoStake(roundId, modelId);
            if (!_markClosed(roundId, modelId)) continue;
            address owner = _modelOwners[modelId];
            _wallets[owner].balance += SafeCast.toUint128(amount);
            closedCount += 1;
            closedAmount += amount;
            emit StakeRefunded(roundId, modelId, owner, amount);
        }
        _recordClosed(roundId, round, closedCount, closedAmount);
    }

    // =============================================================== views

    /// @notice The protocol's payout for a SCORED stake, exactly as settlement computes it.
    /// @return payoutWei signed: positive reward, negative burn
    function computePayout(
        uint256 stakeWei,
        int64 corrNanos,
        int64 mmcNanos,
        uint16 corrMult,
        uint16 mmcMult,
        uint256 payoutFactorWei,
        uint16 clipBps
    ) external pure returns (int256 payoutWei) {
        return PayoutMath.payout(stakeWei, corrNanos, mmcNanos, corrMult, mmcMult, payoutFactorWei, clipBps);
    }

    /// @notice The payout factor (1e18) for a round's scored stake at risk and stake threshold.
    function payoutFactor(uint256 scoredAtRiskWei, uint256 stakeThresholdWei) external pure returns (uint256) {
        return PayoutMath.payoutFactor(scoredAtRiskWei, stakeThresholdWei);
    }

    /// @notice The leaf hash the results tree uses for `leaf`.
    function leafHash(Leaf calldata leaf) external pure returns (bytes32) {
        // The plain Solidity form of `_hashLeaf`, so tests can check one against the other.
        return keccak256(
            bytes.concat(keccak256(abi.encode(leaf.roundId, leaf.modelId, leaf.status, leaf.corr, leaf.mmc)))
        );
    }

    /// @notice The EIP-712 digest the signers sign for these results.
    function resultsDigest(Results calldata results) external view returns (bytes32) {
        return _resultsDigest(results);
    }

    /// @notice The EIP-712 digest the submission service signs for an upload receipt.
    function receiptDigest(UploadReceipt calldata receipt) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    RECEIPT_TYPEHASH, receipt.roundId, receipt.modelId, receipt.submissionHash, receipt.receivedAt
                )
            )
        );
    }

    /// @notice Whether `signature` over `receipt` is by a current RECEIPT_ROLE holder, under the
    ///         same rules as results signatures (65 bytes, low s, v in {27, 28}).
    /// @return valid true when the signature is well-formed and its signer holds RECEIPT_ROLE now
    /// @return signer the recovered address (zero when the signature is malformed or malleable)
    function isValidReceipt(UploadReceipt calldata receipt, bytes calldata signature)
        external
        view
        returns (bool valid, address signer)
    {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(receiptDigest(receipt), signature);
        if (err != ECDSA.RecoverError.NoError) return (false, address(0));
        return (hasRole(RECEIPT_ROLE, recovered), recovered);
    }

    /// @notice The phase of a round, derived from time and state. The challenge window and
    ///         the timeouts are measured on the tournament clock (see `tournamentTime`).
    function phase(uint256 roundId) public view returns (Phase) {
        RoundState storage round = _rounds[roundId];
        uint256 closeTime = round.closeTime;
        if (closeTime == 0) return Phase.None;
        if (round.settled) return Phase.Settled;
        if (block.timestamp < closeTime) return Phase.Open;
        // Nothing was staked: nothing to resolve.
        if (round.stakedCount == 0) return Phase.Settled;
        if (round.resultsRoot != bytes32(0)) {
            // The settlement path: one more slot read (the clock), no search.
            return _clock.now_() < round.challengeEnd ? Phase.Proposed : Phase.Accepted;
        }
        uint256 resolveTime = round.resolveTime;
        if (block.timestamp < resolveTime) return Phase.Closed;
        if (_clock.now_() >= _clock.at(resolveTime) + round.config.resultsTimeout) return Phase.Refunding;
        return Phase.Resolvable;
    }

    /// @notice A round's full state (configuration snapshot included).
    function getRound(uint256 roundId) external view returns (Round memory) {
        RoundState storage r = _rounds[roundId];
        return Round({
            closeTime: r.closeTime,
            resolveTime: r.resolveTime,
            stakedCount: r.stakedCount,
            closedCount: r.closedCount,
            attempt: r.attempt,
            leafCount: r.leafCount,
            totalAtRisk: r.totalAtRisk,
            challengeEnd: r.challengeEnd,
            settled: r.settled,
            resultsRoot: r.resultsRoot,
            payoutFactor: r.payoutFactor,
            reserve: r.reserve,
            rewardsPaid: r.rewardsPaid,
            burned: r.burned,
            closedAmount: r.closedAmount,
            config: r.config,
            scoredAtRisk: r.scoredAtRisk,
            scoredSettled: r.scoredSettled,
            liveIdsHash: r.liveIdsHash
        });
    }

    /// @notice The stake of (round, model) and whether it was settled or refunded.
    function getStake(uint256 roundId, uint256 modelId) external view returns (Stake memory position, bool closed) {
        position = _stakes[roundId][modelId];
        closed = _isClosed(roundId, modelId);
    }

    /// @notice The stakes of (round, modelIds[i]) and whether each was settled or refunded, in
    ///         one call (readers page a few thousand ids per eth_call). Unknown ids read as zero.
    function getStakes(uint256 roundId, uint256[] calldata modelIds)
        external
        view
        returns (Stake[] memory positions, bool[] memory closed)
    {
        uint256 count = modelIds.length;
        positions = new Stake[](count);
        closed = new bool[](count);
        mapping(uint256 => Stake) storage stakes = _stakes[roundId];
        for (uint256 i = 0; i < count; ++i) {
            uint256 modelId = modelIds[i];
            positions[i] = stakes[modelId];
            closed[i] = _isClosed(roundId, modelId);
        }
    }

    /// @notice Whether the stake of (round, model) was settled or refunded.
    function isStakeClosed(uint256 roundId, uint256 modelId) external view returns (bool) {
        return _isClosed(roundId, modelId);
    }

    /// @notice Free NMR in an owner's tournament wallet.
    function balanceOf(address owner) external view returns (uint256) {
        return _wallets[owner].balance;
    }

    /// @notice Number of models an owner created.
    function modelCountOf(address owner) external view returns (uint256) {
        return _wallets[owner].modelCount;
    }

    /// @notice The owner of a model (zero if unknown).
    function modelOwner(uint256 modelId) external view returns (address) {
        return _modelOwners[modelId];
    }

    /// @notice The configuration new rounds will snapshot.
    function config() external view returns (Config memory) {
        return _config;
    }

    /// @notice The current signer set.
    function signerSet() external view returns (address[] memory signers, uint8 threshold, uint64 version) {
        return (_signerSet.signers, _signerSet.threshold, _signerSet.version);
    }

    /// @notice The current signer set's version (part of the signed struct).
    function signerSetVersion() external view returns (uint64) {
        return _signerSet.version;
    }

    /// @notice The tournament clock: unix seconds minus every second the tournament spent
    ///         paused. It stands still while paused. Compare `challengeEnd`, `refundableAt`
    ///         and `resultsDeadline` with it, never with the wall clock.
    function tournamentTime() external view returns (uint64) {
        return SafeCast.toUint64(_clock.now_());
    }

    /// @notice The tournament time from which a round with no results proposed is Refunding:
    ///         the tournament time at its resolveTime + resultsTimeout (a projection while
    ///         resolveTime is in the future). 0 for an unknown round.
    function resultsDeadline(uint256 roundId) external view returns (uint256) {
        RoundState storage round = _rounds[roundId];
        if (round.closeTime == 0) return 0;
        return _clock.at(round.resolveTime) + round.config.resultsTimeout;
    }

    /// @notice The tournament time from which unsettled stakes of an accepted round are
    ///         refundable: challengeEnd + settleTimeout (0 while no results are proposed).
    ///         While the tournament runs, the wall time is `refundableAt - tournamentTime() + now`.
    function refundableAt(uint256 roundId) external view returns (uint256) {
        return _refundableAt(_rounds[roundId]);
    }

    // =============================================================== internal

    function _resultsDigest(Results calldata results) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    RESULTS_TYPEHASH,
                    results.roundId,
                    results.attempt,
                    results.resultsRoot,
                    results.leafCount,
                    results.scoredAtRisk,
                    results.artifactsHash,
                    results.signerSetVersion
                )
            )
        );
    }

    function _deposit(uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        _wallets[msg.sender].balance += SafeCast.toUint128(amount);
        accountedNmr += amount;
        emit Deposited(msg.sender, amount);
        nmr.safeTransferFrom(msg.sender, address(this), amount);
    }

    function _setConfig(Config memory config) private {
        if (config.corrMultMin > config.corrMultMax || config.corrMultMax > MAX_MULTIPLIER) {
            revert InvalidConfig("corrMult");
        }
        if (config.mmcMultMin > config.mmcMultMax || config.mmcMultMax > MAX_MULTIPLIER) {
            revert InvalidConfig("mmcMult");
        }
        if (config.clipBps > MAX_CLIP_BPS) revert InvalidConfig("clipBps");
        if (config.challengePeriod < 1 hours || config.challengePeriod > 30 days) {
            revert InvalidConfig("challengePeriod");
        }
        if (config.resultsTimeout < MIN_TIMEOUT || config.resultsTimeout > MAX_PERIOD) {
            revert InvalidConfig("resultsTimeout");
        }
        if (config.settleTimeout < MIN_TIMEOUT || config.settleTimeout > MAX_PERIOD) {
            revert InvalidConfig("settleTimeout");
        }
        if (config.minResolutionDelay > MAX_PERIOD) revert InvalidConfig("minResolutionDelay");
        if (config.stakeThreshold == 0) revert InvalidConfig("stakeThreshold");
        if (config.minStake == 0) revert InvalidConfig("minStake");
        _config = config;
        emit ConfigUpdated(config);
    }

    function _openRound(uint256 roundId) private view returns (RoundState storage round) {
        round = _rounds[roundId];
        if (round.closeTime == 0) revert UnknownRound(roundId);
        if (block.timestamp >= round.closeTime) revert RoundNotOpen(roundId, round.closeTime, block.timestamp);
    }

    function _requirePhase(uint256 roundId, Phase expected) private view {
        Phase actual = phase(roundId);
        if (actual != expected) {
            if (actual == Phase.None) revert UnknownRound(roundId);
            revert WrongPhase(roundId, expected, actual);
        }
    }

    function _requireModelOwner(uint256 modelId) private view returns (address owner) {
        owner = _modelOwners[modelId];
        if (owner == address(0)) revert UnknownModel(modelId);
        if (owner != msg.sender) revert NotModelOwner(modelId, owner, msg.sender);
    }

    function _leafHash(uint256 roundId, Leaf calldata leaf) private pure returns (bytes32) {
        if (leaf.roundId != roundId) revert LeafRoundMismatch(roundId, leaf.roundId, leaf.modelId);
        if (leaf.status == STATUS_SCORED) {
            if (
                leaf.corr > MAX_SCORE_NANOS || leaf.corr < -MAX_SCORE_NANOS || leaf.mmc > MAX_SCORE_NANOS
                    || leaf.mmc < -MAX_SCORE_NANOS
            ) revert InvalidScore(leaf.modelId, leaf.corr, leaf.mmc);
        } else if (leaf.status == STATUS_INVALID) {
            if (leaf.corr != 0 || leaf.mmc != 0) revert InvalidScore(leaf.modelId, leaf.corr, leaf.mmc);
        } else {
            revert InvalidLeafStatus(leaf.modelId, leaf.status);
        }
        return _hashLeaf(leaf);
    }

    /// @dev OpenZeppelin StandardMerkleTree leaf: keccak256(bytes.concat(keccak256(abi.encode(...)))).
    ///      The five static fields sit in calldata exactly as abi.encode lays them out (and
    ///      `_leafHash` has read, so validated, each of them), so they are hashed in place from
    ///      scratch memory: no allocation per leaf, whose quadratic memory cost would grow with
    ///      the batch.
    function _hashLeaf(Leaf calldata leaf) private pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, leaf, 0xa0)
            mstore(0x00, keccak256(ptr, 0xa0))
            hash := keccak256(0x00, 0x20)
        }
    }

    /// @dev Sets the closed bit; false if it was already set.
    function _markClosed(uint256 roundId, uint256 modelId) private returns (bool) {
        uint256 word = modelId >> 8;
        uint256 mask = 1 << (modelId & 0xff);
        uint256 bits = _closedBits[roundId][word];
        if (bits & mask != 0) return false;
        _closedBits[roundId][word] = bits | mask;
        return true;
    }

    function _isClosed(uint256 roundId, uint256 modelId) private view returns (bool) {
        return _closedBits[roundId][modelId >> 8] & (1 << (modelId & 0xff)) != 0;
    }

    /// @dev Counts closed stakes; when the last one closes, releases the unpaid reserve.
    function _recordClosed(uint256 roundId, RoundState storage round, uint256 count, uint256 amount) private {
        if (count == 0) return;
        round.closedCount += SafeCast.toUint32(count);
        round.closedAmount += SafeCast.toUint128(amount);
        if (round.closedCount == round.stakedCount) {
            uint256 released = round.reserve;
            round.reserve = 0;
            round.settled = true;
            rewardPool += released;
            emit RoundSettled(roundId, round.rewardsPaid, round.burned, released);
        }
    }

    function _refundableAt(RoundState storage round) private view returns (uint256) {
        if (round.challengeEnd == 0) return 0;
        return uint256(round.challengeEnd) + round.config.settleTimeout;
    }
}
