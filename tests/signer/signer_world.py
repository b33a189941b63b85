"""A round built in memory for the co-signer tests: no chain, the same inputs the signer reads.

`world` makes 40 live ids, targets, six staked models (five valid files, one constant file
that is INVALID), an upload receipt for every file signed by a RECEIPT_ROLE key, and lays
them out where a signer reads them: a content-addressed submissions folder, the live ids
file, the submission service's receipts list, a published targets folder. `FakeChain`
answers what the chain would (Resolvable, attempt 0, signer set version 1). `publish`
writes an operator's artifacts folder and the matching request: honest by default, or
tampered by the caller.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from eth_hash.auto import keccak

from tournament.chain.keys import LocalDigestSigner, anvil_test_accounts
from tournament.protocol import artifacts as art
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.receipts import SignedReceipt, receipts_to_json
from tournament.protocol.results import ResultsTree, leaves_to_json
from tournament.protocol.signing import Domain, UploadReceipt, sign_receipt
from tournament.signer.chain import RoundOnChain, StakeCommit
from tournament.signer.gather import Sources
from tournament.signer.recompute import recompute
from tournament.signer.service import SignerService
from tournament.targets.store import TargetsStore

ROUND = 1001
CLOSE_TIME = 1_800_000_000
TOURNAMENT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@dataclass
class FakeChain:
    """A SignerChain without a chain: the round as a test sets it."""

    state: RoundOnChain
    receipt_role: set
    chain_id_value: int = 31337

    def chain_id(self) -> int:
        return self.chain_id_value

    def domain(self) -> Domain:
        return Domain(self.chain_id_value, TOURNAMENT)

    def read_round(self, round_id: int) -> RoundOnChain:
        assert round_id == self.state.round_id
        return self.state

    def receipt_signers(self, addresses, block_number):
        return {a for a in addresses if a in self.receipt_role}


@dataclass
class World:
    root: Path
    live_ids_raw: bytes
    targets_raw: bytes
    stakes: tuple
    files: dict
    receipts: list
    chain: FakeChain
    sources: Sources
    signer_account: object
    accounts: list
    counter: list = field(default_factory=lambda: [0])

    def service(self, state_dir: Optional[Path] = None, signer=None) -> SignerService:
        return SignerService(signer or LocalDigestSigner(self.signer_account, "test"), self.chain, self.sources,
                             state_dir or self.root / "signer-state")

    def honest(self):
        return recompute(ROUND, self.stakes, self.files, self.live_ids_raw, self.targets_raw, self.receipts)

    def publish(self, scoring=None, *, edit: Optional[Callable[[dict], None]] = None, leaves=None,
                scored_at_risk: Optional[int] = None, root: Optional[bytes] = None, attempt: int = 0,
                version: int = 1) -> dict:
        """Write an operator's artifacts folder and return the POST /v1/sign payload for it."""
        scoring = scoring or self.honest()
        files = dict(scoring.files)
        if leaves is not None:
            files["leaves.json"] = leaves_to_json(leaves)
        if edit is not None:
            edit(files)
        files.pop(art.MANIFEST_NAME, None)
        manifest = art.build_manifest(ROUND, [art.file_entry(p, b) for p, b in files.items()])
        self.counter[0] += 1
        folder = self.root / f"artifacts-{self.counter[0]}"
        for path, raw in {**files, art.MANIFEST_NAME: manifest}.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(raw)
        the_leaves = list(leaves) if leaves is not None else list(scoring.leaves)
        assert scoring.round_id == ROUND
        if root is None:
            try:
                root = ResultsTree(the_leaves, ROUND).root
            except Exception:  # duplicate leaves: any root will do, the signer's differs
                root = keccak(leaves_to_json(the_leaves))
        sar = scoring.scored_at_risk_wei if scored_at_risk is None else scored_at_risk
        return {"round_id": ROUND, "attempt": attempt, "artifacts_url": f"file://{folder}",
                "results": {"round_id": ROUND, "attempt": attempt, "results_root": "0x" + root.hex(),
                            "leaf_count": len(the_leaves), "scored_at_risk": str(sar),
                            "artifacts_hash": "0x" + art.artifacts_hash(manifest).hex(),
                            "signer_set_version": version}}


def predictions_csv(ids, values) -> bytes:
    return ("id,prediction\n" + "".join(f"{i},{float(v)!r}\n" for i, v in zip(ids, values))).encode()


@pytest.fixture
def world(tmp_path) -> World:
    rng = np.random.default_rng(14)
    accounts = anvil_test_accounts(10)
    ids = [f"n{i:03d}" for i in range(40)]
    live_ids_raw = ("id\n" + "".join(f"{i}\n" for i in ids)).encode()
    targets = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=len(ids))
    targets_raw = ("id,target\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, targets))).encode()
    files, stakes, receipts = {}, [], []
    domain = Domain(31337, TOURNAMENT)
    receipt_key = accounts[5]
    for model_id, stake_nmr in zip(range(11, 17), (10, 20, 30, 40, 50, 60)):
        values = [0.5] * len(ids) if model_id == 16 else list(np.round(rng.random(len(ids)), 6))
        raw = predictions_csv(ids, values)
        files[model_id] = raw
        stakes.append(StakeCommit(model_id, stake_nmr * NMR, keccak(raw), accounts[model_id % 5].address, 200, 0))
        receipt = UploadReceipt(ROUND, model_id, keccak(raw), CLOSE_TIME - 1000 + model_id)
        receipts.append(SignedReceipt(receipt, sign_receipt(receipt_key, domain, receipt)))
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for raw in files.values():
        (submissions / ("0x" + keccak(raw).hex())).write_bytes(raw)
    (tmp_path / "live_ids.csv").write_bytes(live_ids_raw)
    (tmp_path / "service-receipts.json").write_bytes(receipts_to_json(receipts))
    TargetsStore(tmp_path / "targets").publish(ROUND, targets_raw)
    state = RoundOnChain(round_id=ROUND, block_number=100, phase="Resolvable", attempt=0, close_time=CLOSE_TIME,
                         staked_count=len(stakes), live_ids_hash=keccak(live_ids_raw), signer_set_version=1,
                         signers=tuple(a.address for a in accounts[7:10]), threshold=2, stakes=tuple(stakes))
    chain = FakeChain(state, {receipt_key.address})
    sources = Sources(submissions=str(submissions), targets=str(tmp_path / "targets"),
                      live_ids=str(tmp_path / "live_ids.csv"), receipts=str(tmp_path / "service-receipts.json"))
    return World(tmp_path, live_ids_raw, targets_raw, tuple(stakes), files, receipts, chain, sources,
                 accounts[7], accounts)


def set_state(world: World, **changes) -> None:
    world.chain.state = replace(world.chain.state, **changes)
