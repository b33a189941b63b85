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
        sender = ctx.sender()
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
            queue = list(tree.batches(unsettled, size))
            sent = 0
            while queue:
                batch = queue.pop(0)
                fn = self._batch_fn(round_id, batch)
                estimate = sender.estimate_gas(fn, "estimating a settle batch")
                if estimate > target and len(batch.leaves) > 1:
                    half = len(batch.leaves) // 2
                    queue[:0] = [tree.multiproof(batch.leaves[:half]), tree.multiproof(batch.leaves[half:])]
                    continue
                gas_limit = min(target * 2, estimate * 6 // 5)
                if self.tx_gas_cap:
                    if estimate > self.tx_gas_cap:
                        raise OperatorError(f"round {round_id}: settling model {batch.leaves[0].model_id} alone needs "
                                            f"{estimate} gas, above the per-transaction cap of {self.tx_gas_cap} "
                                            "(--tx-gas-cap); raise the cap to what the chain allows")
                    gas_limit = min(gas_limit, int(self.tx_gas_cap))
                receipt = ctx.transact(fn, f"settling {len(batch.leaves)} stakes of round {round_id}", round_id,
                                       "settle:sent", gas=gas_limit)
                self.last_settle_gas.append((len(batch.leaves), int(receipt["gasUsed"])))
                self._check_batch(round_id, receipt, batch.leaves, stakes, info)
                sent += 1
                ctx.point("settle:batch")
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

    def _check_batch(self, round_id: int, receipt: Receipt, batch: Sequence[Leaf], stakes: dict,
                     info: RoundState) -> None:
        """Each StakeSettled event of the receipt must match its leaf and the payout arithmetic."""
        by_model = {x.model_id: x for x in batch}
        for args in self.ctx.calls.receipt_events(receipt, "StakeSettled"):
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
