"""Upload receipts that participants hand to the watchtower, checked before anyone relies on them.

Protocol v2: the submission service signs an EIP-712 `UploadReceipt(roundId, modelId,
submissionHash, receivedAt)` for every accepted upload, by an address holding RECEIPT_ROLE.
A participant who suspects the operator will withhold its file hands the receipt to the
watchtower (HTTP `POST /v1/receipts` or a file dropped into the receipts folder). A receipt
counts only when its signature recovers (non-malleable, 65 bytes) to a current RECEIPT_ROLE
holder and it concerns a real stake: a StakeChanged event of that round and model committed
to that hash. `ReceiptChecker.check` applies exactly these rules and is used twice: when a
receipt is handed in (so the inbox stores nothing else) and again when a round is audited (the
folder is writable by others and is never trusted). `ReceiptsInbox` is the folder:
`<dir>/<round>/<model>-<hash>.json`, one JSON object per receipt, written atomically; any
other `*.json` file under the folder (an object or a list of objects) is read too.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from eth_hash.auto import keccak

from tournament.protocol import signing

__all__ = ["RECEIPT_ROLE", "Receipt", "ReceiptChecker", "ReceiptRejected", "ReceiptsInbox", "parse_receipt",
           "receipt_digest"]

log = logging.getLogger(__name__)

RECEIPT_ROLE = keccak(b"RECEIPT_ROLE")          # AccessControl role id, as the v2 contract defines it
MAX_RECEIPT_FILE_BYTES = 1 << 20


class ReceiptRejected(ValueError):
    """A receipt that does not count; `reason` is a short machine tag, the message says why."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class Receipt:
    """One upload receipt as handed in (the signature still to be checked unless `signer` is set)."""

    round_id: int
    model_id: int
    submission_hash: bytes
    received_at: int
    signature: bytes
    signer: str = ""

    def to_json(self) -> dict:
        return {"round_id": self.round_id, "model_id": self.model_id,
                "submission_hash": "0x" + self.submission_hash.hex(), "received_at": self.received_at,
                "signature": "0x" + self.signature.hex()}


def _get(data: dict, name: str) -> Any:
    """A field by its snake_case name or the camelCase spelling of receipts.json (roundId, ...)."""
    if name in data:
        return data[name]
    head, *rest = name.split("_")
    return data.get(head + "".join(part.title() for part in rest))


def _int(data: dict, name: str, bits: int) -> int:
    value = _get(data, name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise ReceiptRejected("malformed", f"{name} must be an unsigned integer below 2^{bits}, got {value!r}")
    return value


def _hex_bytes(data: dict, name: str, length: int) -> bytes:
    value = _get(data, name)
    if not isinstance(value, str):
        raise ReceiptRejected("malformed", f"{name} must be a 0x-hex string of {length} bytes")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ReceiptRejected("malformed", f"{name} is not hex") from None
    if len(raw) != length:
        raise ReceiptRejected("malformed", f"{name} must be {length} bytes, got {len(raw)}")
    return raw


def parse_receipt(data: Any) -> Receipt:
    """A receipt from its JSON form `{round_id, model_id, submission_hash, received_at, signature}`
    (camelCase keys as in the published receipts.json are accepted too)."""
    if not isinstance(data, dict):
        raise ReceiptRejected("malformed", "a receipt is a JSON object {round_id, model_id, submission_hash, "
                                           "received_at, signature}")
    return Receipt(_int(data, "round_id", 256), _int(data, "model_id", 256),
                   _hex_bytes(data, "submission_hash", 32), _int(data, "received_at", 64),
                   _hex_bytes(data, "signature", 65))


# ------------------------------------------------------------------ the signature

def receipt_digest(domain: signing.Domain, receipt: Receipt) -> bytes:
    """The EIP-712 digest the submission service signs (the contract's `receiptDigest`)."""
    return signing.receipt_digest(domain, _upload_receipt(receipt))


def _upload_receipt(receipt: Receipt) -> signing.UploadReceipt:
    return signing.UploadReceipt(receipt.round_id, receipt.model_id, receipt.submission_hash, receipt.received_at)


def recover_receipt_signer(domain: signing.Domain, receipt: Receipt) -> str:
    """The address that signed `receipt`, by the contract's rules (tournament.protocol.signing:
    v in {27, 28}, low s, recoverable); ReceiptRejected("bad_signature") otherwise."""
    try:
        return signing.recover_receipt_signer(domain, _upload_receipt(receipt), receipt.signature)
    except signing.SigningError as error:
        raise ReceiptRejected("bad_signature", str(error)) from None


# ------------------------------------------------------------------ the checks

class ReceiptChecker:
    """Checks receipts against the chain: the signer's RECEIPT_ROLE and the stake's commitments.

    `has_role(address) -> bool` and `commitments(round_id, model_id) -> set of 32-byte hashes`
    are injected (`for_chain` builds them from a ChainReader), so the rules are testable without a node.
    """

    def __init__(self, domain: signing.Domain, has_role: Callable[[str], bool],
                 commitments: Callable[[int, int], set[bytes]]):
        self.domain = domain
        self.has_role = has_role
        self.commitments = commitments

    @classmethod
    def for_chain(cls, reader: Any, follow_head: bool = True) -> ReceiptChecker:
        """The rules on the chain `reader` (a tournament.chain.reader.ChainReader) reads: with
        `follow_head`, each check re-pins at the head minus the reader's confirmations (a role
        granted or revoked since counts); without, everything is read at the reader's block."""
        domain = signing.domain_from_eip712_domain_call(reader.eip712_domain(), expect_version=None)

        def current() -> Any:
            return reader.at("latest", reader.confirmations) if follow_head else reader

        def has_role(address: str) -> bool:
            return bool(current().has_role(RECEIPT_ROLE, address))

        def commitments(round_id: int, model_id: int) -> set[bytes]:
            changes = current().round_events(round_id).of("StakeChanged")
            return {bytes(e.args["submissionHash"]) for e in changes
                    if int(e.args["modelId"]) == int(model_id)} - {b"\x00" * 32}

        return cls(domain, has_role, commitments)

    def check(self, receipt: Union[Receipt, Any]) -> Receipt:
        """The receipt with its `signer` set, or ReceiptRejected saying why it does not count."""
        if not isinstance(receipt, Receipt):
            receipt = parse_receipt(receipt)
        signer = recover_receipt_signer(self.domain, receipt)
        if not self.has_role(signer):
            raise ReceiptRejected("not_receipt_role", f"signed by {signer}, which does not hold RECEIPT_ROLE")
        if receipt.submission_hash not in self.commitments(receipt.round_id, receipt.model_id):
            raise ReceiptRejected("no_stake", f"round {receipt.round_id} model {receipt.model_id} has no stake "
                                              f"committed to 0x{receipt.submission_hash.hex()}")
        return Receipt(receipt.round_id, receipt.model_id, receipt.submission_hash, receipt.received_at,
                       receipt.signature, signer)


# ------------------------------------------------------------------ the folder

class ReceiptsInbox:
    """The receipts folder: `<dir>/<round>/<model>-<hash>.json` (written here) and any other *.json."""

    def __init__(self, folder: Union[str, os.PathLike]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def add(self, receipt: Receipt) -> Path:
        """Stores a checked receipt (the same receipt twice is one file; a different signature replaces it)."""
        path = self.folder / str(receipt.round_id) / f"{receipt.model_id}-0x{receipt.submission_hash.hex()}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(receipt.to_json(), sort_keys=True) + "\n")
        os.replace(temporary, path)
        return path

    def raw_receipts(self, round_id: Optional[int] = None) -> Iterable[tuple[Path, Any]]:
        """(file, JSON object) for every receipt-like object in the folder (of `round_id` when given)."""
        for path in sorted(self.folder.rglob("*.json")):
            try:
                if path.stat().st_size > MAX_RECEIPT_FILE_BYTES:
                    log.warning("receipts: %s is larger than %d bytes; skipped", path, MAX_RECEIPT_FILE_BYTES)
                    continue
                data = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                log.warning("receipts: %s is not readable JSON (%s); skipped", path, error)
                continue
            for item in data if isinstance(data, list) else [data]:
                if isinstance(item, dict) and isinstance(item.get("receipts"), list):   # {"receipts": [...]}
                    items = item["receipts"]
                else:
                    items = [item]
                for one in items:
                    if round_id is None or (isinstance(one, dict) and str(_get(one, "round_id")) == str(round_id)):
                        yield path, one

    def valid_receipts(self, checker: ReceiptChecker, round_id: int) -> list[Receipt]:
        """Every receipt of the round in the folder that passes `checker` (the others are logged)."""
        out: dict[tuple, Receipt] = {}
        for path, item in self.raw_receipts(round_id):
            try:
                receipt = checker.check(item)
            except (ReceiptRejected, signing.SigningError) as error:
                log.warning("receipts: %s: not counted (%s)", path, error)
                continue
            out[(receipt.model_id, receipt.submission_hash, receipt.received_at)] = receipt
        return list(out.values())
