"""A tournament with a round in every state the explorer must show honestly, on a fresh anvil.

`build_world(deployed, folder)` plays, the way the operator, the signers, the guardian and the
keepers do it:
  round 1  settled, artifacts published: PASS (SCORED stakes, a constant file, a missing file)
  round 2  settled, but its published targets are constant: FAIL (the bad round)
  round 3  no results in time, one of two stakes refunded: Refunding
  round 4  no results in time, its only stake refunded: Refunded (closed by refunds)
  round 5  results proposed, then vetoed by the guardian with a reason: Vetoed
  round 6  results proposed, challenge window running: Proposed
  round 7  open, one stake, nothing to audit: Open / pending
Participants: keys 3, 4, 5 (deposit 1000 NMR each; key 5 withdraws 100). Each round's
settlement is ONE settle transaction with every leaf. The artifacts live in an operator work
folder: `<folder>/rounds/<id>/artifacts`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from eth_hash.auto import keccak

from tournament.chain.devchain import chain_now, increase_time
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.round_scoring import RoundInputs, RoundScoring, StakeAtClose, score_round
from tournament.protocol.signing import Results, domain_from_eip712_domain_call, sign_results
from tournament.protocol.submissions import submission_hash

N_IDS = 200
VETO_REASON = "targets source disagrees with targets.csv"
VERIFICATION_FILE = "Tournament.standard-input.json"   # in <deployments>/<chainId>/


@dataclass
class World:
    deployed: object
    work: Path
    models: dict[str, int]                      # name -> model id
    owners: dict[str, str]                      # name -> owner address
    txs: dict[str, str] = field(default_factory=dict)
    scored: dict[int, RoundScoring] = field(default_factory=dict)


def _csv(ids: list[str], values: np.ndarray) -> bytes:
    return pd.DataFrame({"id": ids, "prediction": values}).to_csv(index=False, float_format="%.8f").encode()


class _Play:
    def __init__(self, deployed, folder: Path, seed: int = 11):
        self.d = deployed
        self.t, self.nmr = deployed.tournament, deployed.nmr
        self.rng = np.random.default_rng(seed)
        self.ids = [f"id{i:04d}" for i in range(N_IDS)]
        self.live_raw = ("id\n" + "".join(f"{i}\n" for i in self.ids)).encode()
        self.world = World(deployed, folder, {}, {})
        self.round_plans: dict[int, list] = {}

    def send(self, key, fn, what: str) -> str:
        receipt = self.d.transactor(key).transact(fn, what)
        return "0x" + bytes(receipt["transactionHash"]).hex()

    def open(self, round_id: int) -> None:
        now = chain_now(self.d.w3)
        self.send(self.d.operator, self.t.functions.openRound(round_id, now + 3600, now + 3600 + 86_400,
                                                              keccak(self.live_raw)), f"open round {round_id}")

    def predictions(self, kind: str, signal: np.ndarray) -> bytes:
        if kind == "constant":
            return _csv(self.ids, np.full(N_IDS, 0.5))
        values = {"good": signal + self.rng.normal(0, 0.8, N_IDS), "anti": -signal + self.rng.normal(0, 0.5, N_IDS)
                  }.get(kind, self.rng.normal(0, 1, N_IDS))
        return _csv(self.ids, (pd.Series(values).rank().to_numpy() - 0.5) / N_IDS)

    def stake(self, round_id: int, plan: list[tuple[str, int, int, str]], targets: np.ndarray) -> None:
        """plan: (model name, stake NMR, corr multiplier, file kind: good|anti|constant|missing)."""
        signal = targets + self.rng.normal(0, 0.6, N_IDS)
        entries = []
        for name, stake_nmr, corr_mult, kind in plan:
            model_id = self.world.models[name]
            key = self.key_of(name)
            raw = self.predictions(kind, signal)
            self.world.txs[f"stake:{round_id}:{name}"] = self.send(
                key, self.t.functions.stake(round_id, model_id, stake_nmr * NMR, corr_mult, 0, submission_hash(raw)),
                "stake")
            entries.append((model_id, key.address, stake_nmr * NMR, corr_mult, raw, kind))
        self.round_plans[round_id] = entries

    def key_of(self, name: str):
        return next(k for k in self.d.keys if k.address == self.world.owners[name])

    def propose(self, round_id: int, targets: np.ndarray) -> RoundScoring:
        entries = sorted(self.round_plans[round_id])
        stakes = [StakeAtClose(m, owner, amount, corr, 0, submission_hash(raw)) for m, owner, amount, corr, raw, _ in entries]
        uploads = {m: raw for m, _, _, _, raw, kind in entries if kind != "missing"}
        targets_raw = pd.DataFrame({"id": self.ids, "target": targets}).to_csv(index=False).encode()
        scored = score_round(RoundInputs(round_id, stakes, uploads, self.live_raw, targets_raw, []))
        folder = self.world.work / "rounds" / str(round_id) / "artifacts"
        for path, content in scored.artifact_files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(content)
        domain = domain_from_eip712_domain_call(self.t.functions.eip712Domain().call())
        version = int(self.t.functions.signerSetVersion().call())
        attempt = self.attempt(round_id)
        results = Results(round_id, attempt, scored.results_root, scored.leaf_count, scored.scored_at_risk_wei,
                          scored.artifacts_hash, version)
        signatures = sign_results(domain, results, [k.key for k in self.d.signer_keys[:2]])
        self.world.txs[f"propose:{round_id}"] = self.send(
            self.d.operator, self.t.functions.proposeResults(results.as_tuple(), signatures), "propose")
        self.world.scored[round_id] = scored
        return scored

    def attempt(self, round_id: int) -> int:
        from tournament.chain.reader import ChainReader

        return int(ChainReader(self.d.w3, self.d.deployment).round(round_id).attempt)

    def settle_all(self, round_id: int) -> None:
        scored = self.world.scored[round_id]
        (batch,) = scored.tree.batches(batch_size=len(scored.tree.leaves))
        self.world.txs[f"settle:{round_id}"] = self.send(
            self.d.keys[9], self.t.functions.settle(round_id, batch.leaf_values(), batch.proof, batch.proof_flags),
            "settle")

    def targets(self) -> np.ndarray:
        return self.rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=N_IDS)


def build_world(deployed, folder: Path) -> World:
    play = _Play(deployed, folder)
    t, w = play.t, play.world
    participants = [deployed.keys[i] for i in (3, 4, 5)]
    for key in participants:
        play.send(deployed.admin, play.nmr.functions.transfer(key.address, 1000 * NMR), "fund")
        play.send(key, play.nmr.functions.approve(t.address, 1000 * NMR), "approve")
        w.txs[f"deposit:{key.address}"] = play.send(key, t.functions.deposit(1000 * NMR), "deposit")
    w.txs["withdraw"] = play.send(participants[2], t.functions.withdraw(100 * NMR), "withdraw")
    for name, key in (("alpha", participants[0]), ("beta", participants[1]), ("gamma", participants[2]),
                      ("delta", participants[0]), ("constant", participants[1]), ("ghost", participants[2])):
        w.owners[name] = key.address
        receipt = deployed.transactor(key).transact(t.functions.createModel(name), "create model")
        w.models[name] = int(t.events.ModelCreated().process_receipt(receipt)[0]["args"]["modelId"])

    # Rounds 1 and 2: staked together, settled together; round 2's targets are then replaced.
    targets = {1: play.targets(), 2: play.targets()}
    for round_id in (1, 2):
        play.open(round_id)
        play.stake(round_id, [("alpha", 10, 200, "good"), ("beta", 50, 300, "anti"), ("gamma", 20, 100, "good"),
                              ("constant", 5, 100, "constant"), ("ghost", 7, 150, "missing")], targets[round_id])
    increase_time(deployed.w3, 3600 + 86_400 + 1)
    for round_id in (1, 2):
        play.propose(round_id, targets[round_id])
    increase_time(deployed.w3, 86_400 + 1)
    for round_id in (1, 2):
        play.settle_all(round_id)
    bad = w.work / "rounds" / "2" / "artifacts" / "targets.csv"
    bad.write_bytes(pd.DataFrame({"id": play.ids, "target": [0.5] * N_IDS}).to_csv(index=False).encode())

    # Rounds 3 and 4: no results before resolveTime + resultsTimeout; refunds.
    for round_id, plan in ((3, [("alpha", 4, 100, "good"), ("beta", 6, 100, "good")]),
                           (4, [("gamma", 3, 100, "good")])):
        play.open(round_id)
        play.stake(round_id, plan, play.targets())
    increase_time(deployed.w3, 3600 + 86_400 + 14 * 86_400 + 60)
    w.txs["refund:3"] = play.send(deployed.keys[9], t.functions.refund(3, [w.models["alpha"]]), "refund")
    w.txs["refund:4"] = play.send(deployed.keys[9], t.functions.refund(4, [w.models["gamma"]]), "refund")

    # Rounds 5 and 6: proposed; 5 is vetoed, 6 stays in its challenge window.
    targets = {5: play.targets(), 6: play.targets()}
    for round_id in (5, 6):
        play.open(round_id)
        play.stake(round_id, [("alpha", 8, 100, "good"), ("beta", 2, 100, "constant")], targets[round_id])
    increase_time(deployed.w3, 3600 + 86_400 + 1)
    play.propose(5, targets[5])
    w.txs["veto:5"] = play.send(deployed.guardian, t.functions.veto(5, VETO_REASON), "veto")
    play.propose(6, targets[6])

    # Round 7: open, one stake, nothing to audit.
    play.open(7)
    play.stake(7, [("delta", 3, 100, "good")], play.targets())
    return w
