"""One whole round on any node and any token, for the real-network tests (Hardhat, legacy NMR, reorgs).

`deploy(w3, tmp, token=None)` deploys with tournament.chain.deploy exactly as scripts/deploy.py
does (anvil's well-known keys, which hardhat.config.js uses too: admin 0, operator 1,
guardian 2, participants 3-6, signers 7-9). `RoundWorld` funds the participants with the
deployment's token (a plain ERC-20 transfer, which both tokens have), deposits through the
participant client (so the token's permit and approve rules are the client's), creates two
models per participant, stakes files that score well, badly (burns) and one constant file
(INVALID), and drives the operator pipeline to Settled; `audit` recomputes the round with the
auditor and must PASS.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from eth_hash.auto import keccak
from web3 import Web3

from tournament.auditor.readers import read_artifacts, read_chain_view
from tournament.auditor.verify import verify_round
from tournament.chain.contracts import Deployment
from tournament.chain.deploy import deploy_tournament
from tournament.chain.devchain import chain_now, increase_time
from tournament.chain.keys import anvil_test_accounts
from tournament.chain.token import token_binding
from tournament.chain.transactor import Transactor
from tournament.operator.pipeline import Operator
from tournament.participant.client import Participant
from tournament.protocol.constants import WEI_PER_NMR as NMR

DAY = 86_400
KEYS = anvil_test_accounts(10)


def sender(w3: Web3, account, **kwargs) -> Transactor:
    return Transactor(w3, account, receipt_timeout_s=30, poll_s=0.01, **kwargs)


def deploy(w3: Web3, deployments_dir: Path, *, token: Optional[str] = None, burn_method: Optional[str] = None,
           **kwargs) -> Deployment:
    return deploy_tournament(w3, sender(w3, KEYS[0]), operator=KEYS[1].address, guardian=KEYS[2].address,
                             signers=[k.address for k in KEYS[7:10]], threshold=2, config="seed",
                             reward_pool_wei=50_000 * NMR, deployments_dir=deployments_dir, token=token,
                             burn_method=burn_method, **kwargs)


@dataclass
class Planned:
    round_id: int
    live_ids: list
    targets_path: Path
    models: dict = field(default_factory=dict)   # model_id -> (participant index, stake_wei, kind)


class RoundWorld:
    def __init__(self, w3: Web3, deployment: Deployment, tmp: Path, *, participant_confirmations: int = 0):
        self.w3 = w3
        self.deployment = deployment
        self.tmp = tmp
        self.store = tmp / "store"
        self.store.mkdir(exist_ok=True)
        self.work = tmp / "work"
        self.token = token_binding(w3, deployment.nmr)
        self.admin = sender(w3, KEYS[0])
        self.participants = [Participant(w3, deployment, k, transactor=sender(w3, k, confirmations=participant_confirmations),
                                         confirmations=participant_confirmations) for k in KEYS[3:7]]
        self.confirmations = participant_confirmations
        self.model_ids: list[list[int]] = []
        self.rng = np.random.default_rng(5)

    def operator(self, **kwargs) -> Operator:
        return Operator(self.w3, self.deployment, KEYS[1], KEYS[7:10], self.work, self.store, poll_s=0.01,
                        receipt_timeout_s=30, **kwargs)

    def fund_and_deposit(self, amount_wei: int = 600 * NMR, permit: bool = False) -> None:
        for p in self.participants:
            self.admin.transact(self.token.functions.transfer(p.address, 2 * amount_wei), "funding a participant")
            self.wait_blocks(self.confirmations)   # the participant reads that many blocks below the head
            p.deposit(amount_wei, permit=permit)
            self.model_ids.append([p.create_model(f"{p.address[2:8]}-{n}") for n in range(2)])

    def wait_blocks(self, count: int, timeout_s: float = 30.0) -> None:
        """Waits until `count` more blocks exist (a test's miner thread mines them)."""
        import time
        target = self.w3.eth.block_number + count
        deadline = time.monotonic() + timeout_s
        while self.w3.eth.block_number < target:
            assert time.monotonic() < deadline, "no blocks are being mined"
            time.sleep(0.01)

    def plan(self, round_id: int, op: Operator, n_ids: int = 60) -> Planned:
        live_ids = [f"id{round_id}-{i:03d}" for i in range(n_ids)]
        targets = self.rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=n_ids)
        targets_path = self.tmp / f"targets-{round_id}.csv"
        targets_path.write_text("id,target\n" + "".join(f"{i},{t}\n" for i, t in zip(live_ids, targets)))
        now = chain_now(self.w3)
        op.open_round(round_id, now + 3600, now + 3600 + DAY, live_ids)
        planned = Planned(round_id, live_ids, targets_path)
        kinds = ["good", "bad", "good", "bad", "noise", "bad", "constant", "good"]
        slots = [(i, m) for i, ids in enumerate(self.model_ids) for m in ids]
        for n, ((index, model_id), kind) in enumerate(zip(slots, kinds)):
            if kind == "good":
                preds = np.clip(targets + self.rng.normal(0, 0.1, n_ids), 0, 1)
            elif kind == "bad":
                preds = np.clip(1 - targets + self.rng.normal(0, 0.1, n_ids), 0, 1)
            elif kind == "noise":
                preds = self.rng.uniform(0, 1, n_ids)
            else:
                preds = np.full(n_ids, 0.5)
            raw = ("id,prediction\n" + "".join(f"{i},{float(p)!r}\n" for i, p in zip(live_ids, preds))).encode()
            (self.store / ("0x" + keccak(raw).hex())).write_bytes(raw)
            stake_wei = (20 + 7 * n) * NMR
            p = self.participants[index]
            p.tx.transact(p.calls.stake(round_id, model_id, stake_wei, 300, 0, keccak(raw)), "stake")
            planned.models[model_id] = (index, stake_wei, kind)
        return planned

    def to_resolvable(self, planned: Planned) -> None:
        info = self.participants[0].reader().round(planned.round_id, with_opened_block=False)
        increase_time(self.w3, max(0, info.resolve_time - chain_now(self.w3)) + 1)

    def past_challenge(self) -> None:
        increase_time(self.w3, DAY + 1)

    def audit(self, round_id: int):
        chain = read_chain_view(self.w3, self.deployment, round_id)
        return verify_round(chain, read_artifacts(str(self.work), round_id))

    def burned_wei(self, round_id: int) -> int:
        reader = self.participants[0].reader()
        return sum(int(e.args["burned"]) for e in reader.round_events(round_id).of("StakeSettled"))

    def supply_wei(self) -> int:
        abi = [{"type": "function", "name": "totalSupply", "stateMutability": "view", "inputs": [],
                "outputs": [{"name": "", "type": "uint256"}]}]
        return int(self.w3.eth.contract(address=self.token.address, abi=abi).functions.totalSupply().call())

    def play(self, round_id: int = 1, **operator_kwargs) -> tuple[Planned, int]:
        """A whole round, open to Settled; returns the plan and the NMR supply before settlement."""
        op = self.operator(**operator_kwargs)
        planned = self.plan(round_id, op)
        self.to_resolvable(planned)
        status = op.run(round_id, planned.targets_path)
        assert status.phase == "Proposed", status
        self.past_challenge()
        supply_before = self.supply_wei()
        status = op.run(round_id)
        assert status.phase == "Settled" and status.closed_count == len(planned.models), status
        return planned, supply_before
