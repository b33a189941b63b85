"""The shared deployment path (tournament.chain.deploy) and the chain edge (tournament.chain.client) on a real anvil."""
import pytest

from tournament.chain.client import Deployment, TransactionReverted, decode_revert
from tournament.protocol.presets import SEED


def test_deploy_wires_roles_signers_and_pool(deployed):
    t = deployed.tournament
    assert t.functions.hasRole(t.functions.OPERATOR_ROLE().call(), deployed.operator.address).call()
    assert t.functions.hasRole(t.functions.GUARDIAN_ROLE().call(), deployed.guardian.address).call()
    signers, threshold, version = t.functions.signerSet().call()
    assert sorted(signers) == sorted(k.address for k in deployed.signer_keys)
    assert (threshold, version) == (2, 1)
    assert t.functions.rewardPool().call() == 100_000 * 10**18
    assert tuple(t.functions.config().call()) == SEED.as_tuple()
    assert Deployment.load(31337, deployed.deployments_dir) == deployed.deployment


def test_transactor_decodes_custom_errors(deployed):
    alice = deployed.transactor(deployed.keys[5])
    with pytest.raises(TransactionReverted) as caught:
        alice.transact(deployed.tournament.functions.withdraw(10**18), "withdrawing 1 NMR")
    assert caught.value.error_name == "InsufficientBalance"
    assert "needed=1000000000000000000" in str(caught.value)


def test_decode_revert_names_unknown_data():
    assert decode_revert([], "0x12345678").startswith("unknown error 0x12345678")
    assert decode_revert([], b"") == "reverted without a reason"
