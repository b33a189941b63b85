"""What a client needs to know about the NMR token it stakes with: permit (EIP-2612) or approve only.

`token_capabilities(w3, token, token_abi)` probes the token's views once; the staking page
(tournament.webapp) sends the answer to the browser.
"""
from __future__ import annotations

import logging

from eth_typing import HexStr
from eth_utils import keccak, to_checksum_address
from web3 import Web3

__all__ = ["PERMIT_PROBES", "token_capabilities"]

log = logging.getLogger(__name__)

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
