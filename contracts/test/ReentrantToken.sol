// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";

/// @title ReentrantToken
/// @notice Test-only hostile ERC-20: once armed, the next balance change calls `target` with
///         `payload` (e.g. the tournament's `withdraw`) and bubbles up a revert, so a test can
///         prove the tournament's reentrancy guard stops a token that calls back into it.
contract ReentrantToken is ERC20, ERC20Burnable {
    address public target;
    bytes public payload;
    bool public armed;

    constructor(address treasury, uint256 supply) ERC20("Hostile", "HOST") {
        _mint(treasury, supply);
    }

    /// @notice Arms the callback for the next transfer, mint or burn.
    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
        armed = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (armed) {
            armed = false;
            (bool ok, bytes memory ret) = target.call(payload);
            if (!ok) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
    }
}
