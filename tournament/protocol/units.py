"""Units: the one NMR amount parser and formatter, and UTC time formatting.

Amounts are integers in wei (1 NMR = 10**18 wei) everywhere in the code; text is only for
people. `parse_nmr` is exact (Decimal, never float) and refuses anything that is not a plain
non-negative number with at most 18 decimals. Pure: no I/O.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Optional, Union

from tournament.protocol.constants import NANOS_PER_UNIT, WEI_PER_NMR

__all__ = ["NANOS_PER_UNIT", "NmrAmountError", "WEI_PER_NMR", "format_nmr", "format_time", "parse_nmr"]

NMR_DECIMALS = 18


class NmrAmountError(ValueError):
    """An NMR amount typed by a person that is not a valid amount (the message says why)."""


def parse_nmr(text: Union[str, int, Decimal]) -> int:
    """'12.5' NMR -> 12_500_000_000_000_000_000 wei, exactly (Decimal, no floats).

    Refuses negatives, more than 18 decimals, and anything that is not a plain number.
    """
    raw = str(text).strip().replace("_", "")
    if raw.upper().endswith("NMR"):
        raw = raw[:-3].strip()
    if not re.fullmatch(r"\+?(\d+(\.\d*)?|\.\d+)", raw):
        if raw.startswith("-"):
            raise NmrAmountError(f"amount {text!r} is negative; give a positive NMR amount like 12.5")
        raise NmrAmountError(f"amount {text!r} is not a number; give NMR like 12.5 (at most 18 decimals)")
    with localcontext() as context:
        context.prec = 200  # exact for any amount a human types
        try:
            wei = Decimal(raw).scaleb(NMR_DECIMALS)
        except InvalidOperation:
            raise NmrAmountError(f"amount {text!r} is not a number; give NMR like 12.5") from None
        if wei != wei.to_integral_value():
            raise NmrAmountError(f"amount {text!r} has more than 18 decimals; NMR has 18, "
                                 "round it to at most 18 decimals")
        return int(wei)


def format_nmr(amount_wei: Optional[int], places: Optional[int] = None, *, none: str = "-",
               grouping: bool = False, unit: bool = False) -> str:
    """Wei -> NMR text, exact by default ('12.5'), or rounded half away from zero to `places`
    decimals ('0.3333'); `none` for None. `grouping` puts commas in the whole part ('72,000.0000'),
    `unit` appends ' NMR'. The one NMR formatter: the CLI, explorer, admin and signer use it."""
    if amount_wei is None:
        return none
    sign = "-" if amount_wei < 0 else ""
    with localcontext() as context:
        context.prec = 200  # exact for any uint256 amount
        value = Decimal(abs(int(amount_wei))).scaleb(-NMR_DECIMALS)
        if places is not None:
            text = f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
        else:
            text = f"{value:f}"
            if "." in text:
                text = text.rstrip("0").rstrip(".")
    if grouping:
        whole, dot, fraction = text.partition(".")
        text = f"{int(whole):,}{dot}{fraction}"
    return f"{sign}{text}{' NMR' if unit else ''}"


def format_time(timestamp: int) -> str:
    """Unix seconds -> '2026-11-30 17:35 UTC'."""
    return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
