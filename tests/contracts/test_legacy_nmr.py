"""The legacy mainnet NMR (contracts/test/LegacyNMR.sol) and a tournament deployed with
BurnMethod.LegacyMint: the token's documented behaviour (approve only from/to zero,
changeApproval, `mint` burns the caller's tokens, `numeraiTransfer` burns through an allowance,
no permit, no burn) and a whole round settled against it, burns included, with invariants 1-6
replayed on its logs. Also deploy_tournament's `token=` option.
"""
from __future__ import annotations

import pytest
from brownie import LegacyNMR, Tournament, web3
from brownie.exceptions import VirtualMachineError
from tournament_testlib import (
    GUARDIAN_ROLE,
    LEGACY_MINT,
    NMR_WEI,
    OPERATOR_ROLE,
    SETTLED,
    SIGNER_KEYS,
    TOTAL_SUPPLY_WEI,
    ZERO_ADDRESS,
    Harness,
    InvariantChecker,
    config_tuple,
)

from tournament.protocol.payout import SCORED, settle_amounts


def _reverts_without_reason(call):
    with pytest.raises(VirtualMachineError) as error:
        call()
    assert error.value.revert_msg in (None, "", "revert"), error.value.revert_msg
    return error.value


@pytest.fixture(scope="module")
def legacy(treasury):
    return LegacyNMR.deploy(treasury, TOTAL_SUPPLY_WEI, {"from": treasury})


def test_legacy_token_metadata_and_fixed_supply(legacy, treasury):
    assert (legacy.name(), legacy.symbol(), legacy.decimals()) == ("Numeraire", "NMR", 18)
    assert legacy.totalSupply() == TOTAL_SUPPLY_WEI == legacy.balanceOf(treasury)
    names = {item.get("name") for item in legacy.abi}
    assert not names & {"permit", "burn", "burnFrom", "nonces", "DOMAIN_SEPARATOR", "increaseAllowance"}
    assert {"mint", "numeraiTransfer", "changeApproval"} <= names


def test_legacy_approve_only_from_or_to_zero_and_change_approval(legacy, treasury, alice):
    legacy.approve(alice, 5, {"from": treasury})
    _reverts_without_reason(lambda: legacy.approve(alice, 7, {"from": treasury}))
    assert legacy.allowance(treasury, alice) == 5
    with pytest.raises(VirtualMachineError):
        legacy.changeApproval(alice, 4, 7, {"from": treasury})  # wrong old value
    tx = legacy.changeApproval(alice, 5, 7, {"from": treasury})
    assert tx.events["Approval"]["value"] == 7 and legacy.allowance(treasury, alice) == 7
    legacy.approve(alice, 0, {"from": treasury})
    legacy.approve(alice, 9, {"from": treasury})
    assert legacy.allowance(treasury, alice) == 9


def test_legacy_mint_burns_the_callers_tokens_and_numerai_transfer_burns_from_an_allowance(legacy, treasury,
                                                                                          alice, bob):
    legacy.transfer(alice, 100, {"from": treasury})
    tx = legacy.mint(30, {"from": alice})
    assert tx.return_value is True and tx.events["Transfer"] == {"from": alice, "to": ZERO_ADDRESS, "value": 30}
    assert legacy.balanceOf(alice) == 70 and legacy.totalSupply() == TOTAL_SUPPLY_WEI - 30
    _reverts_without_reason(lambda: legacy.mint(71, {"from": alice}))
    _reverts_without_reason(lambda: legacy.numeraiTransfer(alice, 1, {"from": bob}))  # no allowance
    legacy.approve(bob, 20, {"from": alice})
    legacy.numeraiTransfer(alice, 15, {"from": bob})
    assert legacy.balanceOf(alice) == 55 and legacy.allowance(alice, bob) == 5
    assert legacy.totalSupply() == TOTAL_SUPPLY_WEI - 45


def test_a_whole_round_settles_and_burns_against_the_legacy_token(legacy, admin, operator, guardian, keeper,
                                                                  treasury, alice, bob, carol):
    t = Tournament.deploy(legacy, admin, config_tuple(), LEGACY_MINT, {"from": admin})
    assert t.burnMethod() == LEGACY_MINT
    t.grantRole(OPERATOR_ROLE, operator, {"from": admin})
    t.grantRole(GUARDIAN_ROLE, guardian, {"from": admin})
    t.setSigners([k.address for k in SIGNER_KEYS[:3]], 2, {"from": admin})
    participants = [alice, bob, carol]
    checker = InvariantChecker(legacy, t, participants)
    for p in participants:
        legacy.transfer(p, 1_000 * NMR_WEI, {"from": treasury})
        legacy.approve(t, 2**256 - 1, {"from": p})  # from zero: allowed
    legacy.approve(t, 10_000 * NMR_WEI, {"from": treasury})
    t.fundRewards(10_000 * NMR_WEI, {"from": treasury})
    h = Harness(t, legacy, operator, guardian, admin, keeper)
    # no permit: depositWithPermit ignores the failed permit and deposits on the allowance
    t.depositWithPermit(NMR_WEI, 2**64, 27, b"\x01" * 32, b"\x02" * 32, {"from": carol})
    assert t.balanceOf(carol) == NMR_WEI
    stakes = [(alice, 50 * NMR_WEI, 300, 0), (bob, 10 * NMR_WEI, 200, 0), (carol, 20 * NMR_WEI, 100, 0)]
    round_id, models = h.staked_round(stakes)
    checker.check()
    h.to_resolve(round_id)
    scores = {models[0]: (-10_000_000, 0), models[1]: (25_000_000, 0), models[2]: None}
    _, tree = h.propose(round_id, scores)
    h.to_accepted(round_id)
    supply = legacy.totalSupply()
    txs = h.settle(round_id, tree)
    settled = {e["modelId"]: e for tx in txs for e in tx.events["StakeSettled"]}
    expected_burn = settle_amounts(50 * NMR_WEI, SCORED, -10_000_000, 0, 300, 0, 10**18, 2500)[1]
    assert expected_burn == 3 * NMR_WEI // 2 and settled[models[0]]["burned"] == expected_burn
    assert settled[models[1]]["payout"] == NMR_WEI // 2 and settled[models[2]]["payout"] == 0
    assert legacy.totalSupply() == supply - expected_burn
    burns = [e for tx in txs for e in tx.events["Transfer"] if e["to"] == ZERO_ADDRESS]
    assert [(e["from"], e["value"]) for e in burns] == [(t.address, expected_burn)]
    assert t.phase(round_id) == SETTLED
    checker.check()
    # withdrawing to the owner works with the legacy transfer
    t.withdraw(t.balanceOf(alice), {"from": alice})
    checker.check()


def test_the_burn_method_is_fixed_at_deployment_and_checked_by_the_abi(legacy, admin):
    with pytest.raises((VirtualMachineError, ValueError, OverflowError)):
        Tournament.deploy(legacy, admin, config_tuple(), 2, {"from": admin})
    t = Tournament.deploy(legacy, admin, config_tuple(), LEGACY_MINT, {"from": admin})
    assert t.burnMethod() == LEGACY_MINT
    assert not any(i.get("name") in ("setBurnMethod",) for i in t.abi)


def test_deploy_tournament_with_an_existing_token(legacy, treasury):
    from tournament.chain.client import Transactor
    from tournament.chain.deploy import deploy_tournament
    from tournament.chain.keys import anvil_test_accounts
    keys = anvil_test_accounts(10)
    admin_key = keys[9]  # the treasury account holds the legacy supply
    assert admin_key.address == treasury.address
    with pytest.raises(ValueError, match="say how it burns"):
        deploy_tournament(web3, Transactor(web3, admin_key), operator=keys[1].address, guardian=keys[2].address,
                          signers=[k.address for k in SIGNER_KEYS[:3]], threshold=2, token=legacy.address,
                          save=False)
    with pytest.raises(ValueError, match="unknown burn method"):
        deploy_tournament(web3, Transactor(web3, admin_key), operator=keys[1].address, guardian=keys[2].address,
                          signers=[k.address for k in SIGNER_KEYS[:3]], threshold=2, token=legacy.address,
                          burn_method="melt", save=False)
    deployment = deploy_tournament(web3, Transactor(web3, admin_key), operator=keys[1].address,
                                   guardian=keys[2].address, signers=[k.address for k in SIGNER_KEYS[:3]],
                                   threshold=2, token=legacy.address, burn_method="legacy-mint",
                                   reward_pool_wei=1_000 * NMR_WEI, save=False)
    assert deployment.nmr == legacy.address
    t = Tournament.at(deployment.tournament)
    assert t.burnMethod() == LEGACY_MINT and t.nmr() == legacy.address
    assert t.rewardPool() == 1_000 * NMR_WEI
    # recorded once tournament.chain.client.Deployment has the field (see deploy.py)
    assert getattr(deployment, "burn_method", "legacy-mint") == "legacy-mint"
