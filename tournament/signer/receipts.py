"""Upload receipts as the co-signer handles them: parse, verify, serialise (pure).

A receipt is the submission service's EIP-712 `UploadReceipt(roundId, modelId,
submissionHash, receivedAt)` with its signature. JSON form (the submission service's
receipts endpoint and the artifacts' `receipts.json`): a list, or `{"receipts": [...]}`, of
`{"roundId", "modelId", "submissionHash", "receivedAt", "signature"}` (snake_case accepted).
A receipt counts only when its signature recovers (non-malleable) to a RECEIPT_ROLE holder,
it is for this round, and it was received before the round's close; whoever hands it in
does not matter, which is why the operator's copy can be a second source.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from tournament.protocol.signing import Domain, SigningError, UploadReceipt, recover_receipt_signer

__all__ = ["ReceiptError", "SignedReceipt", "parse_receipts", "receipts_json", "recover_all", "usable_receipts"]

RECEIPTS_NAME = "receipts.json"


class ReceiptError(ValueError):
    """A receipts document that cannot be read."""


@dataclass(frozen=True)
class SignedReceipt:
    receipt: UploadReceipt
    signature: bytes

    @property
    def key(self) -> tuple[int, bytes, int]:
        return (self.receipt.model_id, self.receipt.submission_hash, self.receipt.received_at)

    def as_json(self) -> dict:
        r = self.receipt
        return {"roundId": r.round_id, "modelId": r.model_id, "submissionHash": "0x" + r.submission_hash.hex(),
                "receivedAt": r.received_at, "signature": "0x" + self.signature.hex()}


def _field(row: dict, camel: str, snake: str) -> Any:
    if camel in row:
        return row[camel]
    if snake in row:
        return row[snake]
    raise KeyError(camel)


def parse_receipts(document: Any, source: str) -> list[SignedReceipt]:
    """Receipts from JSON bytes/text or an already-decoded list/dict; ReceiptError names the source."""
    try:
        if isinstance(document, (bytes, str)):
            document = json.loads(document)
        rows = document.get("receipts", []) if isinstance(document, dict) else document
        if not isinstance(rows, list):
            raise TypeError("not a list")
        out = []
        for row in rows:
            signature = str(_field(row, "signature", "signature"))
            out.append(SignedReceipt(
                UploadReceipt(int(_field(row, "roundId", "round_id")), int(_field(row, "modelId", "model_id")),
                              str(_field(row, "submissionHash", "submission_hash")),
                              int(_field(row, "receivedAt", "received_at"))),
                bytes.fromhex(signature.removeprefix("0x"))))
        return out
    except (ValueError, KeyError, TypeError, AttributeError, SigningError) as error:
        raise ReceiptError(f"{source}: not a receipts list ({type(error).__name__}: {error})") from None


def recover_all(domain: Domain, receipts: Iterable[SignedReceipt]) -> list[tuple[SignedReceipt, Optional[str]]]:
    """Each receipt with the address its signature recovers to (None when the signature is bad)."""
    out = []
    for item in receipts:
        try:
            out.append((item, recover_receipt_signer(domain, item.receipt, item.signature)))
        except SigningError:
            out.append((item, None))
    return out


def usable_receipts(recovered: Iterable[tuple[SignedReceipt, Optional[str]]], round_id: int, close_time: int,
                    receipt_signers: set[str]) -> list[SignedReceipt]:
    """The receipts that count for a round, deduplicated and sorted (model, hash, time)."""
    holders = {int(a, 16) for a in receipt_signers}
    kept: dict[tuple, SignedReceipt] = {}
    for item, signer in recovered:
        r = item.receipt
        if signer is None or int(signer, 16) not in holders:
            continue
        if r.round_id != round_id or r.received_at >= close_time:
            continue
        kept.setdefault(item.key, item)
    return [kept[k] for k in sorted(kept)]


def receipts_json(receipts: Iterable[SignedReceipt]) -> bytes:
    """Canonical bytes of a receipts list (sorted by model, hash, time; no spaces; one newline)."""
    rows = [r.as_json() for r in sorted(receipts, key=lambda r: r.key)]
    return (json.dumps(rows, sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")
