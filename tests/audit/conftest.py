"""A settled round on a fresh anvil, built the way the operator does it, for the auditor's tests.

`settled_round` (module scope, on tests/conftest.py's `deployed`) runs one whole round:
four participants' models stake (one valid file each for three of them, plus a constant file,
a missing file and a file that differs from its commitment), the round resolves, the oracle's
own pieces score it (score_submissions, build_leaves, ResultsTree), the artifacts folder is
written as docs/INTERFACES.md lays it out, 2-of-3 signers sign, the operator proposes, the
challenge window passes and a keeper settles in two batches. When oracle/operator.py's
pipeline lands, these tests can drive it instead; the artifacts layout is the same.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tournament.protocol.artifacts import write_manifest
from tournament.chain.devchain import chain_now, increase_time
from tournament.protocol.results import ResultsTree, build_leaves
from tournament.protocol.signing import Results, domain_from_eip712_domain_call, sign_results
from tournament.protocol.submissions import submission_hash, score_submissions

NMR = 10**18
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
    w3, t, nmr = world.w3, world.tournament, world.nmr
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
        key = world.keys[index]
        admin.transact(nmr.functions.transfer(key.address, 1000 * NMR), "fund participant")
        me = world.transactor(key)
        me.transact(nmr.functions.approve(t.address, 1000 * NMR), "approve")
        me.transact(t.functions.deposit(1000 * NMR), "deposit")
    now = chain_now(w3)
    close_time, resolve_time = now + 3600, now + 3600 + 86_400
    operator.transact(t.functions.openRound(round_id, close_time, resolve_time), "open round")

    uploads: dict[int, bytes] = {}
    model_ids = {}
    for label, index, stake_nmr, corr_mult, kind in plan:
        me = world.transactor(world.keys[index])
        receipt = me.transact(t.functions.createModel(f"{label}-{round_id}"), "create model")
        model_id = int(t.events.ModelCreated().process_receipt(receipt)[0]["args"]["modelId"])
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
        if kind == "missing":
            continue
        uploads[model_id] = committed if kind != "swapped" else _csv(ids, values[::-1])

    increase_time(w3, resolve_time - chain_now(w3) + 1)

    # ---- the oracle's work: score, leaves, artifacts, sign, propose
    staked = {m: int(t.functions.getStake(round_id, m).call()[0][0]) for m in model_ids.values()}
    art = folder / "artifacts"
    (art / "submissions").mkdir(parents=True)
    pd.DataFrame({"id": ids, "target": targets}).to_csv(art / "targets.csv", index=False)
    pd.DataFrame({"id": ids}).to_csv(art / "live_ids.csv", index=False)
    raw_by_model = {}
    from tournament.protocol.submissions import ValidationResult
    for label, model_id in model_ids.items():
        if model_id in uploads:
            (art / "submissions" / f"{model_id}.csv").write_bytes(uploads[model_id])
        commitment = [e for e in t.events.StakeChanged().get_logs(from_block=0,
                      argument_filters={"roundId": round_id, "modelId": model_id})
                      if e["args"]["submissionHash"] != b"\0" * 32][-1]["args"]["submissionHash"]
        if model_id not in uploads:
            raw_by_model[str(model_id)] = ValidationResult(str(model_id), False, "no submission file received",
                                                           "missing")
        elif submission_hash(uploads[model_id]) != commitment:
            raw_by_model[str(model_id)] = ValidationResult(str(model_id), False, "hash mismatch", "hash_mismatch")
        else:
            raw_by_model[str(model_id)] = uploads[model_id]
    target_series = pd.Series(targets, index=pd.Index(ids, name="id"))
    table = score_submissions(raw_by_model, target_series, {str(m): float(s) for m, s in staked.items()})
    scores = {int(r.model): (int(r.corr_nanos), int(r.mmc_nanos)) for r in table.itertuples() if r.status == "SCORED"}
    leaves = build_leaves(round_id, sorted(staked), scores)
    tree = ResultsTree(leaves, round_id)
    from tournament.protocol.scoring import meta_model
    from tournament.protocol.submissions import validate_predictions
    valid = [(m, validate_predictions(uploads[m], np.array(ids, dtype=object), name=str(m))) for m in sorted(uploads)
             if not isinstance(raw_by_model[str(m)], ValidationResult)]
    valid = [(m, v) for m, v in valid if v.valid]
    meta = meta_model(np.column_stack([v.predictions for _, v in valid]), np.array([float(staked[m]) for m, _ in valid]))
    pd.DataFrame({"id": ids, "meta_model": meta}).to_csv(art / "meta_model.csv", index=False, float_format="%.17g")
    owners = {m: t.functions.modelOwner(m).call() for m in staked}
    table.insert(0, "model_id", table.pop("model").astype(int))
    table.insert(1, "owner", table["model_id"].map(owners))
    table.insert(2, "stake_wei", table["model_id"].map(staked).astype(str))
    table[["model_id", "owner", "stake_wei", "status", "corr", "mmc", "corr_nanos", "mmc_nanos", "message"]].to_csv(
        art / "scores.csv", index=False)
    (art / "leaves.json").write_text(json.dumps(
        [{"roundId": l.round_id, "modelId": l.model_id, "status": l.status, "corr": l.corr_nanos,
          "mmc": l.mmc_nanos} for l in leaves], indent=1))
    _, digest = write_manifest(art, round_id)

    domain = domain_from_eip712_domain_call(t.functions.eip712Domain().call())
    version = int(t.functions.signerSetVersion().call())
    results = Results(round_id, 0, tree.root, len(leaves), digest, version)
    signatures = sign_results(domain, results, [k.key for k in world.signer_keys[:2]])
    operator.transact(t.functions.proposeResults(
        (round_id, 0, tree.root, len(leaves), digest, version), signatures), "propose")
    increase_time(w3, 86_400 + 1)
    keeper = world.transactor(world.keys[9])
    for batch in tree.batches(batch_size=4):
        keeper.transact(t.functions.settle(round_id, batch.leaf_values(), batch.proof, batch.proof_flags), "settle")
    assert t.functions.phase(round_id).call() == 7, "the round must be Settled"
    return SettledRound(world, round_id, art, model_ids, list(world.signer_keys), world.keys[6])


@pytest.fixture(scope="module")
def settled_round(deployed, tmp_path_factory) -> SettledRound:
    return build_settled_round(deployed, tmp_path_factory.mktemp("round"))

