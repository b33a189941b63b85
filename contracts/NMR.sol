// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title Numeraire (NMR)
/// @notice The tournament's staking token: a fixed supply of 11,000,000 NMR minted once, at
///         deployment, to a treasury. There is no mint afterwards; supply only falls, by burns.
///         EIP-2612 `permit` lets a participant deposit in one transaction.
contract NMR is ERC20, ERC20Burnable, ERC20Permit {
    /// @notice The whole supply, in wei (18 decimals).
    uint256 public constant TOTAL_SUPPLY_WEI = 11_000_000 ether;

    /// @param treasury receives the whole supply
    constructor(address treasury) ERC20("Numeraire", "NMR") ERC20Permit("Numeraire") {
        _mint(treasury, TOTAL_SUPPLY_WEI);
    }
}
