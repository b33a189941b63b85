"""The auditor verifies an honest settled round end to end: chain reader, artifacts reader, verdict, CLI."""
from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from tournament.auditor.audit import read_artifacts, read_chain_view, verify_round
from tournament.cli.main import main
from tournament.protocol.payout import payout_wei


def test_honest_round_passes_with_every_stake_verified(settled_round):
    world = settled_round.world
    chain = read_chain_view(world.w3, world.deployment, settled_round.round_id)
    report = verify_round(chain, read_artifacts(str(settled_round.artifacts_dir)))
    assert report.findings == [], [str(f) for f in report.findings]
    assert report.verdict == "PASS" and report.phase == "Settled"
    rows = {r.model_id: r for r in report.stakes}
    ids = settled_round.model_ids
    assert len(rows) == 6
    assert {r.result for r in rows.values()} == {"OK"}
    # stakes are the amounts at close (staked n+1 then unstaked 1)
    assert rows[ids["good_a"]].stake_wei == 10 * 10**18
    assert rows[ids["constant"]].status == "INVALID" and "equal" in rows[ids["constant"]].message
    assert rows[ids["missing"]].status == "INVALID" and rows[ids["missing"]].message == "no submission file received"
    assert rows[ids["swapped"]].status == "INVALID" and "hash mismatch" in rows[ids["swapped"]].message
    for label in ("good_a", "good_b", "good_c"):
        row = rows[ids[label]]
        assert row.status == "SCORED"
        assert abs(row.corr - row.corr_nanos * 1e-9) <= 2e-9
        assert row.payout_wei == payout_wei(row.stake_wei, row.corr_nanos, row.mmc_nanos, row.corr_mult,
                                            row.mmc_mult, report.summary["payoutFactorWei"], 2500)
        assert row.tx_hash.startswith("0x")
    assert rows[ids["good_b"]].burned_wei > 0, "the anti-correlated model must have burned"
    assert report.summary["burnedWei"] == chain.round_settled["burned"] > 0
    assert chain.initial_supply_wei - chain.total_supply_wei == chain.tournament_burns_wei
    assert len(chain.proposals) == 1 and len(chain.proposals[0].signatures) == 2


def test_cli_prints_table_and_json_and_exits_zero(settled_round, tmp_path):
    world = settled_round.world
    args = ["audit", "--round", str(settled_round.round_id), "--rpc", world.rpc_url,
            "--deployments", world.deployments_dir, "--artifacts", str(settled_round.artifacts_dir)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and str(settled_round.model_ids["good_b"]) in result.output
    result = CliRunner().invoke(main, args + ["--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["verdict"] == "PASS" and len(document["stakes"]) == 6


def test_cli_names_the_stake_field_and_values_of_a_tampered_file(settled_round, tmp_path):
    world = settled_round.world
    folder = tmp_path / "artifacts"
    shutil.copytree(settled_round.artifacts_dir, folder)
    model_id = settled_round.model_ids["good_a"]
    path = folder / "submissions" / f"{model_id}.csv"
    path.write_bytes(path.read_bytes().replace(b"id0001,", b"id0001,0"))
    result = CliRunner().invoke(main, ["audit", "--round", str(settled_round.round_id), "--rpc", world.rpc_url,
                                       "--deployments", world.deployments_dir, "--artifacts", str(folder),
                                       "--json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    assert document["verdict"] == "FAIL"
    named = [f for f in document["findings"] if f["model_id"] == model_id]
    assert any(f["field"] == f"file:submissions/{model_id}.csv" and f["expected"].startswith("0x")
               and f["found"].startswith("0x") for f in named), named


def test_round_run_by_the_operator_pipeline_passes_the_audit(settled_round, tmp_path):
    """The operator's own artifacts folder (tournament.operator.pipeline) is what the auditor verifies."""
    import numpy as np
    from eth_hash.auto import keccak

    from tournament.chain.devchain import chain_now, increase_time
    from tournament.operator.pipeline import Operator

    world = settled_round.world
    t = world.tournament
    round_id = settled_round.round_id + 1
    store = tmp_path / "store"
    store.mkdir()
    rng = np.random.default_rng(11)
    live_ids = [f"op{i:03d}" for i in range(80)]
    targets = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=len(live_ids))
    targets_path = tmp_path / "targets.csv"
    targets_path.write_text("id,target\n" + "".join(f"{i},{v}\n" for i, v in zip(live_ids, targets)))
    op = Operator(world.w3, world.deployment, world.operator, world.signer_keys, tmp_path / "work", store,
                  poll_s=0.01, receipt_timeout_s=30)
    now = chain_now(world.w3)
    op.open_round(round_id, now + 3600, now + 3600 + 86_400, live_ids)
    model_ids = []
    for n, index in enumerate((3, 4, 5, 6)):
        me = world.transactor(world.keys[index])
        receipt = me.transact(t.functions.createModel(f"op-{n}"), "create model")
        model_id = int(t.events.ModelCreated().process_receipt(receipt)[0]["args"]["modelId"])
        model_ids.append(model_id)
        preds = np.clip(targets + rng.normal(0, 0.4 + n * 0.3, len(live_ids)), 0, 1) if n != 3 else \
            np.full(len(live_ids), 0.5)
        raw = ("id,prediction\n" + "".join(f"{i},{float(p)!r}\n" for i, p in zip(live_ids, preds))).encode()
        (store / ("0x" + keccak(raw).hex())).write_bytes(raw)
        me.transact(t.functions.stake(round_id, model_id, (4 + n) * 10**18, 100 + 50 * n, 0, keccak(raw)), "stake")
    increase_time(world.w3, 86_400 + 3600 + 1)
    assert op.run(round_id, targets_path).phase == "Proposed"
    increase_time(world.w3, 86_400 + 1)
    assert op.run(round_id).phase == "Settled"

    work = tmp_path / "work"
    result = CliRunner().invoke(main, ["audit", "--round", str(round_id), "--rpc", world.rpc_url,
                                       "--deployments", world.deployments_dir, "--artifacts", str(work), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["verdict"] == "PASS" and {s["model_id"] for s in document["stakes"]} == set(model_ids)
    assert [s["status"] for s in document["stakes"]][-1] == "INVALID"
    # the first round still audits clean after the second one burned and paid
    chain = read_chain_view(world.w3, world.deployment, settled_round.round_id)
    assert verify_round(chain, read_artifacts(str(settled_round.artifacts_dir))).passed


def test_cli_takes_receipts_and_a_targets_source(settled_round, tmp_path):
    world = settled_round.world
    args = ["audit", "--round", str(settled_round.round_id), "--rpc", world.rpc_url,
            "--deployments", world.deployments_dir, "--artifacts", str(settled_round.artifacts_dir), "--json"]
    source = tmp_path / "targets.csv"
    source.write_bytes((settled_round.artifacts_dir / "targets.csv").read_bytes())
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    (receipts / "none.json").write_text("[]")
    result = CliRunner().invoke(main, args + ["--targets-source", str(source), "--receipts", str(receipts)])
    assert result.exit_code == 0, result.output
    source.write_bytes(source.read_bytes().replace(b",0.25\n", b",0.75\n", 1))
    result = CliRunner().invoke(main, args + ["--targets-source", str(source)])
    assert result.exit_code == 1, result.output
    assert any(f["field"] == "targets_source" for f in json.loads(result.output)["findings"])


def test_artifacts_over_http_read_the_same_as_the_folder(settled_round):
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(settled_round.artifacts_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        over_http = read_artifacts(f"http://127.0.0.1:{server.server_port}/")
    finally:
        server.shutdown()
    assert over_http.files == read_artifacts(str(settled_round.artifacts_dir)).files


def test_cli_exits_2_with_a_message_for_an_unknown_round(settled_round, tmp_path):
    world = settled_round.world
    result = CliRunner().invoke(main, ["audit", "--round", "777", "--rpc", world.rpc_url, "--deployments",
                                       world.deployments_dir, "--artifacts", str(tmp_path)])
    assert result.exit_code == 2
    assert "round 777 was never opened" in result.output
