"""`tournament guardian ...`, `keeper run` and `keeper refund` against anvil: effects on the
chain (phases, wallets to the wei, events) and errors as one line (wrong key, wrong phase)."""
from __future__ import annotations

import json

from tests.roles.conftest import assert_one_line_error
from tests.roles.rounds import DAY, build_round, phase, tx
from tournament.chain.devchain import increase_time


def wallets(world, owners) -> dict[int, int]:
    return {model_id: world.tournament.functions.balanceOf(owner.address).call() for owner, model_id in owners}


# ------------------------------------------------------------------ guardian

def test_guardian_vetoes_proposed_results(deployed, cli, owners):
    built = build_round(deployed, owners, until="Proposed")
    result = cli("guardian", "veto", str(built.round_id), "--reason", "model 2's file was withheld",
                 key=deployed.guardian)
    assert result.exit_code == 0, result.stderr
    assert phase(deployed, built.round_id) == "Resolvable"
    assert deployed.tournament.functions.getRound(built.round_id).call()[4] == 1  # attempt bumped
    vetoes = deployed.tournament.events.ResultsVetoed().get_logs(
        from_block=0, argument_filters={"roundId": built.round_id})
    assert [(v["args"]["attempt"], v["args"]["reason"]) for v in vetoes] == [(0, "model 2's file was withheld")]
    assert "now Resolvable, attempt 1" in result.stdout


def test_veto_errors_are_one_line(deployed, cli, owners):
    built = build_round(deployed, owners, until="Proposed")
    rid = str(built.round_id)
    # the operator is not the guardian
    assert_one_line_error(cli("guardian", "veto", rid, "--reason", "x", key=deployed.operator),
                          "does not hold GUARDIAN_ROLE")
    assert_one_line_error(cli("guardian", "veto", rid, "--reason", "  ", key=deployed.guardian), "--reason")
    assert_one_line_error(cli("guardian", "veto", "999", "--reason", "x", key=deployed.guardian),
                          "round 999 was never opened")
    assert phase(deployed, built.round_id) == "Proposed"
    increase_time(deployed.w3, DAY + 1)  # the window closed: too late
    assert_one_line_error(cli("guardian", "veto", rid, "--reason", "x", key=deployed.guardian),
                          f"round {rid} is Accepted", "only Proposed results")
    assert phase(deployed, built.round_id) == "Accepted"


def test_guardian_pause(deployed, cli):
    t = deployed.tournament
    assert_one_line_error(cli("guardian", "pause", key=deployed.admin), "does not hold GUARDIAN_ROLE")
    assert not t.functions.paused().call()
    result = cli("guardian", "pause", key=deployed.guardian)
    assert result.exit_code == 0, result.stderr
    assert t.functions.paused().call()
    again = cli("guardian", "pause", key=deployed.guardian)
    assert again.exit_code == 0 and "already paused" in again.stdout


def test_guardian_pause_calldata(deployed, cli):
    result = cli("guardian", "pause", "--print-calldata", "--json")
    assert result.exit_code == 0, result.stderr
    call = json.loads(result.stdout)["transactions"][0]
    assert call["data"] == deployed.tournament.encode_abi("pause", args=[])
    assert not deployed.tournament.functions.paused().call()


# ------------------------------------------------------------------ keeper run

def test_keeper_run_settles_accepted_and_refunds_refunding_rounds(deployed, cli, owners, tmp_path):
    refunding = build_round(deployed, owners[:2], until="Refunding")
    accepted = build_round(deployed, owners, until="Accepted", artifacts_dir=tmp_path, invalid=(1,))
    before = wallets(deployed, owners)
    supply = deployed.nmr.functions.totalSupply().call()
    credits = accepted.credits(deployed)
    result = cli("keeper", "run", "--once", "--artifacts", str(tmp_path), "--batch-size", "2", key=deployed.keys[3])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert phase(deployed, accepted.round_id) == "Settled"
    assert phase(deployed, refunding.round_id) == "Settled"
    after = wallets(deployed, owners)
    refunded = {s.model_id: s.stake_wei for s in refunding.stakes}
    for _owner, model_id in owners:
        assert after[model_id] == before[model_id] + credits[model_id] + refunded.get(model_id, 0), model_id
    burned = sum(s.stake_wei - credits[s.model_id] for s in accepted.stakes if credits[s.model_id] < s.stake_wei)
    assert deployed.nmr.functions.totalSupply().call() == supply - burned
    assert f"round {accepted.round_id}: settled 3 stake(s) in 2 transaction(s)" in result.stdout
    assert f"round {refunding.round_id}: refunded 2 stake(s)" in result.stdout
    # a second pass has nothing left to do
    second = cli("keeper", "run", "--once", "--artifacts", str(tmp_path), key=deployed.keys[3])
    assert second.exit_code == 0 and second.stdout.strip().endswith("nothing to do")


def test_keeper_refuses_leaves_that_do_not_match_the_root(deployed, cli, owners, tmp_path):
    accepted = build_round(deployed, owners, until="Accepted", artifacts_dir=tmp_path)
    path = tmp_path / str(accepted.round_id) / "leaves.json"
    rows = json.loads(path.read_text())
    rows[0]["corr"] += 1  # one nano more for the first model
    path.write_text(json.dumps(rows))
    before = wallets(deployed, owners)
    result = cli("keeper", "run", "--once", "--artifacts", str(tmp_path), key=deployed.keys[3])
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert f"round {accepted.round_id}: the published leaves give root" in result.stderr
    assert phase(deployed, accepted.round_id) == "Accepted"
    assert wallets(deployed, owners) == before


def test_keeper_refunds_stakes_left_unsettled_after_settle_timeout(deployed, cli, owners):
    accepted = build_round(deployed, owners, until="Accepted")
    before = wallets(deployed, owners)
    # no artifacts: nothing can be settled, and it is too early to refund
    early = cli("keeper", "run", "--once", key=deployed.keys[3])
    assert early.exit_code == 1 and "become refundable at" in early.stderr
    assert phase(deployed, accepted.round_id) == "Accepted"
    increase_time(deployed.w3, 14 * DAY + 1)
    result = cli("keeper", "run", "--once", key=deployed.keys[3])
    assert result.exit_code == 0, result.stderr
    assert phase(deployed, accepted.round_id) == "Settled"
    after = wallets(deployed, owners)
    for s in accepted.stakes:
        assert after[s.model_id] == before[s.model_id] + s.stake_wei
    assert "unsettled settleTimeout after acceptance" in result.stdout


def test_keeper_without_a_key_or_gas(deployed, cli):
    assert_one_line_error(cli("keeper", "run", "--once"), "no keeper key", "KEEPER_KEY")
    assert_one_line_error(cli("keeper", "run", "--once", "--interval", "often", key=deployed.keys[3]),
                          "--interval", exit_code=2)


# ------------------------------------------------------------------ refunds

def test_refund_one_model_then_the_rest(deployed, cli, owners):
    built = build_round(deployed, owners, until="Refunding")
    before = wallets(deployed, owners)
    first = built.stakes[1]
    result = cli("keeper", "refund", "--round", str(built.round_id), "--model", str(first.model_id),
                 key=deployed.keys[4])
    assert result.exit_code == 0, result.stderr
    after = wallets(deployed, owners)
    assert after[first.model_id] == before[first.model_id] + first.stake_wei
    assert all(after[s.model_id] == before[s.model_id] for s in built.stakes if s is not first)
    assert_one_line_error(cli("keeper", "refund", "--round", str(built.round_id), "--model", str(first.model_id),
                              key=deployed.keys[4]), "already settled or refunded")
    rest = cli("keeper", "refund", "--round", str(built.round_id), key=deployed.keys[4])
    assert rest.exit_code == 0, rest.stderr
    assert "refunded 2 stake(s)" in rest.stdout
    final = wallets(deployed, owners)
    assert all(final[s.model_id] == before[s.model_id] + s.stake_wei for s in built.stakes)
    assert phase(deployed, built.round_id) == "Settled"


def test_refund_errors_are_one_line(deployed, cli, owners):
    built = build_round(deployed, owners, until="Resolvable")
    rid = str(built.round_id)
    assert_one_line_error(cli("keeper", "refund", "--round", rid, key=deployed.keys[4]),
                          f"round {rid} is Resolvable", "refunds open if no results are accepted by", "UTC")
    build_round(deployed, owners[:1], until="Open")
    increase_time(deployed.w3, 14 * DAY + 1)
    assert phase(deployed, built.round_id) == "Refunding"
    assert_one_line_error(cli("keeper", "refund", "--round", rid, "--model", "424242", key=deployed.keys[4]),
                          "model 424242 has no stake")
    assert_one_line_error(cli("keeper", "refund", "--round", "777", key=deployed.keys[4]), "never opened")
    # a key without ether cannot pay the gas: the node's refusal, in one line
    broke = "0x" + "ab" * 32
    line = assert_one_line_error(cli("keeper", "refund", "--round", rid, env={"KEEPER_KEY": broke}))
    assert "Error:" in line
    assert phase(deployed, built.round_id) == "Refunding"


def test_participant_alias_of_refund_uses_the_participants_key_variable(deployed, owners):
    """The command the participant group adds as `participant refund` (same code, its own key variable)."""
    from click.testing import CliRunner

    from tournament.cli.keeper import refund_command

    built = build_round(deployed, owners, until="Refunding")
    owner, model_id = owners[0]
    before = deployed.tournament.functions.balanceOf(owner.address).call()
    command = refund_command("refund", "participant", "TOURNAMENT_PRIVATE_KEY", "TOURNAMENT_KEYSTORE_PASSWORD")
    result = CliRunner().invoke(command, ["--round", str(built.round_id), "--model", str(model_id)],
                                env={"TOURNAMENT_RPC": deployed.rpc_url,
                                     "TOURNAMENT_DEPLOYMENTS": deployed.deployments_dir,
                                     "TOURNAMENT_PRIVATE_KEY": "0x" + bytes(owner.key).hex()})
    assert result.exit_code == 0, result.output
    assert deployed.tournament.functions.balanceOf(owner.address).call() == before + built.stakes[0].stake_wei


def test_approval_plan_follows_the_approve_from_zero_rule(deployed, monkeypatch):
    from tournament.admin import calls
    from tournament.admin.connection import open_tournament

    chain = open_tournament(deployed.rpc_url, deployed.deployments_dir)
    admin, spender = deployed.admin.address, deployed.tournament.address
    tx(deployed, deployed.admin).transact(deployed.nmr.functions.approve(spender, 5), "a small allowance")
    monkeypatch.setattr(calls, "has_change_approval", lambda _chain: True)
    (legacy,) = calls.approval_calls(chain, admin, 9)
    assert legacy.signature == "changeApproval(address,uint256,uint256)"
    assert legacy.fn.args == (spender, 5, 9) and legacy.to == deployed.nmr.address
    monkeypatch.setattr(calls, "has_change_approval", lambda _chain: False)
    reset, approve = calls.approval_calls(chain, admin, 9)
    assert (reset.fn.args, approve.fn.args) == ((spender, 0), (spender, 9))
    assert calls.approval_calls(chain, admin, 5) == []
    monkeypatch.undo()
    assert calls.has_change_approval(chain) is False  # the project's NMR has no changeApproval


def test_keeper_loop_keeps_going_and_picks_up_new_rounds(deployed, owners):
    """`keeper run` without --once: each pass re-reads the chain, finds rounds opened since, and
    a pass that fails (RPC down) is reported and retried at the next interval."""
    from tournament.admin.connection import open_tournament
    from tournament.chain.client import ChainError
    from tournament.keeper.runner import Keeper

    chain = open_tournament(deployed.rpc_url, deployed.deployments_dir)
    keeper = Keeper(chain, tx(deployed, deployed.keys[3]))
    reports, naps = [], []
    first = build_round(deployed, owners[:1], until="Refunding")
    real_once = keeper.run_once
    calls = {"n": 0}

    def flaky_once():
        calls["n"] += 1
        if calls["n"] == 2:
            raise ChainError("reading the block number: RPC unreachable after 5 attempts")
        if calls["n"] == 3:  # a round opened while the keeper slept
            build_round(deployed, owners[1:], until="Refunding")
        return real_once()

    keeper.run_once = flaky_once
    keeper.run(30, passes=3, on_pass=reports.append, sleep=naps.append)
    assert naps == [30, 30]
    assert reports[0].actions == [f"round {first.round_id}: refunded 1 stake(s), 100 NMR in 1 transaction(s)"]
    assert reports[1].problems == ["pass failed: reading the block number: RPC unreachable after 5 attempts"]
    assert [line.split(":")[0] for line in reports[2].actions] == [f"round {first.round_id + 1}"]
    assert phase(deployed, first.round_id) == phase(deployed, first.round_id + 1) == "Settled"
