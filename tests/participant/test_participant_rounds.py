"""`participant rounds`, provisional scores (operator publisher + participant view), and the
participant CLI's conveniences (issue 16 item 5), on anvil with a live submission API.

Rounds: phases, UTC close/resolve times, the key's own stakes and where the live data is.
Provisional: the operator's publisher equals THE round scoring when every target is known,
keeps INVALID files INVALID on partial targets, and the participant's view says PROVISIONAL
and never "payout". Conveniences: group options after the subcommand, `withdraw` beyond the
wallet names the wallet's balance, a wrong RPC / a chain without the deployment / a bad
option are one line without a traceback.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from eth_hash.auto import keccak

from tests.participant.test_participant_client import (  # noqa: F401  (world is a fixture)
    DAY,
    NMR,
    client,
    open_round,
    predictions_file,
)
from tournament.chain.devchain import increase_time
from tournament.cli.main import main
from tournament.operator.common import StakeInfo
from tournament.operator.provisional import provisional_scores, publish_provisional
from tournament.operator.round_folder import RoundFolder
from tournament.participant.rounds import list_rounds, live_data, parse_provisional, provisional_location
from tournament.protocol.results import ResultsTree, build_leaves
from tournament.protocol.round_scoring import RoundInputs, StakeAtClose, score_round
from tournament.protocol.signing import Domain, Results, sign_results

# ------------------------------------------------------------------ helpers shared with the leaderboard and watch tests

def settle_round(deployed, operator, round_id: int, stakes_wei: dict[int, int],
                 scores: dict[int, tuple[int, int]]) -> None:
    """Propose signed results for `round_id` (SCORED for the models in `scores`, INVALID for the
    other staked ones), wait out the challenge window and settle every leaf."""
    w3, t = deployed.w3, deployed.tournament
    leaves = build_leaves(round_id, sorted(stakes_wei), scores)
    tree = ResultsTree(leaves, round_id)
    scored_at_risk = sum(stakes_wei[m] for m in scores)
    version = t.functions.signerSetVersion().call()
    attempt = 0  # first proposal of the round
    results = Results(round_id, attempt, tree.root, tree.leaf_count, scored_at_risk, b"\x11" * 32, version)
    signatures = sign_results(Domain(w3.eth.chain_id, t.address), results, deployed.signer_keys)
    operator.transact(t.functions.proposeResults(
        (round_id, attempt, tree.root, tree.leaf_count, scored_at_risk, b"\x11" * 32, version), signatures),
        f"proposing round {round_id}")
    increase_time(w3, DAY + 1)
    batch = tree.multiproof(tree.leaves)
    operator.transact(t.functions.settle(round_id, batch.leaf_values(), batch.proof, batch.proof_flags),
                      f"settling round {round_id}")


def cli(deployed, *args, key=None, env=None):
    """The real command line in a subprocess (stderr apart, as a user sees it)."""
    full_env = {**os.environ, "TOURNAMENT_DEPLOYMENTS": deployed.deployments_dir, **(env or {})}
    full_env.pop("TOURNAMENT_PRIVATE_KEY", None)
    if key is not None:
        full_env["TOURNAMENT_PRIVATE_KEY"] = key.key.hex()
    return subprocess.run([sys.executable, "-m", "tournament", *args], capture_output=True, text=True, env=full_env)


def assert_one_line_error(run, *words):
    assert run.returncode != 0, run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr and lines[0].startswith("Error: ")
    for word in words:
        assert word in lines[0], lines[0]


# ------------------------------------------------------------------ rounds

def test_rounds_list_phases_times_my_stakes_and_live_data(deployed, world, tmp_path):
    w3 = deployed.w3
    alice_key = deployed.keys[3]
    alice = client(deployed, world, alice_key)
    model_id = alice.create_model("rounds-alice")
    alice.deposit(100 * NMR)
    open_round(deployed, world, 1, close_in_s=2 * DAY)
    alice.submit(1, model_id, predictions_file(tmp_path / "a.csv", world["ids"], 1), 12 * NMR, 100)
    increase_time(w3, 3 * DAY)                       # round 1 closes
    open_round(deployed, world, 2, close_in_s=7 * DAY)
    alice.submit(2, model_id, predictions_file(tmp_path / "b.csv", world["ids"], 2), 7_500_000_000_000_000_000, 150)

    rows = list_rounds(alice.reader(), alice.address)
    assert [(r.round_id, r.phase) for r in rows] == [(2, "Open"), (1, "Closed")]
    assert [(s.model_id, s.amount_wei, s.corr_mult) for s in rows[0].my_stakes] == [(model_id, 7_500_000_000_000_000_000, 150)]
    assert rows[1].my_stake_wei == 12 * NMR and rows[1].staked_count == 1
    state = deployed.tournament.functions.getRound(2).call()
    where = live_data(rows[0], world["url"], "https://data.example/v1/")
    assert where.live_ids_url == f"{world['url']}/v1/rounds/2/live_ids"
    assert where.live_features == "https://data.example/v1/live.parquet"
    assert rows[0].live_ids_hash.startswith("0x") and len(rows[0].live_ids_hash) == 66
    assert rows[0].close_time > w3.eth.get_block("latest")["timestamp"] and state  # a real round

    # The command: group options AFTER the subcommand, dates in UTC, amounts in NMR, aligned.
    run = cli(deployed, "participant", "rounds", "--rpc", deployed.rpc_url, "--api", world["url"],
              "--data-url", "/srv/data", key=alice_key)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    header = next(line for line in lines if line.strip().startswith("round"))
    row2 = next(line for line in lines if line.split()[:2] == ["2", "Open"])
    row1 = next(line for line in lines if line.split()[:2] == ["1", "Closed"])
    assert "UTC" in row2 and "7.5000" in row2 and "12.0000" in row1
    assert row2.rindex("7.5000") + len("7.5000") == row1.rindex("12.0000") + len("12.0000") == len(header)
    assert f"{world['url']}/v1/rounds/2/live_ids" in run.stdout and "/srv/data/live.parquet" in run.stdout
    # Without a key it still lists the rounds (no stakes column filled).
    anonymous = cli(deployed, "participant", "--rpc", deployed.rpc_url, "rounds")
    assert anonymous.returncode == 0 and "give a key to see your stakes" in anonymous.stdout


def test_withdraw_beyond_the_balance_names_the_wallet(deployed, world):
    key = deployed.keys[4]
    bob = client(deployed, world, key)
    bob.deposit(5 * NMR)
    run = cli(deployed, "participant", "withdraw", "1000", "--yes", "--rpc", deployed.rpc_url, key=key)
    assert_one_line_error(run, "your tournament wallet holds 5 NMR")
    assert "deposit more" not in run.stderr


def test_mistakes_are_one_line_without_traceback(deployed, world, tmp_path):
    key = deployed.keys[4]
    empty = tmp_path / "no-deployments"
    empty.mkdir()
    assert_one_line_error(cli(deployed, "participant", "rounds", "--rpc", "http://127.0.0.1:9"), "RPC")
    assert_one_line_error(cli(deployed, "participant", "rounds", "--rpc", "127.0.0.1:8545"), "http://")
    assert_one_line_error(cli(deployed, "participant", "status", "--rpc", deployed.rpc_url, "--deployments",
                              str(empty), key=key))
    # A deployment file pointing at an address without code: said at connect.
    import json
    fake = tmp_path / "fake"
    fake.mkdir()
    record = json.loads(next(Path(deployed.deployments_dir).glob("*.json")).read_text())
    record["tournament"] = "0x" + "12" * 20
    (fake / f"{deployed.w3.eth.chain_id}.json").write_text(json.dumps(record))
    assert_one_line_error(cli(deployed, "participant", "leaderboard", "--rpc", deployed.rpc_url,
                              "--deployments", str(fake)), "no tournament at")
    bad = cli(deployed, "participant", "rounds", "--limit", "zero", "--rpc", deployed.rpc_url)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# ------------------------------------------------------------------ provisional scores

IDS = [f"p{k:04d}" for k in range(120)]


def _provisional_round(tmp_path):
    """A collected round folder: three valid files, one constant (INVALID), one missing."""
    rng = np.random.default_rng(5)
    work = tmp_path / "work"
    folder = RoundFolder(work, 7)
    folder.write("live_ids.csv", "id\n" + "\n".join(IDS) + "\n")
    stakes, files, infos = [], {}, []
    for model_id in (1, 2, 3, 4, 5):
        values = np.full(len(IDS), 0.5) if model_id == 4 else rng.random(len(IDS))
        raw = ("id,prediction\n" + "".join(f"{i},{float(v)!r}\n" for i, v in zip(IDS, values))).encode()
        digest = keccak(raw)
        stakes.append(StakeAtClose(model_id, "0x" + "ab" * 20, model_id * NMR, 100, 0, digest))
        received = None if model_id == 5 else raw
        files[model_id] = received
        path = None
        if received is not None:
            path = f"submissions/{model_id}.csv"
            folder.write(f"artifacts/{path}", received)
        infos.append(StakeInfo(model_id, "0x" + "ab" * 20, model_id * NMR, 100, 0, "0x" + digest.hex(), path,
                               "" if received else "no submission file received"))
    folder.write_collected(infos)
    targets = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=len(IDS))
    full = ("id,target\n" + "".join(f"{i},{t}\n" for i, t in zip(IDS, targets))).encode()
    return work, stakes, files, full, targets


def test_provisional_equals_the_round_scoring_when_every_target_is_known(tmp_path):
    work, stakes, files, full, _ = _provisional_round(tmp_path)
    live_raw = ("id\n" + "\n".join(IDS) + "\n").encode()
    rows = provisional_scores(7, stakes, files, live_raw, full, as_of=1_800_000_000)
    final = score_round(RoundInputs(7, stakes, files, live_raw, full))
    for row, outcome in zip(rows, final.outcomes):
        assert (row.model_id, row.status) == (outcome.model_id, outcome.status.name)
        assert row.corr == outcome.corr and row.mmc == outcome.mmc
        assert row.ids_scored == row.ids_total == len(IDS)
    assert [r.status for r in rows] == ["SCORED", "SCORED", "SCORED", "INVALID", "INVALID"]
    assert rows[4].message == "no submission file received"


def test_provisional_on_partial_targets_cli_and_participant_view(deployed, tmp_path):
    work, stakes, files, _full, targets = _provisional_round(tmp_path)
    known = IDS[:60]
    partial = tmp_path / "partial.csv"
    partial.write_text("id,target\n" + "".join(f"{i},{t}\n" for i, t in zip(known, targets[:60])))
    path, rows = publish_provisional(work, 7, partial, as_of=1_800_000_000)
    # The same scoring on the known ids only, with every file still validated against all live ids.
    subset = ("id\n" + "\n".join(known) + "\n").encode()
    valid = [s for s in stakes if s.model_id in (1, 2, 3)]
    expected = score_round(RoundInputs(7, valid, {s.model_id: files[s.model_id] for s in valid}, subset,
                                       partial.read_bytes()))
    assert [r.corr for r in rows[:3]] == [o.corr for o in expected.outcomes]
    assert [r.mmc for r in rows[:3]] == [o.mmc for o in expected.outcomes]
    assert rows[3].status == "INVALID" and "equal" in rows[3].message
    assert (rows[0].ids_scored, rows[0].ids_total) == (60, 120)
    raw = path.read_bytes()
    assert raw.startswith(b"# PROVISIONAL") and not (work / "rounds" / "7" / "artifacts" / path.name).exists()
    parsed = parse_provisional(raw, 7)
    assert [p.corr for p in parsed] == [r.corr for r in rows]
    with pytest.raises(ValueError, match="not marked provisional"):
        parse_provisional(raw.replace(b",true,", b",false,"), 7)
    assert provisional_location(str(work), 7) == f"{work}/rounds/7/provisional/provisional_scores.csv"
    assert provisional_location("https://h/p/{round}.csv", 7) == "https://h/p/7.csv"

    # The operator's command, then the participant's view (no key needed: --all).
    run = cli(deployed, "operator", "provisional", "--round", "7", "--targets", str(partial), "--work", str(work))
    assert run.returncode == 0, run.stderr
    assert "provisional scores of 5 stakes on 60/120 ids" in run.stdout
    view = cli(deployed, "participant", "provisional", "--round", "7", "--source", str(work), "--all")
    assert view.returncode == 0, view.stderr
    assert "PROVISIONAL" in view.stdout and "NOT payouts" in view.stdout and "60 of 120" in view.stdout
    assert "payout" not in view.stdout.replace("NOT payouts", "")
    assert f"{rows[0].corr:+.5f}" in view.stdout
    missing = cli(deployed, "participant", "provisional", "--round", "8", "--source", str(work), "--all")
    assert_one_line_error(missing, "no provisional scores of round 8")
    too_few = tmp_path / "one.csv"
    too_few.write_text(f"id,target\n{IDS[0]},0.5\n")
    assert_one_line_error(cli(deployed, "operator", "provisional", "--round", "7", "--targets", str(too_few),
                              "--work", str(work)), "at least two")


def test_cli_runner_accepts_group_options_after_the_subcommand(deployed, world):
    runner = CliRunner()
    result = runner.invoke(main, ["participant", "address", "--key-env", "MY_KEY"],
                           env={"MY_KEY": deployed.keys[6].key.hex(), "TOURNAMENT_DEPLOYMENTS": deployed.deployments_dir,
                                "TOURNAMENT_RPC": deployed.rpc_url})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == deployed.keys[6].address
