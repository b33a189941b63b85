"""World builders shared by the off-chain tests and the benchmarks (issue 12, item 6).

One place deploys a tournament world on an Anvil with the standard roles (anvil test accounts:
admin 0, operator 1, guardian 2, signers 7-9 at 2-of-3), funds participants, opens a round with
its live ids, stakes models, and runs a round through the operator (`Harness`). The fixtures in
tests/conftest.py (`deployed`) and tests/operator/conftest.py (`harness`) are thin wrappers over
it, and bench/gas_bench.py and bench/scale_bench.py build their worlds with it, so the
benchmarks measure the same world the tests check. Imported as `tests.worlds` (the repository
root is on sys.path under pytest and under `python -m bench...`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3

from tournament.chain.client import Deployment, Transactor, nmr_contract, tournament_contract
from tournament.chain.deploy import deploy_tournament
from tournament.chain.devchain import chain_now, fund_eth, increase_time
from tournament.chain.keys import anvil_test_accounts
from tournament.operator.pipeline import Operator
from tournament.protocol import payout as payout_math
from tournament.protocol import scoring
from tournament.protocol.constants import WEI_PER_NMR as NMR

DAY = 86_400
N_IDS = 120
ADMIN, OPERATOR, GUARDIAN = 0, 1, 2
SIGNERS = slice(7, 10)          # anvil test accounts 7, 8, 9
THRESHOLD = 2
REWARD_POOL_WEI = 100_000 * NMR


@dataclass
class DeployedWorld:
    w3: Web3
    rpc_url: str
    deployment: Deployment
    deployments_dir: Optional[str]
    tournament: object
    nmr: object
    keys: list  # anvil test accounts (LocalAccount)
    signers: Optional[list] = None  # LocalAccounts of the signer set when not the standard 7-9

    @property
    def admin(self):
        return self.keys[ADMIN]

    @property
    def operator(self):
        return self.keys[OPERATOR]

    @property
    def guardian(self):
        return self.keys[GUARDIAN]

    @property
    def signer_keys(self):
        return self.signers if self.signers is not None else self.keys[SIGNERS]

    def transactor(self, account, **kwargs) -> Transactor:
        kwargs.setdefault("receipt_timeout_s", 30)
        return Transactor(self.w3, account, **kwargs)


def deploy_world(rpc_url: str, *, deployments_dir: Optional[Path] = None, signers: Optional[Sequence] = None,
                 threshold: int = THRESHOLD, reward_pool_wei: int = REWARD_POOL_WEI,
                 rpc_timeout_s: int = 60) -> DeployedWorld:
    """NMR and the tournament deployed with tournament.chain.deploy (as scripts/deploy.py and the demo
    do) on the node at `rpc_url`, with the standard roles. `signers` (LocalAccounts) replaces the
    standard 7-9 signer set; without `deployments_dir` the deployment file is not written."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": rpc_timeout_s}))
    keys = anvil_test_accounts(10)
    signer_accounts = list(signers) if signers is not None else keys[SIGNERS]
    deployment = deploy_tournament(
        w3, Transactor(w3, keys[ADMIN]), operator=keys[OPERATOR].address, guardian=keys[GUARDIAN].address,
        signers=[k.address for k in signer_accounts], threshold=threshold, config="seed",
        reward_pool_wei=reward_pool_wei, deployments_dir=deployments_dir, save=deployments_dir is not None,
    )
    return DeployedWorld(w3, rpc_url, deployment, None if deployments_dir is None else str(deployments_dir),
                         tournament_contract(w3, deployment), nmr_contract(w3, deployment), keys,
                         None if signers is None else signer_accounts)


def fund_participant(world: DeployedWorld, account, deposit_wei: int, *, admin: Optional[Transactor] = None,
                     approve_wei: Optional[int] = None, eth: bool = True) -> Transactor:
    """ETH for gas (unless `eth` is False: anvil's own test accounts have it), `deposit_wei` NMR from
    the admin, approved and deposited into the tournament. Returns the participant's Transactor."""
    admin = admin or world.transactor(world.admin)
    if eth:
        fund_eth(world.w3, account.address)
    admin.transact(world.nmr.functions.transfer(account.address, deposit_wei), "funding a participant")
    sender = Transactor(world.w3, account, receipt_timeout_s=30, poll_s=0.01)
    sender.transact(world.nmr.functions.approve(world.tournament.address,
                                                deposit_wei if approve_wei is None else approve_wei), "approve")
    sender.transact(world.tournament.functions.deposit(deposit_wei), "deposit")
    return sender


def create_model(world: DeployedWorld, sender: Transactor, name: str) -> int:
    receipt = sender.transact(world.tournament.functions.createModel(name), "createModel")
    return int(world.tournament.events.ModelCreated().process_receipt(receipt)[0]["args"]["modelId"])


def live_ids_file(live_ids: Sequence[str]) -> bytes:
    """The published live_ids.csv whose keccak256 is openRound's liveIdsHash (v2)."""
    return ("id\n" + "".join(f"{i}\n" for i in live_ids)).encode()


def open_round(world: DeployedWorld, round_id: int, live_ids_hash: bytes, close_in_s: int, resolve_in_s: int,
               *, operator: Optional[Transactor] = None):
    """openRound straight on the contract (the operator's Operator.open_round also publishes the
    file); close and resolve times are relative to the chain's latest block. Returns the receipt."""
    operator = operator or world.transactor(world.operator)
    now = chain_now(world.w3)
    return operator.transact(world.tournament.functions.openRound(
        round_id, now + close_in_s, now + resolve_in_s, live_ids_hash), "open round")


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
    """A round factory on a DeployedWorld: participants, models, synthetic files, stakes, and the
    operator; predicts every wallet to the wei with the protocol's payout arithmetic, independently
    of the operator's code path."""

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
            sender = fund_participant(self.world, account, deposit_wei, admin=self.admin)
            ids = [create_model(self.world, sender, f"m{i}-{n}") for n in range(models_each)]
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

    def run_round(self, op: Operator, plan: RoundPlan) -> dict:
        """The whole round through the operator: open, stake, resolve, propose, challenge window,
        settle; then every wallet checked to the wei (returns the credits)."""
        self.open_and_stake(op, plan)
        self.to_resolvable(plan)
        op.run(plan.round_id, plan.targets_path)
        self.past_challenge()
        op.run(plan.round_id)
        return self.check_wallets(plan)


def mixed_kinds(count: int) -> list:
    """`count` models: mostly valid, every kind of invalid at least once when count >= 10."""
    bad = ["constant", "missing_ids", "no_file", "hash_mismatch", "out_of_range"]
    kinds = ["valid"] * count
    for i, kind in enumerate(bad):
        position = 3 + i * max(1, (count - 4) // len(bad))
        if position < count:
            kinds[position] = kind
    return kinds
