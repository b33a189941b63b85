// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {ITournament} from "../interfaces/ITournament.sol";

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

    // Its errors are declared in ITournament, so the tournament's interface lists them.

    /// @dev Replaces the set and bumps the version; returns the new version.
    function update(Data storage self, address[] calldata signers, uint8 threshold) internal returns (uint64) {
        if (threshold == 0 || threshold > signers.length || signers.length > MAX_SIGNERS) {
            revert ITournament.InvalidSignerSet(signers.length, threshold);
        }
        uint64 newVersion = self.version + 1;
        for (uint256 i = 0; i < signers.length; ++i) {
            address signer = signers[i];
            if (signer == address(0)) revert ITournament.InvalidSigner(signer);
            if (self.memberVersion[signer] == newVersion) revert ITournament.DuplicateSignerInSet(signer);
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
        if (signatures.length < threshold) revert ITournament.NotEnoughSignatures(signatures.length, threshold);
        uint64 version = self.version;
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; ++i) {
            // tryRecover rejects high-s (malleable) signatures and bad lengths.
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) revert ITournament.InvalidSignature(i);
            if (recovered == previous) revert ITournament.DuplicateSigner(i, recovered);
            if (recovered < previous) revert ITournament.SignersNotAscending(i, recovered, previous);
            if (self.memberVersion[recovered] != version) revert ITournament.NotASigner(i, recovered);
            previous = recovered;
        }
    }
}
