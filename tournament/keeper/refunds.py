"""Refunds: what of a round may be refunded now, and refunding it (permissionless, any key with gas).

The contract refunds a stake in full, no burn and no reward, when the round is Refunding (no
results accepted by resolveTime + resultsTimeout on the tournament clock) or when results were
accepted but the stake is still unsettled settleTimeout after acceptance. `refundable_models`
says which stakes qualify, or raises `KeeperError` saying why none does and when one will;
`refund` sends them in batches and returns what was refunded.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Optional

from tournament.admin.connection import TournamentChain
from tournament.chain.calls import Calls
from tournament.chain.client import Transactor
from tournament.keeper import reads
from tournament.protocol.units import format_nmr

log = logging.getLogger(__name__)

DEFAULT_REFUND_BATCH = 200


class KeeperError(RuntimeError):
    """Nothing the keeper can do for this round now; the message says why and when."""


def utc(timestamp: int) -> str:
    return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def refund_open(chain: TournamentChain, round_id: int) -> tuple[bool, str]:
    """(whether refunds are open for the round now, the phase or the reason they are not)."""
    current = reads.phase(chain, round_id)
    if current == "Refunding":
        return True, "Refunding: no results were accepted in time"
    if current == "None":
        return False, (f"round {round_id} was never opened on the tournament at {chain.tournament.address} "
                       f"(chain id {chain.chain_id})")
    info = reads.get_round(chain, round_id)
    if current == "Accepted":
        at = reads.refundable_at(chain, round_id)
        if reads.tournament_now(chain) >= at:
            return True, f"Accepted, and unsettled stakes became refundable at {utc(reads.to_wall_time(chain, at))}"
        return False, (f"round {round_id} is Accepted: settle it (`tournament keeper run --artifacts ...`); "
                       f"stakes still unsettled become refundable at {utc(reads.to_wall_time(chain, at))} "
                       "(settleTimeout after acceptance)")
    if current == "Settled":
        return False, f"round {round_id} is Settled: every stake was already settled or refunded"
    if current == "Proposed":
        at = reads.to_wall_time(chain, info.challenge_end + info.config.settle_timeout_s)
        return False, (f"round {round_id} is Proposed (results posted, challenge window until "
                       f"{utc(reads.to_wall_time(chain, info.challenge_end))}): no refund unless they are vetoed and none are accepted "
                       f"in time, or stakes stay unsettled until about {utc(at)}")
    deadline = reads.to_wall_time(chain, reads.results_deadline(chain, round_id, info))
    return False, (f"round {round_id} is {current}: refunds open if no results are accepted by {utc(deadline)} "
                   "(resolveTime + resultsTimeout; later by any time the tournament spends paused)")


def refundable_models(chain: TournamentChain, round_id: int, model_id: Optional[int] = None) -> list[int]:
    """The model ids whose stakes in the round can be refunded now (all unsettled, or just `model_id`)."""
    is_open, why = refund_open(chain, round_id)
    if not is_open:
        raise KeeperError(why)
    if model_id is not None:
        amount, closed = reads.stake_of(chain, round_id, model_id)
        if amount == 0:
            raise KeeperError(f"model {model_id} has no stake in round {round_id}")
        if closed:
            raise KeeperError(f"the stake of model {model_id} in round {round_id} was already settled or refunded")
        return [int(model_id)]
    staked, closed_ids = reads.round_stakes(chain, round_id)
    return [m for m in staked if m not in closed_ids]


@dataclass
class RefundResult:
    round_id: int
    refunded: dict[int, int]  # model id -> wei
    transactions: list[str]

    def summary(self) -> str:
        if not self.refunded:
            return f"round {self.round_id}: nothing left to refund"
        total = sum(self.refunded.values())
        return (f"round {self.round_id}: refunded {len(self.refunded)} stake(s), {format_nmr(total, unit=True)} "
                f"in {len(self.transactions)} transaction(s)")


def refund(chain: TournamentChain, tx: Transactor, round_id: int, model_ids: Sequence[int],
           batch_size: int = DEFAULT_REFUND_BATCH) -> RefundResult:
    """Refunds the stakes of `model_ids` in batches; reads what each transaction refunded from its events."""
    refunded: dict[int, int] = {}
    hashes: list[str] = []
    ids = list(model_ids)
    calls = Calls(chain.w3, chain.deployment)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        receipt = tx.transact(calls.refund(int(round_id), chunk),
                              f"refunding {len(chunk)} stake(s) of round {round_id}")
        hashes.append("0x" + bytes(receipt["transactionHash"]).hex())
        for args in calls.receipt_events(receipt, "StakeRefunded"):
            refunded[int(args["modelId"])] = int(args["amount"])
    log.info("round %s: refunded %d stakes", round_id, len(refunded))
    return RefundResult(int(round_id), refunded, hashes)
