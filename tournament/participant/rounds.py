"""The rounds a participant sees: phase, close and resolve times, its own stakes, live data.

`list_rounds(reader, owner)` reads every RoundOpened event, the rounds' states in one batch
and the owner's stake commitments (all through the ChainReader, at its one pinned block)
and returns one `RoundRow` per round, newest first. `live_data(...)` says where a round's
live data is: the live ids the operator publishes at the submission API
(`GET /v1/rounds/{r}/live_ids`, whose keccak256 must equal the round's liveIdsHash) and
the live features in the data folder or URL. No printing: the CLI formats.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from tournament.chain.reader import ChainReader
from tournament.chain.types import stake_commitments  # noqa: F401 (the commitment rule lives there)

__all__ = ["LiveData", "MyStake", "RoundRow", "list_rounds", "live_data"]

LIVE_FEATURES_NAME = "live.parquet"


@dataclass(frozen=True)
class MyStake:
    model_id: int
    model_name: str
    amount_wei: int
    corr_mult: int           # hundredths
    mmc_mult: int            # hundredths
    submission_hash: str     # 0x-hex


@dataclass(frozen=True)
class RoundRow:
    round_id: int
    phase: str               # Open, Closed, Resolvable, Proposed, Accepted, Refunding, Settled
    close_time: int          # unix seconds (chain time)
    resolve_time: int
    staked_count: int
    total_at_risk_wei: int
    live_ids_hash: str       # 0x-hex ('' on a v1 contract)
    my_stakes: tuple[MyStake, ...] = field(default=())

    @property
    def open(self) -> bool:
        return self.phase == "Open"

    @property
    def my_stake_wei(self) -> int:
        return sum(s.amount_wei for s in self.my_stakes)


@dataclass(frozen=True)
class LiveData:
    round_id: int
    live_ids_url: Optional[str]      # the API's published live ids (None without --api)
    live_features: Optional[str]     # the data folder's / URL's live features (None without --data)
    live_ids_hash: str


def list_rounds(reader: ChainReader, owner: Optional[str] = None, *, include_settled: bool = True,
                limit: Optional[int] = None) -> list[RoundRow]:
    """Every opened round (newest first, at most `limit`), with `owner`'s non-zero stakes in it."""
    opened = sorted({int(e.args["roundId"]) for e in reader.events("RoundOpened")}, reverse=True)
    if limit is not None:
        opened = opened[:limit]
    states = reader.rounds(opened)
    mine: dict[int, list[MyStake]] = {}
    if owner is not None:
        names = {m.model_id: m.name for m in reader.models_of(owner)}
        for (round_id, model_id), (event, commitment) in sorted(reader.owner_commitments(owner).items()):
            total = int(event.args["total"])
            if total == 0 or round_id not in states:
                continue
            mine.setdefault(round_id, []).append(MyStake(
                model_id, names.get(model_id, ""), total, int(event.args["corrMult"]), int(event.args["mmcMult"]),
                "0x" + bytes(commitment).hex()))
    rows = []
    for round_id in opened:
        state = states[round_id]
        if not state.exists:
            continue
        label = state.phase.label
        if not include_settled and label == "Settled" and round_id not in mine:
            continue
        rows.append(RoundRow(round_id, label, state.close_time, state.resolve_time, state.staked_count,
                             state.total_at_risk_wei, "0x" + bytes(state.live_ids_hash).hex() if state.live_ids_hash else "",
                             tuple(mine.get(round_id, ()))))
    return rows


def live_data(row: RoundRow, api_url: Optional[str], data_location: Optional[str]) -> LiveData:
    """Where `row`'s live ids and live features are (URLs or paths; nothing is fetched)."""
    ids = f"{api_url.rstrip('/')}/v1/rounds/{row.round_id}/live_ids" if api_url else None
    features = None
    if data_location:
        base = data_location.rstrip("/")
        features = base if base.endswith((".parquet", ".csv")) else f"{base}/{LIVE_FEATURES_NAME}"
    return LiveData(row.round_id, ids, features, row.live_ids_hash)


# --------------------------------------------------------------------------- provisional scores
PROVISIONAL_PATH = "rounds/{round}/provisional/provisional_scores.csv"


@dataclass(frozen=True)
class ProvisionalScore:
    round_id: int
    model_id: int
    status: str
    corr: Optional[float]
    mmc: Optional[float]
    ids_scored: int
    ids_total: int
    as_of: int
    message: str


class ProvisionalError(ValueError):
    """A provisional scores file that cannot be read (the message says why)."""


def provisional_location(source: str, round_id: int) -> str:
    """Where the operator publishes a round's provisional scores: a URL template with {round},
    a base URL or an operator work folder (+ rounds/<r>/provisional/provisional_scores.csv)."""
    if "{round}" in source:
        return source.format(round=round_id)
    return source.rstrip("/") + "/" + PROVISIONAL_PATH.format(round=round_id)


def parse_provisional(raw: bytes, round_id: int) -> list[ProvisionalScore]:
    """The operator's provisional_scores.csv -> rows of `round_id`; refuses a file not marked provisional."""
    import csv
    import io

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProvisionalError("the provisional scores are not UTF-8 text") from None
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    rows = []
    for record in csv.DictReader(io.StringIO("\n".join(lines))):
        try:
            if record.get("provisional", "").strip().lower() != "true":
                raise ProvisionalError("the file is not marked provisional; refusing to show it as such")
            if int(record["round_id"]) != round_id:
                continue
            rows.append(ProvisionalScore(
                round_id, int(record["model_id"]), record["status"],
                float(record["corr"]) if record["corr"] else None, float(record["mmc"]) if record["mmc"] else None,
                int(record["ids_scored"]), int(record["ids_total"]), int(record["as_of"]), record.get("message") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ProvisionalError):
                raise
            raise ProvisionalError(f"a row of the provisional scores cannot be read ({exc})") from None
    return rows
