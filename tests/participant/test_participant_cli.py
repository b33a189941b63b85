"""The participant commands and `tournament serve submissions`, as docs/PARTICIPANT.md uses them.

The submission service runs as its own process (the real `tournament serve submissions`
command) on anvil; the participant commands run through click's runner with a keystore
created by `new-key` and its password in the environment. Walks new key -> model -> deposit
-> submit -> status -> unstake -> close (refused with the close time) -> settled -> history
-> withdraw, and checks the CLI's confirmations, its readable errors and that no key is printed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
from click.testing import CliRunner

from tournament.chain.devchain import free_port, fund_eth, increase_time
from tournament.cli.main import main
from tournament.operator.open_round import live_ids_hash
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.results import ResultsTree, build_leaves
from tournament.protocol.signing import Domain, Results, UploadReceipt, recover_receipt_signer, sign_results

DAY = 86_400
IDS = [f"c{k:04d}" for k in range(150)]
LIVE_IDS_CSV = ("id\n" + "\n".join(IDS) + "\n").encode()  # round 1's published file; (v2) its keccak is on-chain


@pytest.fixture(scope="module")
def service(deployed, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    (work / "rounds" / "1").mkdir(parents=True)
    (work / "rounds" / "1" / "live_ids.csv").write_bytes(LIVE_IDS_CSV)
    port = free_port()
    # (v2) the service signs an UploadReceipt per accepted upload with a RECEIPT_ROLE key (anvil key 3)
    receipt_key = deployed.keys[3]
    tournament = deployed.tournament
    deployed.transactor(deployed.admin).transact(
        tournament.functions.grantRole(tournament.functions.RECEIPT_ROLE().call(), receipt_key.address),
        "granting RECEIPT_ROLE")
    env = {**os.environ, "TOURNAMENT_DEPLOYMENTS": deployed.deployments_dir,
           "RECEIPT_KEY": "0x" + bytes(receipt_key.key).hex()}
    process = subprocess.Popen(
        [sys.executable, "-m", "tournament", "serve", "submissions", "--port", str(port),
         "--data", str(tmp_path_factory.mktemp("api")), "--rpc", deployed.rpc_url, "--rounds-dir", str(work),
         "--receipt-key-env", "RECEIPT_KEY"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/v1/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"serve submissions did not start: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)
    process.stderr.close()


def test_cli_from_new_key_to_withdrawal(deployed, service, tmp_path):
    w3, t = deployed.w3, deployed.tournament
    runner = CliRunner()
    keystore = tmp_path / "me.json"
    env = {"TOURNAMENT_RPC": deployed.rpc_url, "TOURNAMENT_DEPLOYMENTS": deployed.deployments_dir,
           "TOURNAMENT_API": service, "TOURNAMENT_KEYSTORE_PASSWORD": "correct horse"}

    def run(*args, ok=True, **kwargs):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False, **kwargs)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    created = run("participant", "new-key", str(keystore))
    address = created.split()[2]
    env["TOURNAMENT_KEYSTORE"] = str(keystore)
    assert run("participant", "address").strip() == address
    from tournament.chain.keys import load_keystore
    secret = bytes(load_keystore(keystore, "correct horse").key).hex()

    fund_eth(w3, address)
    deployed.transactor(deployed.admin).transact(deployed.nmr.functions.transfer(address, 100 * NMR), "funding")
    assert "model 1 (my-model) created" in run("participant", "create-model", "my-model", "--yes")
    # Without --yes the summary is shown and "no" sends nothing.
    declined = run("participant", "deposit", "60", input="n\n", ok=False)
    assert "deposit 60 NMR from" in declined and "Aborted" in declined
    assert t.functions.balanceOf(address).call() == 0
    assert "wallet 60 NMR" in run("participant", "deposit", "60", "--permit", "--yes")
    # The same key from the environment instead (scrypt keystores take a second per command).
    env["TOURNAMENT_KEYSTORE"] = None
    env["TOURNAMENT_PRIVATE_KEY"] = "0x" + secret
    assert "not a number" in run("participant", "deposit", "sixty", "--yes", ok=False)

    now = w3.eth.get_block("latest")["timestamp"]
    deployed.transactor(deployed.operator).transact(t.functions.openRound(1, now + 7 * DAY, now + 35 * DAY,
                                                                       live_ids_hash(LIVE_IDS_CSV)), "open")
    preds = tmp_path / "preds.csv"
    values = np.random.default_rng(7).uniform(0, 1, len(IDS))
    preds.write_text("id,prediction\n" + "".join(f"{i},{v:.5f}\n" for i, v in zip(IDS, values)))
    too_much = run("participant", "submit", str(preds), "--round", "1", "--model", "my-model", "--stake", "80",
                   "--corr-mult", "2x", "--yes", ok=False)
    assert "wallet holds 60 NMR; deposit more first" in too_much
    submitted = run("participant", "submit", str(preds), "--round", "1", "--model", "my-model", "--stake", "12.5",
                    "--corr-mult", "2x", "--yes")
    assert "is now 12.5 NMR" in submitted
    assert t.functions.getStake(1, 1).call()[0][0] == parse_wei("12.5")
    status = run("participant", "status")
    assert "NMR (wallet)     47.5" in status and "NMR (at stake)   12.5" in status and "corr 2x" in status
    run("participant", "unstake", "--round", "1", "--model", "1", "2.5", "--yes")
    assert t.functions.getStake(1, 1).call()[0][0] == 10 * NMR

    increase_time(w3, 8 * DAY)
    # After close the service lists the round's receipts: the staked file's, signed by the RECEIPT_ROLE key.
    receipts = requests.get(f"{service}/v1/rounds/1/receipts", timeout=10).json()
    receipts = receipts["receipts"] if isinstance(receipts, dict) else receipts
    committed = "0x" + bytes(t.events.StakeChanged().get_logs(from_block=0)[0]["args"]["submissionHash"]).hex()
    mine = [r for r in receipts if int(r["modelId"]) == 1 and r["submissionHash"].lower() == committed.lower()]
    assert mine, receipts
    domain = Domain(chain_id=deployed.deployment.chain_id, verifying_contract=t.address)
    receipt = UploadReceipt(1, 1, bytes.fromhex(committed[2:]), int(mine[0]["receivedAt"]))
    assert recover_receipt_signer(domain, receipt, mine[0]["signature"]) == deployed.keys[3].address
    closed = run("participant", "unstake", "--round", "1", "--model", "my-model", "--yes", ok=False)
    assert "round 1 closed at" in closed and "stakes are locked until resolution" in closed
    assert "closed, waiting for results" in run("participant", "status")

    increase_time(w3, 28 * DAY)
    tree = ResultsTree(build_leaves(1, [1], {1: (25_000_000, 0)}))
    results = Results(1, 0, tree.root, 1, 10 * NMR, b"\x22" * 32, 1)  # (v2) scored at risk: the 10 NMR stake
    operator = deployed.transactor(deployed.operator)
    operator.transact(t.functions.proposeResults(results.as_tuple(),
                                                 sign_results(Domain(31337, t.address), results,
                                                              deployed.signer_keys)), "propose")
    increase_time(w3, DAY + 1)
    batch = tree.multiproof(tree.leaves)
    operator.transact(t.functions.settle(1, batch.leaf_values(), batch.proof, batch.proof_flags), "settle")

    table = run("participant", "history")
    assert "SCORED" in table and "+0.02500" in table and "0.5000" in table and "+5.00%" in table
    rows = run("participant", "history", "--csv").strip().splitlines()
    assert rows[1].split(",")[4:10] == [str(10 * NMR), "25000000", "0", str(NMR // 2), "0", str(NMR // 2)]
    assert "withdrew 60.5 NMR" in run("participant", "withdraw", "all", "--yes")
    assert deployed.nmr.functions.balanceOf(address).call() == parse_wei("100.5")
    for output in (created, status, table):
        assert secret not in output and "correct horse" not in output


def test_missing_key_is_a_clear_error(deployed):
    result = CliRunner().invoke(main, ["participant", "status"], env={
        "TOURNAMENT_RPC": deployed.rpc_url, "TOURNAMENT_DEPLOYMENTS": deployed.deployments_dir,
        "TOURNAMENT_KEYSTORE": None, "TOURNAMENT_PRIVATE_KEY": None})
    assert result.exit_code == 1
    assert "no key: pass --keystore FILE" in result.output


def parse_wei(text: str) -> int:
    from tournament.participant.client import parse_nmr
    return parse_nmr(text)


def test_serve_submissions_refuses_a_receipt_key_without_the_role(deployed, tmp_path):
    result = CliRunner().invoke(main, ["serve", "submissions", "--data", str(tmp_path / "api"), "--rpc",
                                       deployed.rpc_url, "--deployments", deployed.deployments_dir,
                                       "--receipt-key-env", "NOT_A_RECEIPT_KEY"],
                                env={"NOT_A_RECEIPT_KEY": "0x" + "33" * 32})
    assert result.exit_code == 1 and "Traceback" not in result.output
    [error] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "does not hold RECEIPT_ROLE" in error and "grant-role receipt" in error
