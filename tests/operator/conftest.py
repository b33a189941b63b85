"""A round factory for the operator tests: participants, models, synthetic files and stakes.

`harness` (module scope, on the `deployed` chain of tests/conftest.py) funds participant
accounts made with eth_account, creates their models, writes prediction files into a
content-addressed FolderSource dir, stakes on them, and predicts every wallet to the wei with
the protocol's payout arithmetic, independently of the operator's code path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from eth_account import Account
from eth_hash.auto import keccak

from tournament.chain.client import Transactor
from tournament.chain.devchain import chain_now, fund_eth, increase_time
from tournament.operator.pipeline import Operator
from tournament.protocol import payout as payout_math
from tournament.protocol import scoring
from tournament.protocol.constants import WEI_PER_NMR as NMR

DAY = 86_400
N_IDS = 120


@dataclass
class ModelSpec:
    model_id: int
    owner: object               # LocalAccount
    stake_wei: int
    corr_mult: int
    kind: str                   # valid | constant | missing_ids | out_of_range | no_file | hash_mismatch
    raw: bytes = b""
    predictions: Optional[np.ndarray] = None


@dataclass
class RoundPlan:
    round_id: int
    live_ids: list
    targets: np.ndarray
    targets_path: Path
    specs: list = field(default_factory=list)
    wallets_before: dict = field(default_factory=dict)
    supply_before: int = 0

    def expected(self, targets: Optional[np.ndarray] = None, clip_bps=2500, threshold_wei=72_000 * NMR):
        """(credit per model, total burned) from scratch: scores with tournament.protocol.scoring, payout mirror."""
        t = self.targets if targets is None else targets
        valid = [s for s in self.specs if s.kind == "valid"]
        scored_at_risk = sum(s.stake_wei for s in valid)   # v2: only SCORED stakes count toward pf
        pf = payout_math.payout_factor_wei(scored_at_risk, threshold_wei)
        corr_nanos, mmc_nanos = {}, {}
        if valid:
            preds = np.column_stack([s.predictions for s in valid])
            corr, mmc = scoring.score_round(preds, t, np.array([float(s.stake_wei) for s in valid]))
            for s, c, m in zip(valid, scoring.to_nanos(corr), scoring.to_nanos(mmc)):
                corr_nanos[s.model_id], mmc_nanos[s.model_id] = int(c), int(m)
        credits, burned = {}, 0
        for s in self.specs:
            status = 1 if s.kind == "valid" else 2
            credit, burn, _ = payout_math.settle_amounts(
                s.stake_wei, status, corr_nanos.get(s.model_id, 0), mmc_nanos.get(s.model_id, 0),
                s.corr_mult, 0, pf, clip_bps)
            credits[s.model_id] = credit
            burned += burn
        return credits, burned, corr_nanos


class Harness:
    def __init__(self, world, tmp: Path):
        self.world = world
        self.w3 = world.w3
        self.t = world.tournament
        self.nmr = world.nmr
        self.admin = world.transactor(world.admin)
        self.source_dir = tmp / "store"
        self.source_dir.mkdir()
        self.tmp = tmp
        self.owners = []
        self.models_of: dict[str, list[int]] = {}
        self.rng = np.random.default_rng(7)
        self._next_round = 1

    def tx(self, account) -> Transactor:
        return Transactor(self.w3, account, receipt_timeout_s=30, poll_s=0.01)

    def add_owners(self, count: int, models_each: int, deposit_wei: int = 200_000 * NMR):
        start = len(self.owners)
        for i in range(start, start + count):
            account = Account.from_key(keccak(f"operator-test-owner-{i}".encode()))
            fund_eth(self.w3, account.address)
            self.admin.transact(self.nmr.functions.transfer(account.address, deposit_wei), "funding an owner")
            sender = self.tx(account)
            sender.transact(self.nmr.functions.approve(self.t.address, deposit_wei), "approve")
            sender.transact(self.t.functions.deposit(deposit_wei), "deposit")
            ids = []
            for _ in range(models_each):
                receipt = sender.transact(self.t.functions.createModel(f"m{i}-{len(ids)}"), "createModel")
                ids.append(int(self.t.events.ModelCreated().process_receipt(receipt)[0]["args"]["modelId"]))
            self.owners.append(account)
            self.models_of[account.address] = ids

    def all_models(self):
        return [(owner, m) for owner in self.owners for m in self.models_of[owner.address]]

    def operator(self, work: Path, **kwargs) -> Operator:
        w = self.world
        return Operator(self.w3, w.deployment, w.operator, w.signer_keys, work, self.source_dir,
                        poll_s=0.01, receipt_timeout_s=30, **kwargs)

    def new_round_id(self) -> int:
        rid = self._next_round
        self._next_round += 1
        return rid

    def plan_round(self, kinds: list, stake_wei=None, round_id=None) -> RoundPlan:
        """Files and stakes for one model per kind (models taken in order from the owners)."""
        rid = round_id or self.new_round_id()
        live_ids = [f"n{keccak(f'{rid}-{i}'.encode()).hex()[:12]}" for i in range(N_IDS)]
        targets = self.rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=N_IDS)
        targets_path = self.tmp / f"targets-{rid}.csv"
        targets_path.write_text("id,target\n" + "".join(f"{i},{t}\n" for i, t in zip(live_ids, targets)))
        plan = RoundPlan(rid, live_ids, targets, targets_path)
        models = self.all_models()
        assert len(kinds) <= len(models), "add more owners"
        mults = [50, 300, 100, 175, 299, 51]
        for n, (kind, (owner, model_id)) in enumerate(zip(kinds, models)):
            stake = stake_wei(n) if stake_wei else (500 + 37 * n) * NMR
            spec = ModelSpec(model_id, owner, stake, mults[n % len(mults)], kind)
            signal = self.rng.uniform(-1.0, 1.0)
            preds = np.clip(0.5 + signal * (targets - 0.5) + self.rng.normal(0, 0.3, N_IDS), 0.0, 1.0)
            if n % 7 == 0:      # strong signal: hits the clip (corr x 3 > 25%)
                preds = np.clip(targets + self.rng.normal(0, 0.05, N_IDS), 0, 1)
            if n % 11 == 0:     # strongly wrong: burns at the clip
                preds = np.clip(1 - targets + self.rng.normal(0, 0.05, N_IDS), 0, 1)
            rows = list(zip(live_ids, preds))
            if kind == "constant":
                rows = [(i, 0.5) for i in live_ids]
            elif kind == "missing_ids":
                rows = rows[5:]
            elif kind == "out_of_range":
                rows[3] = (rows[3][0], 1.5)
            spec.raw = ("id,prediction\n" + "".join(f"{i},{float(p)!r}\n" for i, p in rows)).encode()
            spec.predictions = preds
            commitment = keccak(spec.raw)
            if kind == "hash_mismatch":
                # the store holds other bytes under the committed name (a corrupted or swapped file)
                (self.source_dir / ("0x" + commitment.hex())).write_bytes(spec.raw.replace(b"\n", b"\r\n"))
            elif kind != "no_file":
                (self.source_dir / ("0x" + commitment.hex())).write_bytes(spec.raw)
            plan.specs.append(spec)
        return plan

    def open_and_stake(self, op: Operator, plan: RoundPlan) -> None:
        now = chain_now(self.w3)
        op.open_round(plan.round_id, now + DAY, now + 3 * DAY, plan.live_ids)
        self.stake(plan)

    def stake(self, plan: RoundPlan) -> None:
        for spec in plan.specs:
            self.tx(spec.owner).transact(
                self.t.functions.stake(plan.round_id, spec.model_id, spec.stake_wei, spec.corr_mult, 0,
                                       keccak(spec.raw)), "stake")
        plan.wallets_before = {o.address: self.t.functions.balanceOf(o.address).call() for o in self.owners}
        plan.supply_before = self.nmr.functions.totalSupply().call()

    def to_resolvable(self, plan: RoundPlan) -> None:
        info = self.t.functions.getRound(plan.round_id).call()
        increase_time(self.w3, max(0, info[1] - chain_now(self.w3)) + 1)

    def past_challenge(self) -> None:
        increase_time(self.w3, DAY + 1)

    def check_wallets(self, plan: RoundPlan, targets: Optional[np.ndarray] = None) -> dict:
        """Every owner's wallet to the wei, the supply, and the settled state."""
        credits, burned, corr_nanos = plan.expected(targets)
        expected = dict(plan.wallets_before)
        for spec in plan.specs:
            expected[spec.owner.address] += credits[spec.model_id]
        for owner in self.owners:
            assert self.t.functions.balanceOf(owner.address).call() == expected[owner.address], owner.address
        assert self.nmr.functions.totalSupply().call() == plan.supply_before - burned
        assert self.t.functions.phase(plan.round_id).call() == 7  # Settled
        settled = self.t.events.StakeSettled().get_logs(
            from_block=0, argument_filters={"roundId": plan.round_id})
        assert sorted(int(e["args"]["modelId"]) for e in settled) == sorted(s.model_id for s in plan.specs)
        for e in settled:  # exactly once each, and the posted scores are the recomputed ones
            spec_kind = next(s.kind for s in plan.specs if s.model_id == e["args"]["modelId"])
            assert e["args"]["status"] == (1 if spec_kind == "valid" else 2)
            if spec_kind == "valid":
                assert e["args"]["corr"] == corr_nanos[e["args"]["modelId"]]
        return credits


@pytest.fixture(scope="module")
def harness(deployed, tmp_path_factory):
    return Harness(deployed, tmp_path_factory.mktemp("operator"))


def mixed_kinds(count: int) -> list:
    """`count` models: mostly valid, every kind of invalid at least once when count >= 10."""
    bad = ["constant", "missing_ids", "no_file", "hash_mismatch", "out_of_range"]
    kinds = ["valid"] * count
    for i, kind in enumerate(bad):
        position = 3 + i * max(1, (count - 4) // len(bad))
        if position < count:
            kinds[position] = kind
    return kinds


@pytest.fixture
def kinds():
    return mixed_kinds
