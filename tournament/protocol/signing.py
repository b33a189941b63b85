"""EIP-712 signatures over a round's results and over upload receipts, exactly as the contract checks them.

Protocol version 2. The contract is OpenZeppelin `EIP712("NumeraireTournament", "2")`; oracle
signers sign the struct `Results(uint256 roundId,uint32 attempt,bytes32 resultsRoot,uint32
leafCount,uint128 scoredAtRisk,bytes32 artifactsHash,uint64 signerSetVersion)`, and the
submission service (RECEIPT_ROLE) signs `UploadReceipt(uint256 roundId,uint256 modelId,bytes32
submissionHash,uint64 receivedAt)` in the same domain. Digests are computed by hand here (type
hash, struct hash, `"\\x19\\x01" || domainSeparator || structHash`) and the tests cross-check them
against eth-account's `encode_typed_data` and the contract's `resultsDigest` / `receiptDigest`.
`sign_results` returns 65-byte `r || s || v` signatures (v in {27, 28}, low s) sorted by
ascending signer address, which is the order `proposeResults` requires; `check_signatures`
applies the contract's acceptance rules off-chain so the operator and the auditor see a
rejection coming. `sign_receipt` / `recover_receipt_signer` apply the same signature rules
(65 bytes, v in {27, 28}, low s) to receipts. Pure code: no I/O.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_keys import keys
from eth_keys.datatypes import PrivateKey
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import is_address, to_checksum_address

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_TYPE",
    "DOMAIN_VERSION",
    "Domain",
    "RESULTS_TYPE",
    "RESULTS_TYPEHASH",
    "RECEIPT_TYPE",
    "RECEIPT_TYPEHASH",
    "Results",
    "SECP256K1_N",
    "UploadReceipt",
    "SigningError",
    "check_signatures",
    "domain_from_eip712_domain_call",
    "domain_separator",
    "make_high_s",
    "receipt_digest",
    "receipt_struct_hash",
    "receipt_typed_data",
    "recover_receipt_signer",
    "recover_signer",
    "recover_signers",
    "results_digest",
    "results_struct_hash",
    "sign_receipt",
    "sign_results",
    "split_signature",
    "typed_data",
]

DOMAIN_NAME = "NumeraireTournament"
DOMAIN_VERSION = "2"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
RESULTS_TYPE = ("Results(uint256 roundId,uint32 attempt,bytes32 resultsRoot,uint32 leafCount,"
                "uint128 scoredAtRisk,bytes32 artifactsHash,uint64 signerSetVersion)")
RECEIPT_TYPE = "UploadReceipt(uint256 roundId,uint256 modelId,bytes32 submissionHash,uint64 receivedAt)"
DOMAIN_TYPEHASH = keccak(DOMAIN_TYPE.encode())
# The same domain type as eth_signTypedData_v4 JSON wants it (every message here uses it).
DOMAIN_TYPE_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
RESULTS_TYPEHASH = keccak(RESULTS_TYPE.encode())
RECEIPT_TYPEHASH = keccak(RECEIPT_TYPE.encode())
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# ERC-5267 `fields` bit mask: 0x01 name, 0x02 version, 0x04 chainId, 0x08 verifyingContract, 0x10 salt.
_EIP712_FIELDS = 0x0F

PrivateKeyLike = Union[str, bytes, Any]  # hex string, 32 bytes, eth_keys PrivateKey or LocalAccount


class SigningError(ValueError):
    """A domain, results struct or signature that cannot be used (the message says why)."""


def _uint(name: str, value: Any, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SigningError(f"{name} must be an integer, got {value!r}")
    if not 0 <= value < 2**bits:
        raise SigningError(f"{name} = {value} does not fit in uint{bits}")
    return value


def _bytes32(name: str, value: Any) -> bytes:
    if isinstance(value, str):
        text = value[2:] if value[:2] in ("0x", "0X") else value
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise SigningError(f"{name} must be 32 bytes or 0x-hex of 32 bytes, got {value!r}") from None
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise SigningError(f"{name} must be 32 bytes, got {value!r}")
    return bytes(value)


def _address(name: str, value: Any) -> str:
    if isinstance(value, (bytes, bytearray)) and len(value) == 20:
        value = "0x" + bytes(value).hex()
    if not isinstance(value, str) or not is_address(value):
        raise SigningError(f"{name} must be an address, got {value!r}")
    return to_checksum_address(value)


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one deployed tournament contract."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def __post_init__(self) -> None:
        _uint("chain_id", self.chain_id, 256)
        object.__setattr__(self, "verifying_contract", _address("verifying_contract", self.verifying_contract))

    def as_dict(self) -> dict:
        """The domain as EIP-712 JSON (eth_signTypedData_v4, eth-account's `encode_typed_data`)."""
        return {"name": self.name, "version": self.version, "chainId": self.chain_id,
                "verifyingContract": self.verifying_contract}


def domain_from_eip712_domain_call(result: Sequence[Any], expect_name: Optional[str] = DOMAIN_NAME,
                                   expect_version: Optional[str] = DOMAIN_VERSION) -> Domain:
    """The Domain from the return value of the contract's ERC-5267 `eip712Domain()`.

    `result` is `(fields, name, version, chainId, verifyingContract, salt, extensions)` as web3
    or brownie return it. Only the four fields this protocol uses may be set (fields == 0x0f,
    no extensions). With `expect_name` / `expect_version` (default: the protocol's), a
    different contract is refused: its signatures would be worthless here.
    """
    try:
        fields, name, version, chain_id, verifying_contract, salt, extensions = result
    except (TypeError, ValueError):
        raise SigningError("eip712Domain() returns 7 values (fields, name, version, chainId, "
                           f"verifyingContract, salt, extensions); got {result!r}") from None
    if isinstance(fields, str):
        fields = int(fields, 16)
    elif isinstance(fields, (bytes, bytearray)):
        fields = int.from_bytes(fields, "big")
    if fields != _EIP712_FIELDS or list(extensions or []):
        raise SigningError(f"eip712Domain() reports fields={fields:#04x}, extensions={list(extensions or [])}; "
                           "this protocol's domain is (name, version, chainId, verifyingContract) only (0x0f)")
    if expect_name is not None and name != expect_name:
        raise SigningError(f"contract {verifying_contract} has EIP-712 name {name!r}, expected {expect_name!r}: "
                           "is this the tournament contract?")
    if expect_version is not None and version != expect_version:
        raise SigningError(f"contract {verifying_contract} has EIP-712 version {version!r}, "
                           f"expected {expect_version!r}")
    return Domain(chain_id=int(chain_id), verifying_contract=verifying_contract, name=name, version=version)


def domain_separator(domain: Domain) -> bytes:
    """`keccak256(abi.encode(TYPE_HASH, keccak(name), keccak(version), chainId, verifyingContract))`."""
    return keccak(abi_encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [DOMAIN_TYPEHASH, keccak(domain.name.encode()), keccak(domain.version.encode()), domain.chain_id,
         domain.verifying_contract],
    ))


@dataclass(frozen=True)
class Results:
    """The signed statement about a round: which results (root, leaf count, scored stake) and artifacts.

    Fields in the struct's order. `scored_at_risk` is the sum, in NMR wei, of the stakes at
    close of the round's SCORED leaves (v2): the payout factor and the reserve derive from it.
    """

    round_id: int
    attempt: int
    results_root: bytes
    leaf_count: int
    scored_at_risk: int
    artifacts_hash: bytes
    signer_set_version: int

    def __post_init__(self) -> None:
        _uint("round_id", self.round_id, 256)
        _uint("attempt", self.attempt, 32)
        _uint("leaf_count", self.leaf_count, 32)
        _uint("scored_at_risk", self.scored_at_risk, 128)
        _uint("signer_set_version", self.signer_set_version, 64)
        object.__setattr__(self, "results_root", _bytes32("results_root", self.results_root))
        object.__setattr__(self, "artifacts_hash", _bytes32("artifacts_hash", self.artifacts_hash))

    def as_message(self) -> dict:
        """The struct as EIP-712 JSON message fields."""
        return {"roundId": self.round_id, "attempt": self.attempt, "resultsRoot": self.results_root,
                "leafCount": self.leaf_count, "scoredAtRisk": self.scored_at_risk,
                "artifactsHash": self.artifacts_hash, "signerSetVersion": self.signer_set_version}

    def as_tuple(self) -> tuple:
        """The struct as the contract's ABI tuple (for `proposeResults`, `resultsDigest`)."""
        return (self.round_id, self.attempt, self.results_root, self.leaf_count, self.scored_at_risk,
                self.artifacts_hash, self.signer_set_version)


@dataclass(frozen=True)
class UploadReceipt:
    """The submission service's signed acknowledgement of one upload (v2), RECEIPT_ROLE's signature.

    `submission_hash` is keccak256 of the uploaded bytes; `received_at` is unix seconds.
    """

    round_id: int
    model_id: int
    submission_hash: bytes
    received_at: int

    def __post_init__(self) -> None:
        _uint("round_id", self.round_id, 256)
        _uint("model_id", self.model_id, 256)
        _uint("received_at", self.received_at, 64)
        object.__setattr__(self, "submission_hash", _bytes32("submission_hash", self.submission_hash))

    def as_message(self) -> dict:
        """The struct as EIP-712 JSON message fields."""
        return {"roundId": self.round_id, "modelId": self.model_id, "submissionHash": self.submission_hash,
                "receivedAt": self.received_at}

    def as_tuple(self) -> tuple:
        """The struct as the contract's ABI tuple (for `receiptDigest`, `isValidReceipt`)."""
        return (self.round_id, self.model_id, self.submission_hash, self.received_at)


def results_struct_hash(results: Results) -> bytes:
    """`keccak256(abi.encode(RESULTS_TYPEHASH, roundId, attempt, root, leafCount, scoredAtRisk, artifactsHash, version))`."""
    return keccak(abi_encode(
        ["bytes32", "uint256", "uint32", "bytes32", "uint32", "uint128", "bytes32", "uint64"],
        [RESULTS_TYPEHASH, results.round_id, results.attempt, results.results_root, results.leaf_count,
         results.scored_at_risk, results.artifacts_hash, results.signer_set_version],
    ))


def receipt_struct_hash(receipt: UploadReceipt) -> bytes:
    """`keccak256(abi.encode(RECEIPT_TYPEHASH, roundId, modelId, submissionHash, receivedAt))`."""
    return keccak(abi_encode(
        ["bytes32", "uint256", "uint256", "bytes32", "uint64"],
        [RECEIPT_TYPEHASH, receipt.round_id, receipt.model_id, receipt.submission_hash, receipt.received_at],
    ))


def receipt_digest(domain: Domain, receipt: UploadReceipt) -> bytes:
    """The 32-byte EIP-712 digest the submission service signs for `receipt` (contract: `receiptDigest`)."""
    return keccak(b"\x19\x01" + domain_separator(domain) + receipt_struct_hash(receipt))


def results_digest(domain: Domain, results: Results) -> bytes:
    """The 32-byte EIP-712 digest the signers sign: `keccak256("\\x19\\x01" || separator || structHash)`."""
    return keccak(b"\x19\x01" + domain_separator(domain) + results_struct_hash(results))


def _type_fields(type_string: str) -> list[dict]:
    """`Name(uint256 a,bytes32 b)` as eth_signTypedData_v4's field list: one definition per type,
    so the JSON a wallet signs and the type hash the contract checks cannot drift apart."""
    members = type_string[type_string.index("(") + 1:-1]
    return [{"name": name, "type": kind} for kind, name in (member.split(" ") for member in members.split(","))]


def typed_data(domain: Domain, results: Union[Results, UploadReceipt]) -> dict:
    """The full EIP-712 JSON (for eth_signTypedData_v4 wallets and eth-account's `encode_typed_data`).

    Accepts an `UploadReceipt` too (then it is `receipt_typed_data`).
    """
    if isinstance(results, UploadReceipt):
        return receipt_typed_data(domain, results)
    return {
        "types": {
            "EIP712Domain": DOMAIN_TYPE_FIELDS,
            "Results": _type_fields(RESULTS_TYPE),
        },
        "primaryType": "Results",
        "domain": domain.as_dict(),
        "message": results.as_message(),
    }


def receipt_typed_data(domain: Domain, receipt: UploadReceipt) -> dict:
    """The full EIP-712 JSON of an upload receipt (eth_signTypedData_v4, `encode_typed_data`)."""
    return {
        "types": {
            "EIP712Domain": DOMAIN_TYPE_FIELDS,
            "UploadReceipt": _type_fields(RECEIPT_TYPE),
        },
        "primaryType": "UploadReceipt",
        "domain": domain.as_dict(),
        "message": receipt.as_message(),
    }


def _private_key(key: PrivateKeyLike) -> PrivateKey:
    if isinstance(key, keys.PrivateKey):
        return key
    if hasattr(key, "key"):  # eth-account LocalAccount
        key = key.key
    if isinstance(key, str):
        text = key[2:] if key[:2] in ("0x", "0X") else key
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise SigningError("a private key must be 32 bytes or their hex (the value is not shown)") from None
    try:
        key = bytes(key)
        if len(key) != 32 or not 0 < int.from_bytes(key, "big") < SECP256K1_N:
            raise ValueError
        return keys.PrivateKey(key)
    except (ValidationError, TypeError, ValueError):
        raise SigningError("a private key must be 32 bytes or their hex (the value is not shown)") from None


def sign_results(domain: Domain, results: Results, private_keys: Iterable[PrivateKeyLike]) -> list[bytes]:
    """One 65-byte signature (`r || s || v`, v in {27, 28}, low s) per key, in ascending signer order.

    The contract requires strictly ascending, distinct signers, so two keys of one address
    are an error rather than a silently dropped signature.
    """
    digest = results_digest(domain, results)
    signed: dict[int, bytes] = {}
    for key in private_keys:
        private_key = _private_key(key)
        address = private_key.public_key.to_checksum_address()
        if int(address, 16) in signed:
            raise SigningError(f"two of the keys belong to the same signer {address}; each signer signs once")
        signature = Account.unsafe_sign_hash(digest, private_key.to_bytes()).signature
        signed[int(address, 16)] = bytes(signature)
    return [signed[address] for address in sorted(signed)]


def split_signature(signature: Union[bytes, str]) -> tuple[int, int, int]:
    """`(v, r, s)` of a 65-byte `r || s || v` signature."""
    if isinstance(signature, str):
        signature = bytes.fromhex(signature[2:] if signature[:2] in ("0x", "0X") else signature)
    signature = bytes(signature)
    if len(signature) != 65:
        raise SigningError(f"a signature is 65 bytes (r || s || v), got {len(signature)}")
    return signature[64], int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")


def make_high_s(signature: Union[bytes, str]) -> bytes:
    """The malleable twin of a signature: `s' = n - s` and v flipped (27 <-> 28).

    It recovers to the same signer, which is exactly why it exists: negative contract tests
    use it to prove `proposeResults` rejects high-s signatures (OpenZeppelin ECDSA reverts
    with `ECDSAInvalidSignatureS`). Never use it to sign anything.
    """
    v, r, s = split_signature(signature)
    if v not in (27, 28):
        raise SigningError(f"signature v must be 27 or 28, got {v}")
    return r.to_bytes(32, "big") + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


def _recover(digest: bytes, signature: Union[bytes, str], allow_high_s: bool) -> str:
    v, r, s = split_signature(signature)
    if v not in (27, 28):
        raise SigningError(f"signature v must be 27 or 28, got {v}")
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise SigningError("signature r and s must be in [1, n - 1]")
    if not allow_high_s and s > SECP256K1_N // 2:
        raise SigningError("signature has a high s (malleable); the contract accepts only low-s signatures")
    try:
        public_key = keys.Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError) as error:
        raise SigningError(f"signature does not recover to any key: {error}") from None
    return public_key.to_checksum_address()


def recover_signer(domain: Domain, results: Results, signature: Union[bytes, str]) -> str:
    """The checksummed address that produced `signature` over these results (any s, v in {27, 28}).

    This is plain ecrecover: it accepts high-s twins too. Use `check_signatures` for the
    contract's full rules.
    """
    return _recover(results_digest(domain, results), signature, allow_high_s=True)


def sign_receipt(key: PrivateKeyLike, domain: Domain, receipt: UploadReceipt) -> bytes:
    """The submission service's 65-byte receipt signature (`r || s || v`, v in {27, 28}, low s)."""
    signature = Account.unsafe_sign_hash(receipt_digest(domain, receipt), _private_key(key).to_bytes()).signature
    return bytes(signature)


def recover_receipt_signer(domain: Domain, receipt: UploadReceipt, signature: Union[bytes, str]) -> str:
    """The checksummed address that signed `receipt`, under the contract's rules (OpenZeppelin ECDSA).

    Non-malleable like results signatures: 65 bytes, v in {27, 28}, s <= n/2; anything else
    raises SigningError. Whether the signer holds RECEIPT_ROLE is the caller's check (the
    contract's `isValidReceipt` view answers it on-chain).
    """
    return _recover(receipt_digest(domain, receipt), signature, allow_high_s=False)


def recover_signers(domain: Domain, results: Results, signatures: Iterable[Union[bytes, str]]) -> list[str]:
    """The signer of each signature, in the signatures' order."""
    return [recover_signer(domain, results, signature) for signature in signatures]


def check_signatures(domain: Domain, results: Results, signatures: Sequence[Union[bytes, str]],
                     signers: Iterable[str], threshold: int) -> list[str]:
    """The reasons `proposeResults` would refuse these signatures (empty list: it accepts them).

    Mirrors the protocol: each signature 65 bytes with v in {27, 28} and low s (s <= n/2),
    recovering to a current signer, signers strictly ascending (hence distinct), and at least
    `threshold` of them.
    """
    current = {int(_address("signer", signer), 16) for signer in signers}
    problems: list[str] = []
    previous = -1
    for position, signature in enumerate(signatures):
        try:
            v, r, s = split_signature(signature)
            if s > SECP256K1_N // 2:
                problems.append(f"signature {position}: high s (malleable); sign again with a low-s signer")
                continue
            address = recover_signer(domain, results, signature)
        except SigningError as error:
            problems.append(f"signature {position}: {error}")
            continue
        if int(address, 16) not in current:
            problems.append(f"signature {position}: {address} is not a current signer")
        if int(address, 16) <= previous:
            problems.append(f"signature {position}: signer {address} is not after the previous signer "
                            "(signatures must be sorted by strictly ascending signer address)")
        previous = max(previous, int(address, 16))
    if len(signatures) < threshold:
        problems.append(f"{len(signatures)} signature(s), the threshold is {threshold}")
    return problems


def sign_permit(account: LocalAccount, *, token: str, chain_id: int, spender: str, value: int, nonce: int,
                deadline: int, token_name: str = "Numeraire") -> tuple[int, bytes, bytes]:
    """An EIP-2612 permit of the NMR token (domain name "Numeraire", version "1"), as (v, r, s)."""
    from eth_account.messages import encode_typed_data

    message = {
        "types": {
            "EIP712Domain": DOMAIN_TYPE_FIELDS,
            "Permit": [
                {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"}],
        },
        "primaryType": "Permit",
        "domain": {"name": token_name, "version": "1", "chainId": chain_id, "verifyingContract": token},
        "message": {"owner": account.address, "spender": spender, "value": value, "nonce": nonce,
                    "deadline": deadline},
    }
    signed = account.sign_message(encode_typed_data(full_message=message))
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
