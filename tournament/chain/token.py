"""What the NMR token can do, detected on the chain: EIP-2612 permit, and how to raise an allowance.

This repository's NMR is an OpenZeppelin ERC-20 with `permit`, and `approve` works from any
allowance. The NMR on Ethereum mainnet (0x1776e1F26f98b1A5dF9cD347953a26dd3Cb46671, Solidity
0.4) has no `permit`, and its `approve` only goes from or to a zero allowance; a non-zero
allowance is changed with `changeApproval(spender, oldValue, newValue)`. Neither token says
what it supports (no ERC-165), so each feature is detected by simulating a harmless call
(`eth_call`, nothing is sent): `nonces(owner)` and `DOMAIN_SEPARATOR()` for permit,
`changeApproval(spender, current, current)` for the legacy allowance change. A token without a
fallback reverts on a function it lacks, which is what tells them apart.

`allowance_calls` gives the transactions that take an allowance from `current` to `wanted`:
from zero, one `approve`; otherwise `changeApproval` when the token has it, else `approve(0)`
then `approve(wanted)` (tokens that refuse approve between two non-zero values, like USDT).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eth_typing import HexStr
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3RPCError

from tournament.chain.rpc import rpc

__all__ = ["TOKEN_ABI", "TokenFeatures", "allowance_calls", "detect_features", "token_binding"]

log = logging.getLogger(__name__)


def _fn(name: str, inputs: list[tuple[str, str]], outputs: list[str], mutability: str = "nonpayable") -> dict:
    return {"type": "function", "name": name, "stateMutability": mutability,
            "inputs": [{"name": n, "type": t} for n, t in inputs],
            "outputs": [{"name": "", "type": t} for t in outputs]}


# The calls the clients make on either token (a union: which ones a token answers is detected).
TOKEN_ABI = [
    _fn("allowance", [("owner", "address"), ("spender", "address")], ["uint256"], "view"),
    _fn("balanceOf", [("owner", "address")], ["uint256"], "view"),
    _fn("approve", [("spender", "address"), ("value", "uint256")], ["bool"]),
    _fn("changeApproval", [("spender", "address"), ("oldValue", "uint256"), ("newValue", "uint256")], ["bool"]),
    _fn("transfer", [("to", "address"), ("value", "uint256")], ["bool"]),
    _fn("nonces", [("owner", "address")], ["uint256"], "view"),
    _fn("DOMAIN_SEPARATOR", [], ["bytes32"], "view"),
]


@dataclass(frozen=True)
class TokenFeatures:
    address: str
    permit: bool            # EIP-2612 permit (nonces + DOMAIN_SEPARATOR answer)
    change_approval: bool   # the legacy NMR's changeApproval(spender, old, new)


def token_binding(w3: Web3, address: str) -> Any:
    return w3.eth.contract(address=to_checksum_address(address), abi=TOKEN_ABI)


def _answers(fn: Any, sender: str, description: str) -> bool:
    try:
        rpc(lambda: fn.call({"from": sender}), description)
        return True
    except (BadFunctionCallOutput, ContractLogicError, Web3RPCError, ValueError):
        return False


def detect_features(w3: Web3, token: str, owner: str, spender: str) -> TokenFeatures:
    """Permit and changeApproval support of `token`, by simulated calls (three eth_calls; callers
    keep the answer: a token's code does not change)."""
    binding = token_binding(w3, token)
    owner, spender = to_checksum_address(owner), to_checksum_address(spender)
    permit = (_answers(binding.functions.nonces(owner), owner, "probing the token for permit")
              and _answers(binding.functions.DOMAIN_SEPARATOR(), owner, "probing the token for permit"))
    current = int(rpc(lambda: binding.functions.allowance(owner, spender).call(), "reading an allowance"))
    change = _answers(binding.functions.changeApproval(spender, current, current), owner,
                      "probing the token for changeApproval")
    features = TokenFeatures(binding.address, permit, change)
    log.info("token %s: permit %s, changeApproval %s", binding.address, permit, change)
    return features


def allowance_calls(w3: Web3, features: TokenFeatures, spender: str, current_wei: int,
                    wanted_wei: int) -> list[tuple[Any, str]]:
    """(call, description) pairs that take the allowance of `spender` from `current_wei` to `wanted_wei`."""
    binding = token_binding(w3, features.address)
    spender = to_checksum_address(spender)
    if current_wei == wanted_wei:
        return []
    if current_wei == 0 or wanted_wei == 0:
        return [(binding.functions.approve(spender, wanted_wei), f"approving {wanted_wei} wei of NMR")]
    if features.change_approval:
        return [(binding.functions.changeApproval(spender, current_wei, wanted_wei),
                 f"changing the NMR allowance from {current_wei} to {wanted_wei} wei")]
    return [(binding.functions.approve(spender, 0), "resetting the NMR allowance to 0"),
            (binding.functions.approve(spender, wanted_wei), f"approving {wanted_wei} wei of NMR")]


# ---------------------------------------------------------------- for the staking page

PERMIT_PROBES = ("nonces(address)", "DOMAIN_SEPARATOR()")  # EIP-2612's views: both answer => permit


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def token_capabilities(w3: Web3, token: str, token_abi: list) -> dict:
    """What the page needs to know about the NMR token: permit (EIP-2612) or approve only.

    Permit is used only when the token answers both `nonces(address)` and `DOMAIN_SEPARATOR()`
    (the legacy mainnet NMR answers neither). Every client sets an allowance from zero (if the
    current allowance is non-zero and too small, approve 0 first), which the legacy token
    requires and the OpenZeppelin token accepts.
    """
    token = to_checksum_address(token)
    answers = []
    for signature in PERMIT_PROBES:
        data = _selector(signature) + (bytes(32) if "address" in signature else b"")
        try:
            answers.append(len(w3.eth.call({"to": token, "data": HexStr("0x" + data.hex())})) >= 32)
        except Exception:  # a revert or an empty answer: the function is not there
            answers.append(False)
    permit = all(answers)
    contract = w3.eth.contract(address=token, abi=token_abi)
    symbol, decimals, domain = "NMR", 18, None
    try:
        symbol = contract.functions.symbol().call()
        decimals = int(contract.functions.decimals().call())
    except Exception:
        log.info("token %s: no symbol/decimals views; assuming NMR, 18", token)
    if permit:
        try:
            _, name, version, *_ = contract.functions.eip712Domain().call()
            domain = {"name": name, "version": version}
        except Exception:  # EIP-5267 is optional; OpenZeppelin's ERC20Permit uses version "1"
            domain = {"name": contract.functions.name().call(), "version": "1"}
    return {"address": token, "symbol": symbol, "decimals": decimals, "permit": permit,
            "permitDomain": domain, "approveFromZero": True}
