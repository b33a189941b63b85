"""Upload receipts as data: the signed `UploadReceipt`s of a round and `receipts.json`.

The submission service signs an `UploadReceipt(roundId, modelId, submissionHash, receivedAt)`
for every accepted upload (tournament.protocol.signing); the participant keeps it; the
artifacts carry every receipt of the round in `receipts.json`; anyone may hand more to the
auditor. This module turns receipts to and from JSON, one canonical way: a list sorted by
(modelId, receivedAt, submissionHash, signature), exact duplicates dropped, each object
`{"roundId", "modelId", "submissionHash": "0x..", "receivedAt", "signature": "0x.."}`, one
space of indent, a trailing newline. It does not judge signatures (that needs the chain's
RECEIPT_ROLE holders: see tournament.auditor.verify). Pure: no I/O.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from tournament.protocol.signing import SigningError, UploadReceipt

__all__ = ["ReceiptError", "SignedReceipt", "parse_receipts", "receipt_from_json", "receipts_to_json"]


class ReceiptError(ValueError):
    """A receipt (or receipts file) that cannot be read; the message says which and why."""


@dataclass(frozen=True, order=True)
class SignedReceipt:
    """One upload receipt and the submission service's 65-byte signature of it."""

    receipt: UploadReceipt
    signature: bytes

    @property
    def model_id(self) -> int:
        return self.receipt.model_id

    def sort_key(self) -> tuple:
        r = self.receipt
        return (r.model_id, r.received_at, r.submission_hash, self.signature, r.round_id)

    def to_json(self) -> dict:
        r = self.receipt
        return {"roundId": r.round_id, "modelId": r.model_id, "submissionHash": "0x" + r.submission_hash.hex(),
                "receivedAt": r.received_at, "signature": "0x" + self.signature.hex()}


def _field(item: Mapping[str, Any], camel: str, snake: str) -> Any:
    if camel in item:
        return item[camel]
    if snake in item:
        return item[snake]
    raise ReceiptError(f"receipt has no {camel!r} field (fields: {sorted(item)[:8]})")


def _bytes(value: Any, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value[2:] if value.lower().startswith("0x") else value)
        except ValueError:
            raise ReceiptError(f"receipt {what} {value[:20]!r}... is not hex") from None
    raise ReceiptError(f"receipt {what} must be 0x-hex text, got {type(value).__name__}")


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ReceiptError(f"receipt {what} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ReceiptError(f"receipt {what} must be an integer, got {value!r}") from None


def receipt_from_json(item: Union[SignedReceipt, Mapping[str, Any]]) -> SignedReceipt:
    """A SignedReceipt from itself or from a JSON object (camelCase or snake_case keys)."""
    if isinstance(item, SignedReceipt):
        return item
    if not isinstance(item, Mapping):
        raise ReceiptError(f"a receipt must be a JSON object, got {type(item).__name__}")
    try:
        receipt = UploadReceipt(_int(_field(item, "roundId", "round_id"), "roundId"),
                                _int(_field(item, "modelId", "model_id"), "modelId"),
                                _bytes(_field(item, "submissionHash", "submission_hash"), "submissionHash"),
                                _int(_field(item, "receivedAt", "received_at"), "receivedAt"))
    except SigningError as error:
        raise ReceiptError(f"receipt: {error}") from None
    return SignedReceipt(receipt, _bytes(_field(item, "signature", "signature"), "signature"))


def receipts_to_json(receipts: Iterable[Union[SignedReceipt, Mapping[str, Any]]]) -> bytes:
    """The canonical `receipts.json` bytes of these receipts (sorted, duplicates dropped)."""
    unique = {r.sort_key(): r for r in (receipt_from_json(item) for item in receipts)}
    rows = [unique[key].to_json() for key in sorted(unique)]
    return (json.dumps(rows, indent=1) + "\n").encode("ascii")


def parse_receipts(raw: bytes, name: str = "receipts") -> list[SignedReceipt]:
    """Receipts from JSON bytes: a list of receipts, one receipt, or `{"receipts": [...]}`."""
    try:
        document = json.loads(bytes(raw))
    except (ValueError, UnicodeDecodeError) as error:
        raise ReceiptError(f"{name}: not JSON ({error})") from None
    if isinstance(document, Mapping) and "receipts" in document:
        document = document["receipts"]
    items = document if isinstance(document, list) else [document]
    out = []
    for position, item in enumerate(items):
        try:
            out.append(receipt_from_json(item))
        except ReceiptError as error:
            raise ReceiptError(f"{name}: item {position}: {error}") from None
    return out
