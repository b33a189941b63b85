// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockERC20
/// @notice Test-only token: anyone may mint. Stands in for a foreign token sent to the
///         tournament by mistake (recoverSurplus tests).
contract MockERC20 is ERC20 {
    constructor() ERC20("Mock", "MOCK") {}

    /// @notice Mints `amount` to `to` (test helper, no access control).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
