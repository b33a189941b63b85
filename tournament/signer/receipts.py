"""Which upload receipts count for a round, as the co-signer judges them (pure).

Receipts themselves (parsing, `receipts.json`) are tournament.protocol.receipts. A receipt
counts only when its signature recovers (non-malleable) to a RECEIPT_ROLE holder, it is for
this round, and it was received before the round's close; who handed it in does not matter,
which is why the operator's `receipts.json` can be a second source next to the submission
service's list.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

from tournament.protocol.receipts import SignedReceipt
from tournament.protocol.signing import Domain, SigningError, recover_receipt_signer

__all__ = ["recover_all", "usable_receipts"]


def recover_all(domain: Domain, receipts: Iterable[SignedReceipt]) -> list[tuple[SignedReceipt, Optional[str]]]:
    """Each receipt with the address its signature recovers to (None when the signature is bad)."""
    out: list[tuple[SignedReceipt, Optional[str]]] = []
    for item in receipts:
        try:
            out.append((item, recover_receipt_signer(domain, item.receipt, item.signature)))
        except SigningError:
            out.append((item, None))
    return out


def usable_receipts(recovered: Iterable[tuple[SignedReceipt, Optional[str]]], round_id: int, close_time: int,
                    receipt_signers: set[str]) -> list[SignedReceipt]:
    """The receipts that count for a round, duplicates dropped, in receipts.json order."""
    holders = {int(a, 16) for a in receipt_signers}
    kept: dict[tuple, SignedReceipt] = {}
    for item, signer in recovered:
        r = item.receipt
        if signer is None or int(signer, 16) not in holders:
            continue
        if r.round_id != round_id or r.received_at >= close_time:
            continue
        kept.setdefault(item.sort_key(), item)
    return [kept[k] for k in sorted(kept)]
