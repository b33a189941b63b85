"""What the explorer's pages say, decided without I/O: honest round phases, decoded values, search.

The routes (tournament.auditor.explorer.app) read the chain and the artifacts; this module turns
what they read into what a person sees, so every rule here is testable on plain records:
- `round_status`: the phase as it really is (a round closed by refunds is "Refunded", a vetoed
  attempt is "Vetoed" with its reason) and an audit label that never shows a green PASS where
  there was nothing to audit ("pending");
- `cell`: one decoded event or call argument as text (NMR amounts in NMR, times in UTC,
  scores as decimals, statuses by name, roles by name) with a link where it names something;
- `classify_query`: what a search box entry can be (address, transaction, round, model).
Pure: no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Optional

from eth_utils import keccak

from tournament.auditor.verify import AuditReport
from tournament.auditor.views import ChainView
from tournament.protocol import units

__all__ = ["Cell", "ROLE_NAMES", "RoundStatus", "Query", "cell", "classify_query", "nmr", "round_status",
           "score", "short", "utc"]


# Argument and field names (events, calls, the configuration) by what their numbers mean.
NMR_FIELDS = frozenset({"amount", "total", "stake", "payout", "burned", "rewards", "reserve", "reserveReleased",
                        "scoredAtRisk", "value", "stakeThreshold", "minStake", "totalAtRisk", "rewardsPaid",
                        "closedAmount", "stakeWei", "scoredAtRiskWei", "stakeThresholdWei"})
TIME_FIELDS = frozenset({"closeTime", "resolveTime", "challengeEnd", "receivedAt", "deadline"})
SCORE_FIELDS = frozenset({"corr", "mmc", "corrNanos", "mmcNanos"})
MULT_FIELDS = frozenset({"corrMult", "mmcMult", "corrMultMin", "corrMultMax", "mmcMultMin", "mmcMultMax"})
DURATION_FIELDS = frozenset({"challengePeriod", "resultsTimeout", "settleTimeout", "minResolutionDelay"})
ADDRESS_FIELDS = frozenset({"owner", "guardian", "funder", "account", "sender", "to", "from", "token",
                            "signers"})
STATUS_NAMES = {1: "SCORED", 2: "INVALID"}
ROLE_NAMES = {"0x" + bytes(32).hex(): "DEFAULT_ADMIN_ROLE",
              **{"0x" + keccak(text=name).hex(): name
                 for name in ("OPERATOR_ROLE", "GUARDIAN_ROLE", "RECEIPT_ROLE")}}


def nmr(amount_wei: Optional[int], digits: int = 4) -> str:
    """Wei as NMR with `digits` decimals, exact (no floats), '-' when unknown."""
    return units.format_nmr(amount_wei, digits, grouping=True)


def nmr_exact(amount_wei: Optional[int]) -> str:
    """Wei as NMR with every digit that is not zero (18 decimals at most): for tooltips and audits."""
    return units.format_nmr(amount_wei, grouping=True)


def score(nanos: Optional[int]) -> str:
    return "-" if nanos is None else f"{nanos / 1e9:+.6f}"


def utc(timestamp: Optional[int]) -> str:
    """A chain timestamp as a UTC date and time (the chain clock, which the demo moves)."""
    if not timestamp:
        return "-"
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: Optional[int]) -> str:
    """Seconds as '1d 2h' (days, hours, minutes, seconds; only the parts that are not zero)."""
    if seconds is None:
        return "-"
    left, parts = int(seconds), []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"


def short(text: Any, keep: int = 10) -> str:
    text = str(text)
    return text if len(text) <= keep + 4 else f"{text[:keep]}…{text[-4:]}"


# ------------------------------------------------------------------ honest phases

@dataclass(frozen=True)
class RoundStatus:
    """How a round is shown: its phase as a person would name it, why, and the audit's label."""

    phase: str          # Open, Closed, Resolvable, Proposed, Accepted, Vetoed, Refunding, Refunded, Settled, Failed
    detail: str         # one sentence: what is happening and what comes next
    audit: str          # pending | PASS | FAIL
    audit_detail: str   # why that label

    @property
    def css(self) -> str:
        return {"PASS": "PASS", "FAIL": "FAIL"}.get(self.audit, "pending")


def round_status(view: Optional[ChainView], report: Optional[AuditReport], error: str = "",
                 has_artifacts: bool = False) -> RoundStatus:
    """The round's honest phase and audit label (see the module docstring). `error` is why the round
    could not be read or audited at all: the round is then shown as failed with that reason."""
    if view is None or report is None:
        return RoundStatus("Failed", f"this round could not be read: {error or 'unknown error'}", "FAIL",
                           error or "the round could not be audited")
    phase, detail = _phase(view)
    if report.findings:
        first = report.findings[0]
        more = f" (and {len(report.findings) - 1} more)" if len(report.findings) > 1 else ""
        return RoundStatus(phase, detail, "FAIL", f"{first}{more}")
    audited = view.accepted is not None or bool(view.settled) or bool(view.refunds)
    if not audited:
        why = ("the last attempt was vetoed: nothing to recompute until new results are proposed"
               if view.vetoes and view.proposals else "no results proposed yet: nothing to audit")
        return RoundStatus(phase, detail, "pending", why)
    if view.accepted is None:   # refunds only: the refunds and the supply were checked
        return RoundStatus(phase, detail, "PASS", "every refund returned its stake in full, no burn, no reward")
    source = "the published artifacts" if has_artifacts else "the chain"
    return RoundStatus(phase, detail, "PASS", f"every check passed against {source}")


def _phase(view: ChainView) -> tuple[str, str]:
    staked = len(view.stakes)
    refunded = len(view.refunds)
    settled = len(view.settled)
    proposal = view.accepted
    if view.phase == "Settled":
        if proposal is None:
            return "Refunded", (f"closed by refunds: no results were accepted in time; {refunded} stake(s) "
                                "refunded in full, no burn, no reward")
        tail = f", {refunded} refunded after the settle timeout" if refunded else ""
        return "Settled", f"{settled} stake(s) settled{tail}"
    if view.phase == "Refunding":
        return "Refunding", (f"no results by the deadline: every stake may be refunded in full by anyone; "
                             f"{refunded} of {staked} refunded so far")
    if view.vetoes and view.proposals and proposal is None:
        last = view.vetoes[-1]
        return "Vetoed", (f"attempt {last.attempt} vetoed by the guardian: {last.reason}; waiting for new "
                          f"results (attempt {last.attempt + 1})")
    if view.phase == "Proposed" and proposal is not None:
        return "Proposed", f"results of attempt {proposal.attempt} posted; challenge window until " \
                           f"{utc(proposal.challenge_end)} (tournament clock)"
    if view.phase == "Accepted":
        tail = f"; {refunded} refunded" if refunded else ""
        return "Accepted", f"results accepted: {settled} of {staked} stake(s) settled{tail}"
    if view.phase == "Open":
        return "Open", f"staking open until {utc(view.close_time)}"
    if view.phase == "Closed":
        return "Closed", f"stakes fixed; resolves at {utc(view.resolve_time)}"
    if view.phase == "Resolvable":
        return "Resolvable", "waiting for the signers' results"
    return view.phase, ""


# ------------------------------------------------------------------ decoded values

@dataclass
class Cell:
    """One value as shown: text, an optional link, the exact raw value as a tooltip."""

    text: str
    href: str = ""
    title: str = ""
    items: list[Cell] = field(default_factory=list)   # a list argument (signers, model ids)
    mono: bool = False


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith("0x") else "0x" + text


def _is_address(value: Any) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"0x[0-9a-fA-F]{40}", value))


def cell(name: str, value: Any) -> Cell:
    """A decoded argument `name` = `value` as a person reads it."""
    if isinstance(value, (list, tuple)) and not isinstance(value, (bytes, bytearray)):
        return Cell(f"{len(value)} item(s)", items=[cell(name.rstrip("s") if name != "signers" else "owner", v)
                                                    for v in value])
    if isinstance(value, (bytes, bytearray)):
        text = _hex(value)
        if name == "role":
            return Cell(ROLE_NAMES.get(text, text), title=text, mono=text not in ROLE_NAMES)
        return Cell(text, mono=True)
    if isinstance(value, bool):
        return Cell("yes" if value else "no")
    if isinstance(value, int):
        if name in NMR_FIELDS:
            return Cell(f"{nmr(value)} NMR", title=f"{nmr_exact(value)} NMR = {value} wei")
        if name in TIME_FIELDS:
            return Cell(utc(value), title=str(value))
        if name in SCORE_FIELDS:
            return Cell(score(value), title=f"{value} nanos")
        if name in MULT_FIELDS:
            return Cell(f"{value / 100:.2f}×", title=f"{value} hundredths")
        if name in DURATION_FIELDS:
            return Cell(duration(value), title=f"{value} s")
        if name == "clipBps":
            return Cell(f"{value / 100:.2f}% of the stake", title=f"{value} bps")
        if name == "status":
            return Cell(STATUS_NAMES.get(value, str(value)), title=str(value))
        if name == "payoutFactor":
            return Cell(f"{value / 1e18:.6f}", title=f"{value} (1e18 = 1)")
        if name in ("roundId", "round"):
            return Cell(str(value), href=f"/round/{value}")
        if name in ("modelId", "model", "modelIds"):
            return Cell(str(value), href=f"/model/{value}")
        return Cell(str(value))
    if _is_address(value):
        return Cell(str(value), href=f"/address/{value}", mono=True)
    text = str(value)
    if name == "role" and text in ROLE_NAMES:
        return Cell(ROLE_NAMES[text], title=text)
    return Cell(text, mono=text.startswith("0x"))


def named(components: list[dict], value: Any) -> Any:
    """A decoded ABI tuple as {component name: value} (recursively; lists of tuples too)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, (list, tuple)) and len(components) == len(value):
        return {c["name"]: value[i] for i, c in enumerate(components)}
    return value


# ------------------------------------------------------------------ search

@dataclass(frozen=True)
class Query:
    """What a search entry can mean: at most one of address / tx; a number can be a round and a model."""

    text: str
    address: Optional[str] = None
    tx_hash: Optional[str] = None
    number: Optional[int] = None
    round_only: bool = False     # "round 3", "r3"
    model_only: bool = False     # "model 3", "m3"
    name: str = ""               # a model name (or part of one) otherwise


def classify_query(text: str) -> Query:
    """`0x` + 40 hex: an address; + 64 hex: a transaction hash; `12`: round 12 or model 12;
    `round 12` / `r12`: the round; `model 12` / `m12`: the model; anything else: a model name."""
    raw = (text or "").strip()
    body = raw[2:] if raw[:2].lower() == "0x" else raw
    if re.fullmatch(r"[0-9a-fA-F]{40}", body) and (raw[:2].lower() == "0x" or not body.isdigit()):
        return Query(raw, address="0x" + body)
    if re.fullmatch(r"[0-9a-fA-F]{64}", body):
        return Query(raw, tx_hash="0x" + body.lower())
    match = re.fullmatch(r"(?i)(round|r|model|m)?\s*#?\s*(\d{1,20})", raw)
    if match:
        kind = (match.group(1) or "").lower()
        return Query(raw, number=int(match.group(2)), round_only=kind in ("round", "r"),
                     model_only=kind in ("model", "m"), name=raw if not kind else "")
    return Query(raw, name=raw)
