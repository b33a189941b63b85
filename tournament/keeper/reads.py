"""The keeper's chain reads, each behind one small function over the shared ChainReader.

Every function reads through `tournament.chain.reader.ChainReader` pinned at the latest block
when it is called (so a read after our own transaction sees it), with batched views and paged
log scans: never one RPC call per stake. The keeper's logic only sees plain values and the
reader's typed records (RoundState, StakeState).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from tournament.admin.connection import TournamentChain
from tournament.chain.client import ChainError
from tournament.chain.reader import BlockSpec, ChainReader
from tournament.chain.types import RoundState


def reader(chain: TournamentChain, block: BlockSpec = "latest") -> ChainReader:
    return ChainReader(chain.w3, chain.deployment, block, _contracts=(chain.tournament, chain.nmr))


@dataclass(frozen=True)
class OpenedRound:
    round_id: int
    block: int


def opened_rounds(chain: TournamentChain, from_block: Optional[int] = None,
                  to_block: Optional[int] = None) -> list[OpenedRound]:
    """Every RoundOpened of the deployment (or from `from_block`) up to `to_block`, in chain order."""
    view = reader(chain, "latest" if to_block is None else int(to_block))
    return [OpenedRound(int(e.args["roundId"]), e.block_number) for e in view.events("RoundOpened", None, from_block)]


def phase(chain: TournamentChain, round_id: int) -> str:
    """The phase's name (None, Open, Closed, Resolvable, Proposed, Accepted, Refunding, Settled)."""
    return reader(chain).phase(int(round_id)).label


def get_round(chain: TournamentChain, round_id: int) -> RoundState:
    return reader(chain).round(int(round_id), with_opened_block=False)


def refundable_at(chain: TournamentChain, round_id: int) -> int:
    """When unsettled stakes of an accepted round become refundable (0 while no results)."""
    return reader(chain).refundable_at(int(round_id))


def _has_function(chain: TournamentChain, name: str) -> bool:
    return any(e.get("type") == "function" and e.get("name") == name for e in chain.tournament.abi)


def tournament_now(chain: TournamentChain) -> int:
    """The tournament clock (protocol v2: it stops while paused); the block time before v2."""
    if _has_function(chain, "tournamentTime"):
        return reader(chain).tournament_time()
    return chain.now()


def to_wall_time(chain: TournamentChain, tournament_time: int) -> int:
    """A tournament-clock deadline as a wall-clock time, assuming no pause from now on."""
    return int(tournament_time) - tournament_now(chain) + chain.now()


def results_deadline(chain: TournamentChain, round_id: int, state: RoundState) -> int:
    """Tournament time from which a round without accepted results is Refunding."""
    if _has_function(chain, "resultsDeadline"):
        return reader(chain).results_deadline(int(round_id))
    return state.resolve_time + state.config.results_timeout_s


def round_stakes(chain: TournamentChain, round_id: int) -> tuple[dict[int, int], set[int]]:
    """(model id -> stake wei of every staked model, models whose stake is closed) at one block.

    Checked against the contract's stakedCount once the round is closed, so an RPC with an
    incomplete log index is an error, not a stake silently left out."""
    view = reader(chain)
    stakes = view.stakes(int(round_id))
    state = view.round(int(round_id), with_opened_block=False)
    if state.phase.value > 1 and len(stakes) != state.staked_count:
        raise ChainError(f"round {round_id}: StakeChanged events show {len(stakes)} staked models but the contract "
                         f"counts {state.staked_count}; the RPC's logs look incomplete, try another RPC")
    return ({m: s.amount_wei for m, s in sorted(stakes.items())}, {m for m, s in stakes.items() if s.closed})


def stake_of(chain: TournamentChain, round_id: int, model_id: int) -> tuple[int, bool]:
    """(stake wei, closed) of one (round, model)."""
    amount, _corr, _mmc, closed = reader(chain).stake_of(int(round_id), int(model_id))
    return amount, closed


def block_gas_limit(chain: TournamentChain) -> int:
    return reader(chain).block_gas_limit


def head_block(chain: TournamentChain) -> int:
    return reader(chain).block_number
