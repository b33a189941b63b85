"""The EIP-712 `Upload` message a model's owner signs to upload a predictions file (pure).

Domain "NumeraireTournament Submissions", version "1", the chain id and the tournament
address; struct `Upload(uint256 roundId, uint256 modelId, bytes32 fileHash, uint64 expiry)`.
The participant client signs it and the submission service recovers the signer, both from
here (the service must not import the participant client). No I/O.
"""
from __future__ import annotations

from typing import Union

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from tournament.protocol.signing import DOMAIN_TYPE_FIELDS

__all__ = ["UPLOAD_DOMAIN_NAME", "UPLOAD_DOMAIN_VERSION", "UPLOAD_TYPES", "UploadError", "recover_upload_signer",
           "sign_upload", "upload_typed_data"]

UPLOAD_DOMAIN_NAME = "NumeraireTournament Submissions"
UPLOAD_DOMAIN_VERSION = "1"
UPLOAD_TYPES = {
    "Upload": [
        {"name": "roundId", "type": "uint256"},
        {"name": "modelId", "type": "uint256"},
        {"name": "fileHash", "type": "bytes32"},
        {"name": "expiry", "type": "uint64"},
    ],
}


class UploadError(ValueError):
    """A malformed upload message (file hash or signature); the message says which."""


def _hash_bytes(file_hash: Union[bytes, str]) -> bytes:
    if isinstance(file_hash, str):
        try:
            file_hash = bytes.fromhex(file_hash[2:] if file_hash.startswith(("0x", "0X")) else file_hash)
        except ValueError:
            raise UploadError("a file hash is 0x + 64 hex digits") from None
    if len(file_hash) != 32:
        raise UploadError("a file hash is 32 bytes (0x + 64 hex digits)")
    return bytes(file_hash)


def upload_typed_data(chain_id: int, tournament: str, round_id: int, model_id: int,
                      file_hash: Union[bytes, str], expiry: int) -> dict:
    """The EIP-712 message a model's owner signs to upload a file for (round, model)."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE_FIELDS, **UPLOAD_TYPES},
        "primaryType": "Upload",
        "domain": {"name": UPLOAD_DOMAIN_NAME, "version": UPLOAD_DOMAIN_VERSION, "chainId": int(chain_id),
                   "verifyingContract": to_checksum_address(tournament)},
        "message": {"roundId": int(round_id), "modelId": int(model_id), "fileHash": _hash_bytes(file_hash),
                    "expiry": int(expiry)},
    }


def sign_upload(account: LocalAccount, chain_id: int, tournament: str, round_id: int, model_id: int,
                file_hash: Union[bytes, str], expiry: int) -> str:
    """0x-hex 65-byte signature of the Upload message."""
    signable = encode_typed_data(full_message=upload_typed_data(chain_id, tournament, round_id, model_id,
                                                                file_hash, expiry))
    return "0x" + bytes(account.sign_message(signable).signature).hex()


def recover_upload_signer(signature: str, chain_id: int, tournament: str, round_id: int, model_id: int,
                          file_hash: Union[bytes, str], expiry: int) -> str:
    """The address that signed the Upload message; raises ValueError for a malformed signature."""
    signable = encode_typed_data(full_message=upload_typed_data(chain_id, tournament, round_id, model_id,
                                                                file_hash, expiry))
    raw = bytes.fromhex(signature[2:] if signature.startswith(("0x", "0X")) else signature)
    if len(raw) != 65:
        raise UploadError(f"a signature is 65 bytes, got {len(raw)}")
    return str(Account.recover_message(signable, signature=raw))
