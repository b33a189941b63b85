"""A settled round on a fresh anvil, built the way the operator does it, for the auditor's chain tests.

`settled_round` (module scope, on tests/conftest.py's `deployed`) runs one whole round, funding,
opening and creating models with tests/worlds.py's builders:
four participants' models stake (one valid file each for three of them, plus a constant file,
a missing file and a file that differs from its commitment), the round resolves, the one
round scoring (tournament.protocol.round_scoring.score_round) scores it and gives every
artifact file, 2-of-3 signers sign the v2 Results, the operator proposes, the challenge
window passes and a keeper settles in two batches. It needs the v2 contracts (EIP-712
version "2", scoredAtRisk in Results); the pure tests (pure_round.py) do not.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eth_hash.auto import keccak

from tests.worlds import create_model, fund_participant, live_ids_file, open_round
from tournament.chain.devchain import chain_now, increase_time
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.round_scoring import RoundInputs, StakeAtClose, score_round
from tournament.protocol.signing import Results, domain_from_eip712_domain_call, sign_results
from tournament.protocol.submissions import submission_hash

ROUND_ID = 1
N_IDS = 300


@dataclass
class SettledRound:
    world: object
    round_id: int
    artifacts_dir: Path
    model_ids: dict            # label -> modelId
    signer_keys: list
    outsider_key: object


def _csv(ids, values) -> bytes:
    return pd.DataFrame({"id": ids, "prediction": values}).to_csv(index=False, float_format="%.8f").encode()


def build_settled_round(world, folder: Path, round_id: int = ROUND_ID, rng_seed: int = 7) -> SettledRound:
    w3, t = world.w3, world.tournament
    admin = world.transactor(world.admin)
    operator = world.transactor(world.operator)
    rng = np.random.default_rng(rng_seed)
    ids = [f"id{i:04d}" for i in range(N_IDS)]
    targets = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=N_IDS)
    signal = targets + rng.normal(0, 0.6, N_IDS)

    # label, participant key index, stake NMR, corr mult, file kind
    plan = [("good_a", 3, 10, 200, "good"), ("good_b", 4, 50, 300, "anti"), ("good_c", 5, 20, 100, "good"),
            ("constant", 6, 5, 100, "constant"), ("missing", 3, 7, 150, "missing"),
            ("swapped", 4, 3, 50, "swapped")]
    participants = sorted({p[1] for p in plan})
    for index in participants:
        fund_participant(world, world.keys[index], 1000 * NMR, admin=admin, eth=False)
    live_raw = live_ids_file(ids)
    # (v2) the live ids are committed at open: liveIdsHash = keccak256 of the published file
    open_round(world, round_id, keccak(live_raw), 3600, 3600 + 86_400, operator=operator)
    resolve_time = t.functions.getRound(round_id).call()[1]

    uploads: dict[int, bytes] = {}
    model_ids = {}
    stakes_at_close = []
    for label, index, stake_nmr, corr_mult, kind in plan:
        me = world.transactor(world.keys[index])
        model_id = create_model(world, me, f"{label}-{round_id}")
        model_ids[label] = model_id
        if kind == "good":
            values = signal + rng.normal(0, 0.8, N_IDS)
        elif kind == "anti":
            values = -signal + rng.normal(0, 0.5, N_IDS)
        elif kind == "constant":
            values = np.full(N_IDS, 0.5)
        else:
            values = rng.normal(0, 1, N_IDS)
        values = (pd.Series(values).rank().to_numpy() - 0.5) / N_IDS if kind != "constant" else values
        committed = _csv(ids, values)
        # First stake a larger amount, then unstake some: the auditor must use the stake at close.
        me.transact(t.functions.stake(round_id, model_id, (stake_nmr + 1) * NMR, corr_mult, 0,
                                      submission_hash(committed)), "stake")
        me.transact(t.functions.unstake(round_id, model_id, NMR), "unstake")
        stakes_at_close.append(StakeAtClose(model_id, world.keys[index].address, stake_nmr * NMR, corr_mult, 0,
                                            submission_hash(committed)))
        if kind == "missing":
            continue
        uploads[model_id] = committed if kind != "swapped" else _csv(ids, values[::-1])

    increase_time(w3, resolve_time - chain_now(w3) + 1)

    # ---- the oracle's work: the one round scoring, the artifacts as it publishes them, sign, propose
    targets_raw = pd.DataFrame({"id": ids, "target": targets}).to_csv(index=False).encode()
    scored = score_round(RoundInputs(round_id, stakes_at_close, uploads, live_raw, targets_raw, []))
    art = folder / "artifacts"
    for path, content in scored.artifact_files.items():
        (art / path).parent.mkdir(parents=True, exist_ok=True)
        (art / path).write_bytes(content)
    tree = scored.tree

    domain = domain_from_eip712_domain_call(t.functions.eip712Domain().call())
    version = int(t.functions.signerSetVersion().call())
    results = Results(round_id, 0, scored.results_root, scored.leaf_count, scored.scored_at_risk_wei,
                      scored.artifacts_hash, version)
    signatures = sign_results(domain, results, [k.key for k in world.signer_keys[:2]])
    operator.transact(t.functions.proposeResults(results.as_tuple(), signatures), "propose")
    increase_time(w3, 86_400 + 1)
    keeper = world.transactor(world.keys[9])
    for batch in tree.batches(batch_size=4):
        keeper.transact(t.functions.settle(round_id, batch.leaf_values(), batch.proof, batch.proof_flags), "settle")
    assert t.functions.phase(round_id).call() == 7, "the round must be Settled"
    return SettledRound(world, round_id, art, model_ids, list(world.signer_keys), world.keys[6])


@pytest.fixture(scope="module")
def settled_round(deployed, tmp_path_factory) -> SettledRound:
    return build_settled_round(deployed, tmp_path_factory.mktemp("round"))

