"""The keeper's chain reads, each behind one small function.

These are the only places the keeper reads the chain, so they can be swapped for the shared
block-pinned reader (tournament/chain/reader.py, being written on another branch) without
touching the keeper's logic. Event scans are chunked (fetch_events) and start at the round's
RoundOpened block, never one call per stake.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from tournament.admin.connection import TournamentChain
from tournament.chain.client import PHASES, ChainError, fetch_events


def _struct(value, abi_outputs: Sequence[dict]) -> dict:
    """A web3 tuple as a dict by the ABI's component names (nested tuples too)."""
    out = {}
    for item, part in zip(abi_outputs, value):
        if item["type"] == "tuple":
            part = _struct(part, item["components"])
        out[item["name"]] = part
    return out


@dataclass(frozen=True)
class OpenedRound:
    round_id: int
    block: int


def opened_rounds(chain: TournamentChain, from_block: Optional[int] = None,
                  to_block: Optional[int] = None) -> list[OpenedRound]:
    """Every RoundOpened of the deployment (or from `from_block`), in chain order."""
    start = chain.deployment.deploy_block if from_block is None else from_block
    events = fetch_events(chain.tournament.events.RoundOpened, start, to_block)
    return [OpenedRound(int(e["args"]["roundId"]), int(e["blockNumber"])) for e in events]


def opened_block(chain: TournamentChain, round_id: int) -> int:
    found = fetch_events(chain.tournament.events.RoundOpened, chain.deployment.deploy_block,
                         argument_filters={"roundId": int(round_id)})
    if not found:
        raise ChainError(f"round {round_id} was never opened on the tournament at {chain.tournament.address} "
                         f"(chain id {chain.chain_id})")
    return int(found[0]["blockNumber"])


def phase(chain: TournamentChain, round_id: int) -> str:
    return PHASES[chain.view(chain.tournament.functions.phase(int(round_id)), f"reading round {round_id}'s phase")]


def get_round(chain: TournamentChain, round_id: int) -> dict:
    fn = chain.tournament.functions.getRound(int(round_id))
    return _struct(chain.view(fn, f"reading round {round_id}"), fn.abi["outputs"][0]["components"])


def refundable_at(chain: TournamentChain, round_id: int) -> int:
    """When unsettled stakes of an accepted round become refundable (0 while no results)."""
    return int(chain.view(chain.tournament.functions.refundableAt(int(round_id)), "reading refundableAt"))


def staked_models(chain: TournamentChain, round_id: int, from_block: int) -> dict[int, int]:
    """model id -> stake (wei) of every staked model of the round, from StakeChanged events.

    Checked against the contract's stakedCount once the round is closed, so an RPC with an
    incomplete log index is an error, not a stake silently left out."""
    latest: dict[int, int] = {}
    for event in fetch_events(chain.tournament.events.StakeChanged, from_block,
                              argument_filters={"roundId": int(round_id)}):
        latest[int(event["args"]["modelId"])] = int(event["args"]["total"])
    staked = {m: amount for m, amount in sorted(latest.items()) if amount > 0}
    info = get_round(chain, round_id)
    if phase(chain, round_id) != "Open" and len(staked) != int(info["stakedCount"]):
        raise ChainError(f"round {round_id}: StakeChanged events show {len(staked)} staked models but the contract "
                         f"counts {info['stakedCount']}; the RPC's logs look incomplete, try another RPC")
    return staked


def closed_models(chain: TournamentChain, round_id: int, from_block: int) -> set[int]:
    """Models whose stake in the round was settled or refunded."""
    closed: set[int] = set()
    for event in (chain.tournament.events.StakeSettled, chain.tournament.events.StakeRefunded):
        closed |= {int(e["args"]["modelId"]) for e in fetch_events(
            event, from_block, argument_filters={"roundId": int(round_id)})}
    return closed


def stake_of(chain: TournamentChain, round_id: int, model_id: int) -> tuple[int, bool]:
    """(stake wei, closed) of one (round, model)."""
    (amount, _corr, _mmc), closed = chain.view(chain.tournament.functions.getStake(int(round_id), int(model_id)),
                                              f"reading the stake of model {model_id} in round {round_id}")
    return int(amount), bool(closed)


def block_gas_limit(chain: TournamentChain) -> int:
    from tournament.chain.client import with_retries
    return int(with_retries(lambda: chain.w3.eth.get_block("latest"), "reading the latest block")["gasLimit"])
