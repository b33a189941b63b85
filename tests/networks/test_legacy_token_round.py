"""A whole round with burns on LegacyNMR (the mainnet NMR's interface), deployed with `--token`.

The token has no permit, no burn, and approve only from or to zero: the tournament burns
with `mint` (burn method legacy-mint), the deploy funds the pool through the approve rule,
participants deposit through the client's approve rule (changeApproval over a leftover
allowance), and `deposit --permit` is one clear line in the client and an approve fallback
in the CLI.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from web3 import Web3

from tests.networks.network_world import KEYS, NMR, RoundWorld, deploy, sender
from tournament.chain.artifacts import PROJECT_ROOT
from tournament.chain.contracts import Deployment, deploy_contract
from tournament.chain.devchain import Anvil
from tournament.chain.token import TokenFeatures, allowance_calls, detect_features
from tournament.cli.main import main
from tournament.participant.client import ParticipantError

SUPPLY = 11_000_000 * NMR


@pytest.fixture(scope="module")
def chain():
    with Anvil() as node:
        yield node, Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))


@pytest.fixture(scope="module")
def legacy(chain, tmp_path_factory):
    node, w3 = chain
    token = deploy_contract(sender(w3, KEYS[0]), "LegacyNMR", KEYS[0].address, SUPPLY)
    directory = tmp_path_factory.mktemp("deployments")
    deployment = deploy(w3, directory, token=token.address, burn_method="legacy-mint")
    return node, w3, deployment, directory


def test_features_are_detected_on_both_tokens(legacy, tmp_path):
    node, w3, deployment, _ = legacy
    old = detect_features(w3, deployment.nmr, KEYS[3].address, deployment.tournament)
    assert (old.permit, old.change_approval) == (False, True)
    ours = deploy(w3, tmp_path)     # this repository's NMR (permit, no changeApproval)
    new = detect_features(w3, ours.nmr, KEYS[3].address, ours.tournament)
    assert (new.permit, new.change_approval) == (True, False)
    # The approve rule: from zero one approve; from non-zero changeApproval, else approve(0) + approve.
    names = lambda calls: [c.fn_name for c, _ in calls]  # noqa: E731
    spender = deployment.tournament
    assert names(allowance_calls(w3, old, spender, 0, 5)) == ["approve"]
    assert names(allowance_calls(w3, old, spender, 3, 5)) == ["changeApproval"]
    assert names(allowance_calls(w3, new, spender, 3, 5)) == ["approve", "approve"]
    assert [c.args for c, _ in allowance_calls(w3, new, spender, 3, 5)][0][1] == 0
    assert allowance_calls(w3, TokenFeatures(old.address, False, False), spender, 5, 5) == []


def test_a_round_with_burns_settles_on_the_legacy_token(legacy, tmp_path):
    node, w3, deployment, directory = legacy
    assert deployment.burn_method == "legacy-mint"
    assert Deployment.for_rpc(w3, directory) == deployment
    world = RoundWorld(w3, deployment, tmp_path)
    # A leftover non-zero allowance: a bare approve would revert on this token.
    first = world.participants[0]
    world.admin.transact(world.token.functions.transfer(first.address, 10 * NMR), "funding")
    first.tx.transact(world.token.functions.approve(deployment.tournament, 3 * NMR), "leftover allowance")
    world.fund_and_deposit()
    assert first.reader().allowance_wei(first.address) == 0   # changeApproval raised it, the deposit used it
    assert first.reader().wallet_balance_wei(first.address) == 600 * NMR

    planned, supply_before = world.play(1, max_batch_leaves=3)
    burned = world.burned_wei(1)
    assert burned > 0
    assert world.supply_wei() == supply_before - burned          # burned with mint(): supply shrinks
    report = world.audit(1)
    assert report.passed, [str(f) for f in report.findings]


def test_deposit_with_permit_on_a_token_without_permit(legacy, tmp_path):
    node, w3, deployment, directory = legacy
    world = RoundWorld(w3, deployment, tmp_path)
    p = world.participants[1]
    world.admin.transact(world.token.functions.transfer(p.address, 10 * NMR), "funding")
    with pytest.raises(ParticipantError, match="has no EIP-2612 permit"):
        p.deposit(NMR, permit=True)
    before = p.reader().wallet_balance_wei(p.address)
    result = CliRunner().invoke(main, ["participant", "--rpc", node.rpc_url, "--deployments", str(directory),
                                       "deposit", "2", "--permit", "--yes"],
                                env={"TOURNAMENT_PRIVATE_KEY": "0x" + bytes(KEYS[4].key).hex()})
    assert result.exit_code == 0, result.output
    assert "has no permit" in result.output and "deposited 2" in result.output
    assert p.reader().wallet_balance_wei(p.address) == before + 2 * NMR


def test_deploy_script_uses_an_existing_token(legacy, tmp_path):
    node, w3, deployment, _ = legacy
    out = tmp_path / "deployments"
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "deploy.py"), "--rpc", node.rpc_url,
                           "--token", deployment.nmr, "--burn-method", "legacy-mint", "--reward-pool-nmr", "1000",
                           "--deployments", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in out.glob("*.json"))
    genesis = w3.eth.get_block(0)["hash"].hex().removeprefix("0x")[:8]
    assert files == [f"31337-{genesis}.json"], files
    written = Deployment.from_file(out / files[0])
    assert written.nmr == deployment.nmr and written.burn_method == "legacy-mint"
    assert "existing token" in done.stdout
    # only the tournament was deployed: one verification file, with its constructor arguments
    record = json.loads((out / "verify" / f"31337-{genesis}" / "Tournament.json").read_text())
    assert not (out / "verify" / f"31337-{genesis}" / "NMR.json").exists()
    assert record["address"] == written.tournament and record["compilerVersion"].startswith("v0.8.30")
    assert deployment.nmr[2:].lower() in record["constructorArguments"][:64]
    # a token address without code is one line
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "deploy.py"), "--rpc", node.rpc_url,
                           "--token", "0x" + "12" * 20, "--burn-method", "legacy-mint", "--deployments", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "has no code" in done.stderr, done.stderr
