// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title ReferencePayouts
/// @notice Benchmark-only reference patterns that settlement is compared against in the same
///         run: a plain ERC-20 push loop (no proof, no event) and a Uniswap-style Merkle claim
///         (one proof and one transfer per recipient). Never deployed outside `make bench`.
contract ReferencePayouts {
    using SafeERC20 for IERC20;

    IERC20 public immutable token;
    bytes32 public immutable merkleRoot;
    mapping(uint256 word => uint256 bits) private _claimed;

    error AlreadyClaimed(uint256 index);
    error InvalidClaimProof(uint256 index);

    constructor(IERC20 token_, bytes32 merkleRoot_) {
        token = token_;
        merkleRoot = merkleRoot_;
    }

    /// @notice Pushes `amounts[i]` to `recipients[i]` from this contract's balance.
    function push(address[] calldata recipients, uint256[] calldata amounts) external {
        for (uint256 i = 0; i < recipients.length; ++i) {
            token.safeTransfer(recipients[i], amounts[i]);
        }
    }

    /// @notice Merkle-distributor claim of leaf (index, account, amount).
    function claim(uint256 index, address account, uint256 amount, bytes32[] calldata proof) external {
        uint256 word = index >> 8;
        uint256 mask = 1 << (index & 0xff);
        if (_claimed[word] & mask != 0) revert AlreadyClaimed(index);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, merkleRoot, leaf)) revert InvalidClaimProof(index);
        _claimed[word] |= mask;
        token.safeTransfer(account, amount);
    }
}
