// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title LegacyNMR
/// @notice Test-only stand-in for the NMR token deployed on Ethereum mainnet
///         (0x1776e1F26f98b1A5dF9cD347953a26dd3Cb46671, Solidity 0.4, NumeraireBackend with the
///         NumeraireDelegateV3 logic), reproducing its documented interface and behaviour in
///         0.8, so the tournament's LegacyMint burn method and the clients' allowance handling
///         are tested against the interface they meet on mainnet:
///         - name "Numeraire", symbol "NMR", `decimals` 18 (a uint256 getter, as the original);
///           the supply is fixed at deployment, minted to a treasury;
///         - `transfer` / `transferFrom` return true and revert on failure;
///         - `approve` only from or to a zero allowance, otherwise it reverts with no reason
///           (the original's bare `require`); `changeApproval(spender, oldValue, newValue)`
///           changes a non-zero allowance when `oldValue` is the current one;
///         - `mint(value)` BURNS `value` of the caller's tokens (Transfer to the zero address);
///         - `numeraiTransfer(from, value)` burns `value` of `from`'s tokens through the
///           caller's allowance (Approval with the new allowance, then Transfer to zero);
///         - no `permit`, no `burn`, no `burnFrom`, no `nonces`, no fallback.
///         Failures revert without a reason string or custom error, like the original.
contract LegacyNMR {
    string public constant name = "Numeraire";
    string public constant symbol = "NMR";
    uint256 public constant decimals = 18;

    uint256 public totalSupply;
    mapping(address owner => uint256) public balanceOf;
    mapping(address owner => mapping(address spender => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @param treasury receives the whole supply
    /// @param supply the fixed supply in wei
    constructor(address treasury, uint256 supply) {
        totalSupply = supply;
        balanceOf[treasury] = supply;
        emit Transfer(address(0), treasury, supply);
    }

    function transfer(address to, uint256 value) external returns (bool ok) {
        _move(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool ok) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value);
        allowance[from][msg.sender] = allowed - value;
        _move(from, to, value);
        return true;
    }

    /// @notice Sets an allowance only from zero or to zero (the original's race-condition guard).
    function approve(address spender, uint256 value) external returns (bool ok) {
        require(allowance[msg.sender][spender] == 0 || value == 0);
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @notice Changes an allowance from `oldValue` (which must be the current one) to `newValue`.
    function changeApproval(address spender, uint256 oldValue, uint256 newValue) external returns (bool ok) {
        require(allowance[msg.sender][spender] == oldValue);
        allowance[msg.sender][spender] = newValue;
        emit Approval(msg.sender, spender, newValue);
        return true;
    }

    /// @notice Burns `value` of the caller's tokens (the name is historical: it once minted).
    function mint(uint256 value) external returns (bool ok) {
        _burn(msg.sender, value);
        return true;
    }

    /// @notice Burns `value` of `from`'s tokens through the caller's allowance (burnFrom).
    function numeraiTransfer(address from, uint256 value) external returns (bool ok) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value);
        allowance[from][msg.sender] = allowed - value;
        emit Approval(from, msg.sender, allowed - value);
        _burn(from, value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        require(to != address(0));
        uint256 balance = balanceOf[from];
        require(balance >= value);
        balanceOf[from] = balance - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }

    function _burn(address account, uint256 value) private {
        require(account != address(0));
        uint256 balance = balanceOf[account];
        require(balance >= value);
        balanceOf[account] = balance - value;
        totalSupply -= value;
        emit Transfer(account, address(0), value);
    }
}
