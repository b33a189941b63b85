"""Operator safety on real networks: the lock, the fee cap, the per-transaction gas cap, receipt
polling, the deployment's identity, deployment files that cannot collide, a resumable deploy and
its verification files."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from web3 import Web3

from tests.networks.network_world import KEYS, NMR, RoundWorld, deploy, sender
from tournament.chain.artifacts import PROJECT_ROOT
from tournament.chain.contracts import Deployment, genesis_hash, verify_deployment
from tournament.chain.deploy import deploy_tournament
from tournament.chain.devchain import Anvil, HardhatNode
from tournament.chain.errors import ChainError
from tournament.chain.token import token_binding
from tournament.chain.transactor import FeeCapExceeded
from tournament.cli.main import main
from tournament.operator.lock import LockHeld, OperatorLock, lock_path


@pytest.fixture(scope="module")
def anvil():
    with Anvil() as node:
        yield node, Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))


@pytest.fixture(scope="module")
def deployed(anvil, tmp_path_factory):
    node, w3 = anvil
    directory = tmp_path_factory.mktemp("deployments")
    return node, w3, deploy(w3, directory), directory


# ---------------------------------------------------------------- the lock

def test_one_operator_per_work_folder_and_chain(tmp_path):
    lock = OperatorLock(tmp_path, 31337, "0xabcdef0123456789")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = lock_path(tmp_path, 31337, "0xabcdef0123456789")
        path.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "started": time.time(),
                                    "chain_id": 31337, "tournament": "0xabcdef0123456789"}))
        with pytest.raises(LockHeld) as held:
            lock.acquire()
        assert f"pid {holder.pid} on {socket.gethostname()}" in str(held.value) and str(path) in str(held.value)
        # another chain in the same folder is another lock
        with OperatorLock(tmp_path, 1, "0xabcdef0123456789"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with lock:                    # the holder died: its lock is stale and taken over
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()      # released
    # a lock of another host cannot be checked from here: it holds
    path.write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": time.time()}))
    with pytest.raises(LockHeld, match="on elsewhere"):
        OperatorLock(tmp_path, 31337, "0xabcdef0123456789").acquire()


def test_the_operator_cli_refuses_a_second_process(deployed, tmp_path):
    node, w3, deployment, directory = deployed
    work = tmp_path / "work"
    work.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_path(work, 31337, deployment.tournament).write_text(json.dumps(
            {"pid": holder.pid, "host": socket.gethostname(), "started": time.time()}))
        args = ["operator", "settle", "--round", "1", "--rpc", node.rpc_url, "--deployments", str(directory),
                "--work", str(work), "--anvil-keys"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "another operator (pid" in result.output, result.output
        # status only reads: no lock needed
        status = CliRunner().invoke(main, ["operator", "status", "--round", "1", "--rpc", node.rpc_url,
                                           "--deployments", str(directory), "--work", str(work)])
        assert status.exit_code == 0, status.output
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------- fees, gas, polling

def test_the_fee_cap_refuses_to_send_above_it(anvil):
    node, w3 = anvil
    w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(50 * 10**9)])
    w3.provider.make_request("evm_mine", [])
    capped = sender(w3, KEYS[5], max_fee_per_gas_wei=20 * 10**9)
    nonce = w3.eth.get_transaction_count(KEYS[5].address)
    fn = token_binding(w3, "0x" + "ab" * 20).functions.transfer(KEYS[6].address, 0)
    with pytest.raises(FeeCapExceeded) as refused:
        capped.transact(fn, "a capped transfer", gas=50_000)
    assert "above the cap of 20 gwei" in str(refused.value) and "\n" not in str(refused.value)
    assert w3.eth.get_transaction_count(KEYS[5].address) == nonce       # nothing sent
    roomy = sender(w3, KEYS[5], max_fee_per_gas_wei=500 * 10**9)
    receipt = roomy.transact(fn, "a transfer under the cap", gas=50_000)
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["maxFeePerGas"] <= 500 * 10**9


def test_receipts_are_polled_with_backoff(anvil, monkeypatch):
    node, w3 = anvil
    polls: list[float] = []
    sleeps: list[float] = []
    me = sender(w3, KEYS[5])
    me.poll_s, me.max_poll_s = 0.5, 2.0
    original = me._receipt

    def slow_receipt(tx_hash, description):
        polls.append(time.monotonic())
        return original(tx_hash, description) if len(polls) >= 4 else None
    monkeypatch.setattr(me, "_receipt", slow_receipt)
    monkeypatch.setattr(time, "sleep", sleeps.append)
    me.transact(token_binding(w3, "0x" + "ab" * 20).functions.transfer(KEYS[6].address, 0), "polled",
                gas=50_000)
    assert len(polls) == 4 and sleeps == [0.5, 0.75, 1.125]        # from 0.5 s, 1.5x per poll, at most 2 s


def test_the_tx_gas_cap_sizes_settlement_batches(deployed, tmp_path):
    node, w3, deployment, _ = deployed
    world = RoundWorld(w3, deployment, tmp_path)
    world.fund_and_deposit(200 * NMR)
    planned, _ = world.play(7, tx_gas_cap=250_000)
    op_gas = world.operator(tx_gas_cap=250_000)
    assert op_gas.settler.tx_gas_cap == 250_000
    # every batch's gas limit stayed under the cap (the chain would refuse a transaction above it)
    report = world.audit(7)
    assert report.passed
    receipts = [world.w3.eth.get_transaction_receipt(e.tx_hash)
                for e in world.participants[0].reader().round_events(7).of("StakeSettled")]
    limits = {r["transactionHash"]: world.w3.eth.get_transaction(r["transactionHash"])["gas"] for r in receipts}
    assert len(limits) > 1 and max(limits.values()) <= 250_000, limits


# ---------------------------------------------------------------- deployment identity and files

def test_deployment_files_are_keyed_by_chain_and_genesis(deployed, tmp_path):
    node, w3, deployment, directory = deployed
    genesis = genesis_hash(w3)
    assert deployment.genesis_hash == genesis
    assert (directory / f"31337-{genesis[2:10]}.json").exists()
    # Another chain with the same id (a Hardhat node) does not find this deployment ...
    with HardhatNode() as other:
        hw3 = Web3(Web3.HTTPProvider(other.rpc_url))
        with pytest.raises(ChainError, match="no deployment for chain id 31337"):
            Deployment.for_rpc(hw3, directory)
        # ... and an old-style file naming it is refused as "no tournament at ..." (identity check)
        legacy_dir = tmp_path / "old"
        legacy_dir.mkdir()
        old = json.loads((directory / f"31337-{genesis[2:10]}.json").read_text())
        old.pop("genesis_hash")
        (legacy_dir / "31337.json").write_text(json.dumps(old))
        with pytest.raises(ChainError) as wrong:
            Deployment.for_rpc(hw3, legacy_dir)
        assert str(wrong.value).startswith(f"no tournament at {deployment.tournament} on this RPC (chain id 31337)")
        result = CliRunner().invoke(main, ["operator", "status", "--round", "1", "--rpc", other.rpc_url,
                                           "--deployments", str(legacy_dir), "--work", str(tmp_path / "w")])
        assert result.exit_code == 1 and "no tournament at" in result.output, result.output
    # the old name is still read on its own chain
    assert Deployment.for_rpc(w3, legacy_dir).tournament == deployment.tournament


def test_identity_check_wants_the_deployments_token(deployed):
    node, w3, deployment, _ = deployed
    verify_deployment(w3, deployment)
    other = Deployment(**{**deployment.__dict__, "nmr": deployment.tournament})
    with pytest.raises(ChainError, match="uses token"):
        verify_deployment(w3, other)
    nowhere = Deployment(**{**deployment.__dict__, "tournament": "0x" + "34" * 20})
    with pytest.raises(ChainError, match="no tournament at 0x3434"):
        verify_deployment(w3, nowhere)


def test_a_deploy_that_stopped_midway_continues(anvil, tmp_path):
    node, w3 = anvil
    directory = tmp_path / "deployments"

    class Stop(Exception):
        pass

    def stop_after_tournament(point):
        if point == "deploy:tournament":
            raise Stop

    with pytest.raises(Stop):
        deploy(w3, directory, hook=stop_after_tournament)
    partial = next(directory.glob("*.partial.json"))
    recorded = json.loads(partial.read_text())["contracts"]
    assert set(recorded) == {"NMR", "Tournament"} and all(r.get("address") for r in recorded.values())
    nonce = w3.eth.get_transaction_count(KEYS[0].address)
    deployment = deploy(w3, directory)
    assert (deployment.nmr, deployment.tournament) == (recorded["NMR"]["address"], recorded["Tournament"]["address"])
    # roles, signers and the pool: 2 grants + setSigners + approve + fund; no contract deployed again
    assert w3.eth.get_transaction_count(KEYS[0].address) == nonce + 5
    assert not partial.exists() and Deployment.for_rpc(w3, directory) == deployment
    # other settings do not silently continue someone else's half-done deploy
    with pytest.raises(Stop):
        deploy(w3, directory, hook=stop_after_tournament)
    with pytest.raises(ChainError, match="half-done with other settings"):
        deploy_tournament(w3, sender(w3, KEYS[0]), operator=KEYS[2].address, guardian=KEYS[2].address,
                     signers=[KEYS[7].address], threshold=1, deployments_dir=directory)


def test_verification_files_compile_to_the_deployed_bytecode(deployed, tmp_path):
    """The standard-JSON input written at deploy compiles (solcjs, the same compiler) to exactly the
    runtime code at the address: what Etherscan and Sourcify check for an exact match."""
    node, w3, deployment, directory = deployed
    folder = directory / "verify" / Deployment.file_name(31337, deployment.genesis_hash).removesuffix(".json")
    record = json.loads((folder / "NMR.json").read_text())
    assert record["address"] == deployment.nmr and record["compilerVersion"] == "v0.8.30+commit.73712a01"
    assert record["constructorArguments"] == "00" * 12 + deployment.admin[2:].lower()
    tournament = json.loads((folder / "Tournament.json").read_text())
    assert tournament["standardJsonInput"]["settings"]["viaIR"] is True     # it only fits EIP-170 through the IR
    source = json.dumps(record["standardJsonInput"])
    script = ("const solc=require('solc');const fs=require('fs');"
              "const out=JSON.parse(solc.compile(fs.readFileSync(0,'utf8')));"
              "const c=out.contracts[process.argv[1]][process.argv[2]];"
              "process.stdout.write(JSON.stringify(c.evm.deployedBytecode))")
    done = subprocess.run(["node", "-e", script, record["sourceName"], record["contractName"]], input=source,
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    output = json.loads(done.stdout)
    compiled = bytearray.fromhex(output["object"])
    onchain = bytearray(w3.eth.get_code(deployment.nmr))
    assert len(compiled) == len(onchain)
    # immutables (EIP-712's cached values) are written at deployment: mask them in both, compare the rest
    for spans in output["immutableReferences"].values():
        for span in spans:
            start, length = span["start"], span["length"]
            compiled[start:start + length] = onchain[start:start + length] = bytes(length)
    assert compiled == onchain      # metadata hash included: the same sources and settings
