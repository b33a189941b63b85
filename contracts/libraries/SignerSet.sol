// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title SignerSet
/// @notice The oracle's m-of-n signer set, versioned. Rotating bumps the version, which is part
///         of the signed struct, so signatures made for an older set can never be replayed.
///         Membership is `memberVersion[signer] == version`: rotation writes only the new set.
library SignerSet {
    /// @dev Upper bound on the set size keeps proposal gas bounded.
    uint256 internal constant MAX_SIGNERS = 32;

    struct Data {
        uint64 version;
        uint8 threshold;
        address[] signers;
        mapping(address signer => uint64 version) memberVersion;
    }

    error InvalidSignerSet(uint256 signerCount, uint256 threshold);
    error InvalidSigner(address signer);
    error DuplicateSignerInSet(address signer);
    error NotEnoughSignatures(uint256 provided, uint256 threshold);
    error InvalidSignature(uint256 index);
    error DuplicateSigner(uint256 index, address signer);
    error SignersNotAscending(uint256 index, address signer, address previous);
    error NotASigner(uint256 index, address recovered);

    /// @dev Replaces the set and bumps the version; returns the new version.
    function update(Data storage self, address[] calldata signers, uint8 threshold) internal returns (uint64) {
        if (threshold == 0 || threshold > signers.length || signers.length > MAX_SIGNERS) {
            revert InvalidSignerSet(signers.length, threshold);
        }
        uint64 newVersion = self.version + 1;
        for (uint256 i = 0; i < signers.length; ++i) {
            address signer = signers[i];
            if (signer == address(0)) revert InvalidSigner(signer);
            if (self.memberVersion[signer] == newVersion) revert DuplicateSignerInSet(signer);
            self.memberVersion[signer] = newVersion;
        }
        self.version = newVersion;
        self.threshold = threshold;
        self.signers = signers;
        return newVersion;
    }

    /// @dev Reverts unless `signatures` holds at least `threshold` valid, non-malleable
    ///      signatures of `digest` by distinct current signers in strictly ascending order.
    function verify(Data storage self, bytes32 digest, bytes[] calldata signatures) internal view {
        uint256 threshold = self.threshold;
        if (signatures.length < threshold) revert NotEnoughSignatures(signatures.length, threshold);
        uint64 version = self.version;
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; ++i) {
            // tryRecover rejects high-s (malleable) signatures and bad lengths.
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (recovered == previous) revert DuplicateSigner(i, recovered);
            if (recovered < previous) revert SignersNotAscending(i, recovered, previous);
            if (self.memberVersion[recovered] != version) revert NotASigner(i, recovered);
            previous = recovered;
        }
    }
}
