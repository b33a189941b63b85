"""`tournament admin ...` against anvil: every command's effect on the chain, its calldata mode,
and its errors as one line each (wrong key, bad address, bad value, refused by the contract)."""
from __future__ import annotations

import json

from eth_utils import keccak, to_checksum_address

from tests.roles.conftest import assert_one_line_error
from tests.roles.rounds import NMR, tx

OUTSIDER = "0x000000000000000000000000000000000000bEEF"


def test_set_signers_rotates_the_set_and_bumps_the_version(deployed, cli):
    t = deployed.tournament
    _, _, version = t.functions.signerSet().call()
    new = sorted((k.address for k in deployed.keys[4:7]), key=lambda a: int(a, 16))
    result = cli("admin", "set-signers", *new, "--threshold", "3", key=deployed.admin)
    assert result.exit_code == 0, result.stderr
    signers, threshold, new_version = t.functions.signerSet().call()
    assert [s.lower() for s in signers] == [a.lower() for a in new]
    assert threshold == 3 and new_version == version + 1
    assert f"signer set version {version + 1}" in result.stdout


def test_set_signers_errors_are_one_line(deployed, cli):
    t = deployed.tournament
    before = t.functions.signerSet().call()
    signer = deployed.keys[4].address
    # the operator's key is not the admin's: refused before anything is sent
    assert_one_line_error(cli("admin", "set-signers", signer, "--threshold", "1", key=deployed.operator),
                          deployed.operator.address, "does not hold DEFAULT_ADMIN_ROLE")
    assert_one_line_error(cli("admin", "set-signers", "0x1234", "--threshold", "1", key=deployed.admin),
                          "'0x1234' is not an Ethereum address")
    assert_one_line_error(cli("admin", "set-signers", signer, "--threshold", "2", key=deployed.admin),
                          "--threshold 2 must be between 1 and the number of signers (1)")
    assert_one_line_error(cli("admin", "set-signers", signer, signer.lower(), "--threshold", "1", key=deployed.admin),
                          "listed twice")
    # no key at all
    assert_one_line_error(cli("admin", "set-signers", signer, "--threshold", "1"), "no admin key", "ADMIN_KEY")
    assert t.functions.signerSet().call() == before


def test_grant_and_revoke_roles(deployed, cli):
    t = deployed.tournament
    receipt_role = keccak(text="RECEIPT_ROLE")
    someone = deployed.keys[5].address
    result = cli("admin", "grant-role", "receipt", someone, key=deployed.admin)
    assert result.exit_code == 0, result.stderr
    assert t.functions.hasRole(receipt_role, someone).call()
    again = cli("admin", "grant-role", "receipt", someone, key=deployed.admin)
    assert again.exit_code == 0 and "already holds RECEIPT_ROLE" in again.stdout

    operator_role = t.functions.OPERATOR_ROLE().call()
    assert t.functions.hasRole(operator_role, deployed.operator.address).call()
    result = cli("admin", "revoke-role", "operator", deployed.operator.address, key=deployed.admin)
    assert result.exit_code == 0, result.stderr
    assert not t.functions.hasRole(operator_role, deployed.operator.address).call()

    guardian_role = t.functions.GUARDIAN_ROLE().call()
    assert cli("admin", "grant-role", "guardian", someone, key=deployed.admin).exit_code == 0
    assert t.functions.hasRole(guardian_role, someone).call()


def test_role_errors_are_one_line(deployed, cli):
    t = deployed.tournament
    admin_role = bytes(32)
    assert_one_line_error(cli("admin", "grant-role", "operator", OUTSIDER, key=deployed.guardian),
                          "does not hold DEFAULT_ADMIN_ROLE")
    # the admin cannot lock itself out by accident
    assert_one_line_error(cli("admin", "revoke-role", "admin", deployed.admin.address, key=deployed.admin),
                          "would take the admin role from the key that sends it", "--force")
    assert t.functions.hasRole(admin_role, deployed.admin.address).call()
    # an unknown role is a usage error (exit 2), from click
    result = cli("admin", "grant-role", "janitor", OUTSIDER, key=deployed.admin)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert not t.functions.hasRole(t.functions.OPERATOR_ROLE().call(), OUTSIDER).call()


def test_set_config_changes_only_the_given_fields(deployed, cli):
    t = deployed.tournament
    before = list(t.functions.config().call())
    result = cli("admin", "set-config", "--clip", "20%", "--challenge-period", "2d", "--min-stake", "0.5",
                 key=deployed.admin)
    assert result.exit_code == 0, result.stderr
    after = list(t.functions.config().call())
    expected = list(before)
    expected[4], expected[5], expected[10] = 2000, 2 * 86_400, NMR // 2
    assert after == expected
    assert "clipBps: 25% -> 20%" in result.stdout
    same = cli("admin", "set-config", "--clip", "2000", key=deployed.admin)
    assert same.exit_code == 0 and "nothing to do" in same.stdout


def test_set_config_errors_are_one_line(deployed, cli):
    t = deployed.tournament
    before = t.functions.config().call()
    # refused by the contract's bounds: the decoded custom error, one line
    assert_one_line_error(cli("admin", "set-config", "--corr-mult-max", "9x", key=deployed.admin),
                          "InvalidConfig", "corrMult")
    assert_one_line_error(cli("admin", "set-config", "--challenge-period", "soon", key=deployed.admin),
                          "challengePeriod 'soon'")
    assert_one_line_error(cli("admin", "set-config", "--set", "noSuchField=3", key=deployed.admin),
                          "unknown configuration field 'noSuchField'")
    assert_one_line_error(cli("admin", "set-config", "--clip", "10%", key=deployed.operator),
                          "does not hold DEFAULT_ADMIN_ROLE")
    assert t.functions.config().call() == before


def test_fund_rewards_resets_a_non_zero_allowance_first(deployed, cli):
    t, nmr = deployed.tournament, deployed.nmr
    admin = deployed.admin.address
    pool = t.functions.rewardPool().call()
    # a leftover allowance too small for the funding: the approve-from-zero rule applies
    tx(deployed, deployed.admin).transact(nmr.functions.approve(t.address, 3 * NMR), "a small allowance")
    start = deployed.w3.eth.block_number + 1
    result = cli("admin", "fund-rewards", "250.5", key=deployed.admin)
    assert result.exit_code == 0, result.stderr
    assert t.functions.rewardPool().call() == pool + 250_500 * NMR // 1000
    approvals = [int(e["args"]["value"]) for e in nmr.events.Approval().get_logs(
        from_block=start, argument_filters={"owner": admin, "spender": t.address})]
    assert approvals[:2] == [0, 250_500 * NMR // 1000], approvals
    assert nmr.functions.allowance(admin, t.address).call() == 0
    assert "reset the tournament's NMR allowance" in result.stdout

    # an allowance already large enough: no approval at all
    tx(deployed, deployed.admin).transact(nmr.functions.approve(t.address, 10 * NMR), "allowance")
    start = deployed.w3.eth.block_number + 1
    assert cli("admin", "fund-rewards", "10", key=deployed.admin).exit_code == 0
    assert nmr.events.Approval().get_logs(from_block=start, argument_filters={"owner": admin}) == []
    assert t.functions.rewardPool().call() == pool + 260_500 * NMR // 1000


def test_fund_rewards_errors_are_one_line(deployed, cli):
    pool = deployed.tournament.functions.rewardPool().call()
    assert_one_line_error(cli("admin", "fund-rewards", "1.0000000000000000001", key=deployed.admin),
                          "18 decimals")
    assert_one_line_error(cli("admin", "fund-rewards", "0", key=deployed.admin), "more than 0 NMR")
    # the keeper key holds no NMR
    assert_one_line_error(cli("admin", "fund-rewards", "5", key=deployed.keys[3]),
                          deployed.keys[3].address, "holds 0 NMR")
    assert deployed.tournament.functions.rewardPool().call() == pool


def test_withdraw_rewards(deployed, cli):
    t, nmr = deployed.tournament, deployed.nmr
    pool = t.functions.rewardPool().call()
    result = cli("admin", "withdraw-rewards", "40", "--to", OUTSIDER, key=deployed.admin)
    assert result.exit_code == 0, result.stderr
    assert nmr.functions.balanceOf(OUTSIDER).call() == 40 * NMR
    assert t.functions.rewardPool().call() == pool - 40 * NMR
    assert_one_line_error(cli("admin", "withdraw-rewards", str(pool), "--to", OUTSIDER, key=deployed.admin),
                          "less than")
    assert_one_line_error(cli("admin", "withdraw-rewards", "1", "--to", "0x0000000000000000000000000000000000000000",
                              key=deployed.admin), "zero address")
    assert_one_line_error(cli("admin", "withdraw-rewards", "1", "--to", OUTSIDER, key=deployed.operator),
                          "does not hold DEFAULT_ADMIN_ROLE")
    assert nmr.functions.balanceOf(OUTSIDER).call() == 40 * NMR


def test_unpause_after_a_guardian_pause(deployed, cli):
    t = deployed.tournament
    assert cli("admin", "unpause", key=deployed.admin).stdout.strip().endswith("nothing to do")
    assert cli("guardian", "pause", key=deployed.guardian).exit_code == 0
    assert t.functions.paused().call()
    assert_one_line_error(cli("admin", "unpause", key=deployed.guardian), "does not hold DEFAULT_ADMIN_ROLE")
    assert t.functions.paused().call()
    result = cli("admin", "unpause", key=deployed.admin)
    assert result.exit_code == 0, result.stderr
    assert not t.functions.paused().call()


def test_recover_surplus(deployed, cli):
    t, nmr = deployed.tournament, deployed.nmr
    assert_one_line_error(cli("admin", "recover-surplus", nmr.address, "--to", OUTSIDER, key=deployed.admin),
                          "NoSurplus")
    # NMR sent straight to the contract is nobody's: it can be recovered, and only it
    tx(deployed, deployed.admin).transact(nmr.functions.transfer(t.address, 7 * NMR), "a mistaken transfer")
    held = nmr.functions.balanceOf(t.address).call()
    result = cli("admin", "recover-surplus", nmr.address, "--to", OUTSIDER, key=deployed.admin)
    assert result.exit_code == 0, result.stderr
    assert nmr.functions.balanceOf(OUTSIDER).call() == 7 * NMR
    assert nmr.functions.balanceOf(t.address).call() == held - 7 * NMR
    assert_one_line_error(cli("admin", "recover-surplus", "nmr", "--to", OUTSIDER, key=deployed.admin),
                          "token 'nmr' is not an Ethereum address")


def test_print_calldata_sends_nothing_and_the_printed_call_works(deployed, cli):
    t = deployed.tournament
    w3 = deployed.w3
    before = t.functions.signerSet().call()
    signer = deployed.keys[6].address
    nonce = w3.eth.get_transaction_count(deployed.admin.address)
    result = cli("admin", "set-signers", signer, "--threshold", "1", "--print-calldata")  # no key needed
    assert result.exit_code == 0, result.stderr
    assert w3.eth.get_transaction_count(deployed.admin.address) == nonce
    assert t.functions.signerSet().call() == before
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines() if not line.startswith("#"))
    assert fields["to"].strip() == t.address and fields["value"].strip() == "0"
    data = fields["data"].strip()
    assert data == t.encode_abi("setSigners", args=[[signer], 1])
    # the multisig (here: the admin account, unlocked on anvil) sends exactly what was printed
    w3.eth.send_transaction({"from": deployed.admin.address, "to": fields["to"].strip(), "value": 0, "data": data})
    signers, threshold, version = t.functions.signerSet().call()
    assert signers == [signer] and threshold == 1 and version == before[2] + 1


def test_print_calldata_as_safe_json_simulated_from_the_multisig(deployed, cli):
    t, nmr = deployed.tournament, deployed.nmr
    result = cli("admin", "fund-rewards", "12", "--print-calldata", "--json", "--from", deployed.admin.address)
    assert result.exit_code == 0, result.stderr
    batch = json.loads(result.stdout)
    assert batch["chainId"] == str(deployed.w3.eth.chain_id)
    calls = batch["transactions"]
    # no allowance yet: approve then fund
    assert [c["to"] for c in calls] == [nmr.address, t.address]
    assert calls[0]["data"] == nmr.encode_abi("approve", args=[t.address, 12 * NMR])
    assert calls[1]["data"] == t.encode_abi("fundRewards", args=[12 * NMR])
    assert all(c["value"] == "0" for c in calls)
    # simulated from an address without the role: refused before anyone signs
    assert_one_line_error(cli("admin", "withdraw-rewards", "1", "--to", OUTSIDER, "--print-calldata",
                              "--from", OUTSIDER), OUTSIDER, "does not hold DEFAULT_ADMIN_ROLE")
    ok = cli("admin", "grant-role", "receipt", OUTSIDER, "--print-calldata", "--from", deployed.admin.address)
    assert ok.exit_code == 0 and to_checksum_address(t.address) in ok.stdout
