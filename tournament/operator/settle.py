"""Step 4, settle: pay out an accepted round in gas-sized batches; refund what the protocol makes refundable.

settle: every unsettled leaf of an Accepted round goes out in `settle` batches sized from two
measured gas estimates to fit a share of the block (a batch that estimates above the target
is split in two); each batch's StakeSettled events are checked against its leaves and the
protocol's payout arithmetic before the next is sent. Stakes still unsettled
`settleTimeout` after acceptance (for example a stake the results left out, or a round
whose artifacts are lost) are refunded in full, as the contract allows anyone to.

refund: every open stake of a Refunding round (no results by resolveTime + resultsTimeout).
Both skip stakes already closed, so reruns are harmless.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from web3.contract.contract import ContractFunction

from tournament.chain.client import TransactionReverted
from tournament.chain.transactor import Receipt
from tournament.chain.types import RoundState
from tournament.operator.common import OperatorError, RoundStatus, phase_label
from tournament.operator.context import StepContext
from tournament.operator.propose import local_results
from tournament.protocol import payout as payout_math
from tournament.protocol.results import Leaf, ResultsTree, SettleBatch

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_BLOCK_GAS_FRACTION", "DEFAULT_TX_GAS_CAP", "GAS_PROBE_LEAVES", "REFUND_BATCH", "Settler", "refund"]

# Settlement batches use at most this share of the block gas limit: room for other users'
# transactions and for estimates that drift between the estimate and the block.
DEFAULT_BLOCK_GAS_FRACTION = 0.5
# The most gas one transaction may use: EIP-7825 (Ethereum mainnet since Fusaka) caps it at 2^24
# whatever the block's limit, and some L2s cap it below their block limit too. Batches are
# sized to the smaller of this and the share of the block (--tx-gas-cap changes it).
DEFAULT_TX_GAS_CAP = 2**24
GAS_PROBE_LEAVES = 16
REFUND_BATCH = 200
# Settle batches sent ahead of their receipts (consecutive nonces): public nodes keep 16
# executable transactions per sender, so stay well under that.
MAX_IN_FLIGHT = 8
# Gas added to the later batches' limit on top of per-leaf gas x 1.25: the round's last batch
# also finalises the round (RoundSettled, reserve release).
SETTLE_GAS_SLACK = 150_000


def _refund_ids(ctx: StepContext, round_id: int, model_ids: Sequence[int], batch_size: int = REFUND_BATCH) -> int:
    for i in range(0, len(model_ids), batch_size):
        part = list(model_ids[i:i + batch_size])
        ctx.transact(ctx.calls.refund(round_id, part),
                     f"refunding {len(part)} stakes of round {round_id}", round_id, "refund:sent")
    return len(model_ids)


def refund(ctx: StepContext, round_id: int, batch_size: int = REFUND_BATCH) -> RoundStatus:
    """Refunds every open stake of a Refunding round (no results in time): nobody's NMR stays stuck."""
    phase = ctx.chain.phase(round_id)
    if phase == "Settled":
        return ctx.status(round_id, ["already settled"], "")
    if phase != "Refunding":
        raise OperatorError(f"round {round_id} is {phase_label(phase)}: refunds need the Refunding phase")
    ctx.settle_pending()
    closed = ctx.chain.closed_models(round_id)
    todo = [s.model_id for s in ctx.chain.stakes_at_close(round_id) if s.model_id not in closed]
    _refund_ids(ctx, round_id, todo, batch_size)
    return ctx.status(round_id, [f"refunded {len(todo)} stakes"], "")


def check_settled(ctx: StepContext, round_id: int) -> None:
    info = ctx.chain.get_round(round_id)
    if info.closed_count != info.staked_count:
        raise OperatorError(f"round {round_id}: {info.closed_count} of {info.staked_count} stakes closed")


class Settler:
    """Settlement of one deployment's accepted rounds; remembers the gas of every batch it sent."""

    def __init__(self, ctx: StepContext, block_gas_fraction: float = DEFAULT_BLOCK_GAS_FRACTION,
                 max_batch_leaves: int | None = None, tx_gas_cap: int | None = DEFAULT_TX_GAS_CAP):
        self.ctx = ctx
        self.block_gas_fraction = block_gas_fraction
        self.tx_gas_cap = tx_gas_cap
        self.max_batch_leaves = max_batch_leaves
        self.last_settle_gas: list[tuple[int, int]] = []   # (leaves, gasUsed) per batch sent
        # With confirmations, one batch at a time: batches sent ahead bury each other under blocks
        # of their own, so a batch would count as confirmed before a short reorg that drops it
        # could be seen; each batch is then confirmed (and re-sent if reorged out) before the next.
        self.max_in_flight = MAX_IN_FLIGHT if ctx.chain.confirmations == 0 else 1

    def _batch_fn(self, round_id: int, batch: SettleBatch) -> ContractFunction:
        return self.ctx.calls.settle(round_id, batch.leaf_values(), batch.proof, batch.proof_flags)

    def batch_size_for(self, round_id: int, tree: ResultsTree, unsettled: Sequence[Leaf]) -> tuple[int, int]:
        """(leaves per batch, gas target) from two measured estimates: g(k) = base + k * per_leaf."""
        block_gas = self.ctx.chain.block_gas_limit
        target = int(block_gas * self.block_gas_fraction)
        if self.tx_gas_cap:
            target = min(target, int(self.tx_gas_cap))
        sender = self.ctx.sender()
        ordered = tree.batches(unsettled, len(unsettled))[0].leaves
        k = min(len(ordered), GAS_PROBE_LEAVES)
        gas_one = sender.estimate_gas(self._batch_fn(round_id, tree.multiproof(ordered[:1])), "estimating settle gas")
        if k > 1:
            gas_k = sender.estimate_gas(self._batch_fn(round_id, tree.multiproof(ordered[:k])), "estimating settle gas")
            per_leaf = max(1, (gas_k - gas_one) // (k - 1))
        else:
            per_leaf = gas_one
        base = max(0, gas_one - per_leaf)
        size = max(1, (target - base) // int(per_leaf * 1.25))  # proofs grow with the batch: keep 25% slack
        if self.max_batch_leaves:
            size = min(size, self.max_batch_leaves)
        log.info("settle gas: ~%d + %d per leaf; block %d, target %d -> %d leaves per batch",
                 base, per_leaf, block_gas, target, size)
        return size, target

    def _refund_available(self, round_id: int, model_ids: Sequence[int]) -> bool:
        """Whether the contract would refund these stakes now (it alone knows its clock, paused time included)."""
        try:
            self.ctx.sender().call(self.ctx.calls.refund(round_id, list(model_ids[:1])),
                                   "checking whether refunds are open")
        except TransactionReverted as exc:
            if exc.error_name == "RefundNotAvailable":
                return False
            raise
        return True

    def settle(self, round_id: int) -> RoundStatus:
        """Settles every unsettled stake of an Accepted round in batches that fit the block;
        refunds the stakes still open after settleTimeout."""
        ctx = self.ctx
        phase = ctx.chain.phase(round_id)
        if phase == "Settled":
            check_settled(ctx, round_id)
            return ctx.status(round_id, ["already settled"], "")
        if phase != "Accepted":
            raise OperatorError(f"round {round_id} is {phase_label(phase)}: settle only once results are Accepted")
        ctx.sender()   # a clear error now if the key is missing
        ctx.settle_pending()
        info = ctx.chain.get_round(round_id)
        stakes = {s.model_id: s for s in ctx.chain.stakes_at_close(round_id)}
        actions: list[str] = []
        try:
            leaves, tree, _ = local_results(ctx, round_id)
            if tree.root != bytes(info.results_root):
                raise OperatorError(f"round {round_id}: the local leaves' root {tree.root_hex} is not the accepted "
                                    f"root 0x{bytes(info.results_root).hex()}; restore the proposed artifacts folder")
        except OperatorError as problem:
            # Without the accepted leaves nothing can be settled; after settleTimeout the
            # stakes can still go back to their owners in full.
            open_ids = sorted(set(stakes) - ctx.chain.closed_models(round_id))
            if not open_ids or not self._refund_available(round_id, open_ids):
                raise
            log.warning("%s; refunding the %d open stakes instead (settleTimeout has passed)", problem, len(open_ids))
            actions.append(f"refunded {_refund_ids(ctx, round_id, open_ids)} stakes unsettled after settleTimeout")
            check_settled(ctx, round_id)
            return ctx.status(round_id, actions, "")
        closed = ctx.chain.closed_models(round_id)
        unsettled = [x for x in leaves if x.model_id not in closed]
        if unsettled:
            size, target = self.batch_size_for(round_id, tree, unsettled)
            sent = self._send_batches(round_id, tree, list(tree.batches(unsettled, size)), target, stakes, info)
            actions.append(f"settled {len(unsettled)} stakes in {sent} batch(es)")
        if ctx.chain.phase(round_id) != "Settled":
            # Every leaf is settled, yet stakes remain open: they are not in the results.
            left = sorted(set(stakes) - ctx.chain.closed_models(round_id))
            if left and self._refund_available(round_id, left):
                actions.append(f"refunded {_refund_ids(ctx, round_id, left)} stakes unsettled after settleTimeout")
            else:
                raise OperatorError(f"round {round_id}: every leaf was settled but {len(left)} stake(s) are still "
                                    "open (not in the results); they are refundable settleTimeout after acceptance: "
                                    "rerun settle then")
        check_settled(ctx, round_id)
        ctx.point("settle:done")
        return ctx.status(round_id, actions or ["nothing left to settle"], "")

    def _send_batches(self, round_id: int, tree: ResultsTree, queue: list, target: int, stakes: dict,
                      info: RoundState) -> int:
        """Sends the settle batches with consecutive nonces, up to `max_in_flight` ahead of the
        receipts (no block's wait per batch), then checks every receipt's events in order.

        Safe because batches are independent (disjoint leaves; any order settles the same
        amounts) and one key sends them: a batch that reverts or is dropped stops the step with
        a clear error, and the rerun (settle_pending waits for or cancels what is in flight,
        then the chain says what is still unsettled) sends only the rest. The first batch's gas
        is estimated; later ones get the same per-leaf gas with a margin (an estimate each
        would execute every batch twice).
        """
        ctx, sender = self.ctx, self.ctx.sender()
        folder = ctx.folder(round_id)
        first = queue[0]
        while True:   # the first batch must fit the target; halve it until it does
            estimate = sender.estimate_gas(self._batch_fn(round_id, first), "estimating a settle batch")
            if estimate <= target or len(first.leaves) == 1:
                break
            half = len(first.leaves) // 2
            queue[:1] = [tree.multiproof(first.leaves[:half]), tree.multiproof(first.leaves[half:])]
            first = queue[0]
        if self.tx_gas_cap and estimate > self.tx_gas_cap:
            raise OperatorError(f"round {round_id}: settling model {first.leaves[0].model_id} alone needs "
                                f"{estimate} gas, above the per-transaction cap of {self.tx_gas_cap} "
                                "(--tx-gas-cap); raise the cap to what the chain allows")
        per_leaf = max(1, estimate // len(first.leaves))
        block_gas = max(target, int(ctx.chain.block_gas_limit))
        if self.tx_gas_cap:
            block_gas = min(block_gas, int(self.tx_gas_cap))
        nonce = sender.next_nonce()
        fees = sender.current_fees()
        in_flight: list[tuple[Any, Any]] = []   # (batch, PendingTx), oldest first
        done = 0

        def wait_oldest() -> None:
            nonlocal done
            batch, pending = in_flight.pop(0)
            receipt = sender.wait_receipt(pending)
            self.last_settle_gas.append((len(batch.leaves), int(receipt["gasUsed"])))
            self._check_batch(round_id, receipt, batch.leaves, stakes, info)
            done += 1
            ctx.point("settle:batch")

        try:
            for index, batch in enumerate(queue):
                gas = estimate * 6 // 5 if index == 0 else per_leaf * len(batch.leaves) * 5 // 4 + SETTLE_GAS_SLACK
                gas = min(gas, block_gas)
                description = f"settling {len(batch.leaves)} stakes of round {round_id}"
                pending = sender.send_signed(self._batch_fn(round_id, batch), description, nonce=nonce, gas=gas,
                                             fees=fees)
                folder.note(last_tx={description: "0x" + next(iter(pending.sent)).hex()})
                ctx.point("settle:sent")
                in_flight.append((batch, pending))
                nonce += 1
                if len(in_flight) >= self.max_in_flight:
                    wait_oldest()
            while in_flight:
                wait_oldest()
        finally:
            ctx.chain.refresh()
        return done

    def _check_batch(self, round_id: int, receipt: Receipt, batch: Sequence[Leaf], stakes: dict,
                     info: RoundState) -> None:
        """Each StakeSettled event of the receipt must match its leaf and the payout arithmetic."""
        by_model = {x.model_id: x for x in batch}
        reader = self.ctx.chain.reader   # its eth_abi decoder: web3's process_receipt takes ~3 ms a log
        topic = reader._topic_of_event["StakeSettled"]
        tournament = str(reader.tournament.address).lower()
        settled = [reader._decode(reader.tournament, "StakeSettled", entry).args for entry in receipt["logs"]
                   if str(entry["address"]).lower() == tournament and entry["topics"]
                   and "0x" + bytes(entry["topics"][0]).hex() == topic]
        if len(settled) != len(batch):
            raise OperatorError(f"settle tx 0x{bytes(receipt['transactionHash']).hex()} emitted {len(settled)} "
                                f"StakeSettled events for a batch of {len(batch)} leaves; stop and investigate")
        for args in settled:
            leaf = by_model.get(int(args["modelId"]))
            if leaf is None:
                raise OperatorError(f"settle tx 0x{bytes(receipt['transactionHash']).hex()} settled model "
                                    f"{args['modelId']} which was not in the batch")
            s = stakes[leaf.model_id]
            credit, burned, _reward = payout_math.settle_amounts(
                s.stake_wei, leaf.status, leaf.corr_nanos, leaf.mmc_nanos, s.corr_mult, s.mmc_mult,
                int(info.payout_factor_e18), int(info.config.clip_bps))
            got = (int(args["stake"]), int(args["status"]), int(args["corr"]), int(args["mmc"]),
                   int(args["payout"]), int(args["burned"]))
            want = (s.stake_wei, leaf.status, leaf.corr_nanos, leaf.mmc_nanos, credit - s.stake_wei, burned)
            if got != want:
                raise OperatorError(f"round {round_id} model {leaf.model_id}: StakeSettled {got} differs from the "
                                    f"expected {want}; stop and investigate before settling more")
