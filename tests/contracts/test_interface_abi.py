"""ITournament declares the whole external surface of Tournament: every function, event and
error in the compiled Tournament ABI is in ITournament's ABI, or comes from the OpenZeppelin
contracts it inherits (AccessControl + IERC165, Pausable, EIP712/IERC5267) or from the
OpenZeppelin libraries it uses (SafeCast, ECDSA, MerkleProof, SafeERC20, ReentrancyGuardTransient),
whose errors can reach a caller. Nothing undeclared, and nothing declared that does not exist.
"""
from __future__ import annotations

import json
from pathlib import Path

BUILD = Path(__file__).resolve().parents[2] / "build" / "contracts"
OZ_INHERITED = ["AccessControl", "IAccessControl", "IERC165", "Pausable", "EIP712", "IERC5267"]
OZ_LIBRARIES = ["SafeCast", "ECDSA", "MerkleProof", "SafeERC20", "ReentrancyGuardTransient"]


def _abi(name: str) -> list[dict]:
    return json.loads((BUILD / f"{name}.json").read_text())["abi"]


def _type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


def _signature(item: dict) -> str:
    """kind name(types) -> outputs/mutability/indexed: everything a caller depends on."""
    inputs = ",".join(_type(i) + (" indexed" if i.get("indexed") else "") for i in item.get("inputs", []))
    text = f"{item['type']} {item.get('name', '')}({inputs})"
    if item["type"] == "function":
        text += f" {item['stateMutability']} returns ({','.join(_type(o) for o in item['outputs'])})"
    return text


def _signatures(abi: list[dict]) -> set[str]:
    return {_signature(item) for item in abi if item["type"] in ("function", "event", "error")}


def test_every_external_function_event_and_error_of_tournament_is_declared():
    compiled = _signatures(_abi("Tournament"))
    declared = _signatures(_abi("ITournament"))
    inherited = set().union(*(_signatures(_abi(name)) for name in OZ_INHERITED))
    library_errors = {s for name in OZ_LIBRARIES for s in _signatures(_abi(name)) if s.startswith("error ")}
    undeclared = compiled - declared - inherited - library_errors
    assert not undeclared, "not in ITournament: " + "\n".join(sorted(undeclared))
    # and ITournament declares nothing the contract lacks
    assert declared <= compiled, "declared but not compiled: " + "\n".join(sorted(declared - compiled))


def test_the_v2_surface_is_there():
    declared = _signatures(_abi("ITournament"))
    for expected in [
        "function openRound(uint256,uint64,uint64,bytes32) nonpayable returns ()",
        "function getStakes(uint256,uint256[]) view returns ((uint96,uint16,uint16)[],bool[])",
        "function receiptDigest((uint256,uint256,bytes32,uint64)) view returns (bytes32)",
        "function isValidReceipt((uint256,uint256,bytes32,uint64),bytes) view returns (bool,address)",
        "function burnMethod() view returns (uint8)",
        "function tournamentTime() view returns (uint64)",
        "function RECEIPT_ROLE() view returns (bytes32)",
        "function proposeResults((uint256,uint32,bytes32,uint32,uint128,bytes32,uint64),bytes[]) "
        "nonpayable returns ()",
        "event RoundOpened(uint256 indexed,uint64,uint64,bytes32,(uint16,uint16,uint16,uint16,uint16,uint32,"
        "uint32,uint32,uint32,uint128,uint128))",
        "event ResultsProposed(uint256 indexed,uint32,bytes32,bytes32,uint32,uint128,uint256,uint256,uint64,uint64)",
        "error InvalidRoundId(uint256,uint256)",
        "error ScoredSettledAboveSigned(uint256,uint256,uint256)",
    ]:
        assert expected in declared, expected
