"""`tournament dev ...` on anvil and on a chain that is not a dev node; and the CLI's one way of
reporting errors: unreachable RPC, a URL without a scheme, a deployment with no contract at
that RPC, web3's BadFunctionCallOutput, `-v` for the traceback, usage errors exit 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.roles.conftest import assert_one_line_error
from tests.roles.rounds import NMR
from tournament.chain.devchain import chain_now, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def geth_like_node():
    """A JSON-RPC endpoint that says it is Geth (answers chain id and client version only)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            results = {"eth_chainId": "0x1", "web3_clientVersion": "Geth/v1.14.0-stable/linux-amd64/go1.22"}
            body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": results.get(request["method"])})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_dev_fund_gives_ether_and_nmr(deployed, cli):
    target = "0x00000000000000000000000000000000000Fee01"
    result = cli("dev", "fund", target, "--nmr", "12.5", "--eth", "3")
    assert result.exit_code == 0, result.stderr
    assert deployed.w3.eth.get_balance(target) == 3 * 10**18
    assert deployed.nmr.functions.balanceOf(target).call() == 12_500 * NMR // 1000
    assert_one_line_error(cli("dev", "fund", "0xnope"), "'0xnope' is not an Ethereum address")
    assert_one_line_error(cli("dev", "fund", target, "--nmr", "20000000"), "holds", "less than")
    assert deployed.nmr.functions.balanceOf(target).call() == 12_500 * NMR // 1000


def test_dev_advance_moves_chain_time(deployed, cli):
    before = chain_now(deployed.w3)
    result = cli("dev", "advance", "7d")
    assert result.exit_code == 0, result.stderr
    assert chain_now(deployed.w3) >= before + 7 * 86_400
    assert "UTC" in result.stdout
    assert_one_line_error(cli("dev", "advance", "a week"), "use a number with a unit", exit_code=2)


def test_dev_commands_refuse_a_chain_that_is_not_local(cli, geth_like_node):
    assert_one_line_error(cli("dev", "advance", "1d", rpc=geth_like_node), "Geth/v1.14.0",
                          "not a local anvil or Hardhat node")


def test_unreachable_rpc_is_one_line(cli):
    dead = f"http://127.0.0.1:{free_port()}"
    for args in (("admin", "unpause"), ("guardian", "pause"), ("keeper", "run", "--once"), ("dev", "advance", "1d"),
                 ("keeper", "refund", "--round", "1")):
        assert_one_line_error(cli(*args, rpc=dead, env={"KEEPER_KEY": "0x" + "cd" * 32}), "RPC unreachable", dead)


def test_rpc_url_without_scheme_is_one_line(cli):
    assert_one_line_error(cli("admin", "show-config", rpc="127.0.0.1:8545"), "must start with http://")


def test_deployment_without_a_contract_at_that_rpc(deployed, cli, tmp_path):
    wrong = json.loads((Path(deployed.deployments_dir) / deployed.deployment.path_name).read_text())
    wrong["tournament"] = "0x000000000000000000000000000000000000dEaD"
    (tmp_path / deployed.deployment.path_name).write_text(json.dumps(wrong))
    line = assert_one_line_error(cli("admin", "show-config", env={"TOURNAMENT_DEPLOYMENTS": str(tmp_path)}),
                                 "no tournament at 0x000000000000000000000000000000000000dEaD on this RPC",
                                 f"(chain id {deployed.deployment.chain_id})", "wrong --rpc or --deployments?")
    assert line.count("\n") == 0
    assert_one_line_error(cli("guardian", "pause", env={"TOURNAMENT_DEPLOYMENTS": str(tmp_path / "none")}),
                          f"no deployment for chain id {deployed.deployment.chain_id}")


def test_bad_function_call_output_names_the_contract_and_chain():
    from web3.exceptions import BadFunctionCallOutput

    from tournament.cli import errors

    errors.remember_contract("0x000000000000000000000000000000000000dEaD", 5)
    message = errors.describe(BadFunctionCallOutput("Could not decode contract function call to phase()"))
    assert message.startswith("no tournament at 0x000000000000000000000000000000000000dEaD on this RPC (chain id 5): "
                              "wrong --rpc or --deployments?")


def test_error_messages_by_type():
    import requests

    from tournament.chain.client import TransactionReverted
    from tournament.cli import errors

    assert errors.describe(FileNotFoundError(2, "No such file or directory", "x/leaves.json")) == \
        "x/leaves.json: no such file or directory; check the path"
    assert "WrongPhase" in errors.describe(TransactionReverted("vetoing round 3", "WrongPhase(roundId=3)"))
    assert "cannot reach the RPC" in errors.describe(requests.ConnectionError("refused"))
    assert errors.describe(ValueError("amount 'x' is not a number of NMR")) == "amount 'x' is not a number of NMR"
    assert errors.describe(KeyError("bug")) is None  # a bare lookup is a bug: reported as unexpected


def test_verbose_shows_the_traceback_and_quiet_does_not(deployed, tmp_path):
    """Through the installed entry point (a real process), not only click's test runner."""
    env = dict(os.environ, TOURNAMENT_RPC=deployed.rpc_url, TOURNAMENT_DEPLOYMENTS=deployed.deployments_dir,
               KEEPER_KEY="0x" + "cd" * 32, PYTHONPATH=str(ROOT))
    quiet = subprocess.run([sys.executable, "-m", "tournament", "keeper", "refund", "--round", "4242"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 1
    assert quiet.stderr.strip().splitlines() == [
        f"Error: round 4242 was never opened on the tournament at {deployed.tournament.address} "
        f"(chain id {deployed.deployment.chain_id})"]
    loud = subprocess.run([sys.executable, "-m", "tournament", "-v", "keeper", "refund", "--round", "4242"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr and "KeeperError" in loud.stderr


def test_usage_errors_exit_2(cli):
    result = cli("admin", "set-signers", "--threshold", "1")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert_one_line_error(cli("guardian", "veto", "0", "--reason", "x"), "ROUND", exit_code=2)
    assert_one_line_error(cli("admin", "set-config"), "give at least one field", exit_code=2)
