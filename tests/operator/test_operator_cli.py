"""`tournament operator ...` on a local chain: open-round, run to Proposed, run to Settled;
failures are one line and exit 1."""
from __future__ import annotations

from click.testing import CliRunner

from tournament.cli.main import main


def cli(world, work, *args):
    common = ["--rpc", world.rpc_url, "--deployments", world.deployments_dir, "--work", str(work), "--anvil-keys"]
    return CliRunner().invoke(main, ["operator", *args, *common], catch_exceptions=False)


def test_cli_takes_a_round_from_open_to_settled(harness, kinds, tmp_path):
    harness.add_owners(3, 4)
    plan = harness.plan_round(kinds(12))
    live = tmp_path / "live.csv"
    live.write_text("id\n" + "".join(f"{i}\n" for i in plan.live_ids))
    work = tmp_path / "work"
    result = cli(harness.world, work, "open-round", "--round", str(plan.round_id), "--close-in", "1d",
                 "--resolve-after", "2d", "--live-ids", str(live))
    assert result.exit_code == 0, result.output
    assert "Open" in result.output and "opened the round on-chain" in result.output
    harness.stake(plan)
    plan.wallets_before = {o.address: harness.t.functions.balanceOf(o.address).call() for o in harness.owners}
    plan.supply_before = harness.nmr.functions.totalSupply().call()
    harness.to_resolvable(plan)
    result = cli(harness.world, work, "run", "--round", str(plan.round_id), "--targets", str(plan.targets_path),
                 "--source", str(harness.source_dir))
    assert result.exit_code == 1, result.output  # no co-signer and no dev keys: says what is missing, one line
    assert result.output == ("Error: propose needs co-signers (--signer URL, repeatable) or, for dev/test only, "
                             "--local-signer-keys\n")
    result = cli(harness.world, work, "run", "--round", str(plan.round_id), "--targets", str(plan.targets_path),
                 "--source", str(harness.source_dir), "--local-signer-keys")
    assert result.exit_code == 0, result.output
    assert "Proposed" in result.output and "proposed attempt 0" in result.output
    result = cli(harness.world, work, "settle", "--round", str(plan.round_id))
    assert result.exit_code == 1 and result.output.startswith("Error: round") and "Proposed" in result.output
    assert len(result.output.strip().splitlines()) == 1
    harness.past_challenge()
    result = cli(harness.world, work, "run", "--round", str(plan.round_id), "--max-batch", "5")
    assert result.exit_code == 0, result.output
    assert "Settled" in result.output and "in 3 batch(es)" in result.output
    harness.check_wallets(plan)
    result = cli(harness.world, work, "status", "--round", str(plan.round_id))
    assert "Settled" in result.output and "12/12" in result.output


def test_cli_errors_are_one_line(harness, tmp_path):
    result = cli(harness.world, tmp_path, "propose", "--round", "999")
    assert result.exit_code == 1
    assert result.output == "Error: round 999 is not opened: results can be proposed only when it is Resolvable\n"
    result = cli(harness.world, tmp_path, "status", "--round", "999")
    assert result.exit_code == 0
    assert result.output == ("round 999: not opened on this deployment; next: open it: "
                             "`tournament operator open-round --round 999 ...`\n")
    result = CliRunner().invoke(main, ["operator", "status", "--round", "1", "--rpc", "http://127.0.0.1:9",
                                       "--deployments", harness.world.deployments_dir])
    assert result.exit_code == 1 and "RPC unreachable" in result.output
