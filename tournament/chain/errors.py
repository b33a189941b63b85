"""Chain errors and readable decoding of the contracts' custom errors.

`ChainError` is every chain failure a user can act on (its message says what to do);
`TransactionReverted` carries the decoded custom error (`Name(arg=value, ...)`) of a
refused call; `decode_revert` turns revert data of any project contract into that text.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from eth_utils import function_signature_to_4byte_selector
from web3.exceptions import ContractCustomError

__all__ = ["ChainError", "NonceUsed", "PHASES", "TransactionReverted", "abi_of", "decode_revert", "revert_data"]

# Phase labels by index, for messages ("Open", "Closed", ...); Phase is the typed form.
PHASES = ["None", "Open", "Closed", "Resolvable", "Proposed", "Accepted", "Refunding", "Settled"]


class ChainError(RuntimeError):
    """A chain interaction failed; the message says what and what to do."""


class NonceUsed(ChainError):
    """The node says our nonce was already mined (by this transaction or another of ours)."""


class TransactionReverted(ChainError):
    """The contract rejected a call; `error` is the decoded custom error (or message)."""

    def __init__(self, description: str, error: str, tx_hash: Optional[str] = None):
        self.description = description
        self.error = error
        self.tx_hash = tx_hash
        where = f" (tx {tx_hash})" if tx_hash else ""
        super().__init__(f"{description} was rejected by the contract: {error}{where}")

    @property
    def error_name(self) -> str:
        return self.error.split("(", 1)[0]


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return str(item["type"])


def _error_abis(abi: Sequence[dict]) -> dict[bytes, dict]:
    out = {}
    for entry in abi:
        if entry.get("type") == "error":
            signature = f"{entry['name']}({','.join(_abi_type(i) for i in entry['inputs'])})"
            out[function_signature_to_4byte_selector(signature)] = entry
    return out


_KNOWN_ERRORS: dict[bytes, dict] = {}


def _known_errors() -> dict[bytes, dict]:
    """Custom errors of every shipped contract, for reverts that bubble up from the token."""
    if not _KNOWN_ERRORS:
        from tournament.chain.artifacts import SHIPPED, load_artifact
        for name in SHIPPED:
            try:
                _KNOWN_ERRORS.update(_error_abis(load_artifact(name)["abi"]))
            except ChainError:
                pass
    return _KNOWN_ERRORS


def decode_revert(abi: Sequence[dict], data: Any) -> str:
    """`Name(arg=value, ...)` for custom-error revert data; the raw data if unknown."""
    from eth_abi import decode as abi_decode

    if isinstance(data, (tuple, list)) and data:
        data = data[0]
    if isinstance(data, str):
        text = data[2:] if data.startswith("0x") else data
        try:
            raw = bytes.fromhex(text)
        except ValueError:  # some clients put a message where the data should be
            return data
    else:
        raw = bytes(data or b"")
    if len(raw) < 4:
        return "reverted without a reason"
    selector, body = raw[:4], raw[4:]
    if selector == bytes.fromhex("08c379a0"):  # Error(string)
        return str(abi_decode(["string"], body)[0])
    entry = _error_abis(abi).get(selector) or _known_errors().get(selector)
    if entry is None:
        return f"unknown error 0x{raw.hex()}"
    values = abi_decode([_abi_type(i) for i in entry["inputs"]], body)
    parts = []
    for item, value in zip(entry["inputs"], values):
        if item["name"] in ("expected", "actual", "phase") and item["type"] == "uint8":
            value = PHASES[value] if value < len(PHASES) else value
        elif isinstance(value, bytes):
            value = "0x" + value.hex()
        parts.append(f"{item['name']}={value}")
    return f"{entry['name']}({', '.join(parts)})"


def abi_of(fn: Any) -> Sequence[dict]:
    """The whole contract ABI behind a function call or constructor."""
    return getattr(fn, "contract_abi", None) or fn.abi


def revert_data(exc: Exception) -> Any:
    """The revert data a web3 contract error carries (custom error bytes or a message)."""
    if isinstance(exc, ContractCustomError):
        return exc.data
    data = getattr(exc, "data", None)
    if data:
        return data
    return exc.args[1] if len(exc.args) > 1 else None
