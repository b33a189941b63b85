"""A 55-model round from open to settled with `Operator.run`, every wallet checked to the wei."""
from __future__ import annotations

from eth_hash.auto import keccak

from tournament.protocol import artifacts as art
from tournament.protocol.results import ResultsTree, leaves_from_json


def test_round_of_55_models_open_to_settled(harness, kinds, tmp_path):
    harness.add_owners(11, 5)
    plan = harness.plan_round(kinds(55))
    op = harness.operator(tmp_path / "work")
    harness.open_and_stake(op, plan)
    assert (tmp_path / "work/rounds" / str(plan.round_id) / "live_ids.csv").exists()

    status = op.run(plan.round_id, plan.targets_path)
    assert status.phase == "Open" and status.actions == []
    harness.to_resolvable(plan)
    status = op.run(plan.round_id, plan.targets_path)
    assert status.phase == "Proposed", status
    harness.past_challenge()
    status = op.run(plan.round_id)
    assert status.phase == "Settled" and status.closed_count == 55, status
    harness.check_wallets(plan)
    # one measured batch at the default sizing: 55 stakes fit easily in half a 36M block
    assert len(op.last_settle_gas) == 1
    leaves_n, gas = op.last_settle_gas[0]
    print(f"settle gas: {gas} for {leaves_n} stakes = {gas / leaves_n:.0f} per stake")

    # The artifacts folder is intact and is what was proposed; leaves are what the contract hashes.
    folder = tmp_path / "work/rounds" / str(plan.round_id) / "artifacts"
    proposed = harness.t.events.ResultsProposed().get_logs(from_block=0, argument_filters={"roundId": plan.round_id})
    assert art.verify_folder(folder, bytes(proposed[-1]["args"]["artifactsHash"]), plan.round_id) == []
    leaves = leaves_from_json((folder / "leaves.json").read_bytes())
    tree = ResultsTree(leaves, plan.round_id)
    assert bytes(proposed[-1]["args"]["resultsRoot"]) == tree.root
    for leaf in leaves[:5]:
        assert bytes(harness.t.functions.leafHash(leaf.values()).call()) == tree.tree.leaf_hash(leaf.values())
    scores = (folder / "scores.csv").read_text().splitlines()
    assert scores[0] == "model_id,owner,stake_wei,status,corr,mmc,corr_nanos,mmc_nanos,message"
    by_kind = {s.model_id: s.kind for s in plan.specs}
    for line in scores[1:]:
        model_id = int(line.split(",")[0])
        assert (",SCORED," in line) == (by_kind[model_id] == "valid"), line
        if by_kind[model_id] == "no_file":
            assert "no submission file received" in line
        if by_kind[model_id] == "hash_mismatch":
            assert "hash mismatch" in line
    # every file received is published as uploaded, a mismatching one too (v2); none for no_file
    submitted = {p.name for p in (folder / "submissions").iterdir()}
    assert submitted == {f"{s.model_id}.csv" for s in plan.specs if s.kind != "no_file"}
    for s in plan.specs:
        published = (folder / "submissions" / f"{s.model_id}.csv")
        if s.kind == "hash_mismatch":
            assert keccak(published.read_bytes()) != keccak(s.raw)
        elif s.kind != "no_file":
            assert keccak(published.read_bytes()) == keccak(s.raw)
    assert proposed[-1]["args"]["scoredAtRisk"] == sum(s.stake_wei for s in plan.specs if s.kind == "valid")

    # Running again changes nothing.
    again = op.run(plan.round_id)
    assert again.phase == "Settled" and again.actions == []
    harness.check_wallets(plan)
