"""The tournament wallet and the reward pool: deposit (plain and with an EIP-2612 permit, including
a front-run permit), withdraw (also while paused), fundRewards, recoverSurplus (only NMR beyond
accountedNmr, any foreign token), the constructor's checks, and the reentrancy guard against a
hostile token that calls back into the tournament.
"""
from __future__ import annotations

from brownie import MockERC20, ReentrantToken, Tournament, chain
from tournament_testlib import DEFAULT_ADMIN_ROLE, NMR_WEI, ZERO_ADDRESS, config_tuple, reverts_with, sign_permit


def test_deposit_credits_wallet_and_accounting(tournament, nmr, alice):
    before_token = nmr.balanceOf(alice)
    accounted = tournament.accountedNmr()
    tx = tournament.deposit(5 * NMR_WEI, {"from": alice})
    assert tx.events["Deposited"] == {"owner": alice, "amount": 5 * NMR_WEI}
    assert tournament.balanceOf(alice) == 5 * NMR_WEI
    assert nmr.balanceOf(alice) == before_token - 5 * NMR_WEI
    assert tournament.accountedNmr() == accounted + 5 * NMR_WEI


def test_deposit_zero_reverts(tournament, alice):
    with reverts_with("ZeroAmount"):
        tournament.deposit(0, {"from": alice})


def test_deposit_without_allowance_reverts_in_token(tournament, nmr, alice, outsider):
    nmr.transfer(outsider, NMR_WEI, {"from": alice})
    with reverts_with("ERC20InsufficientAllowance", tournament, 0, NMR_WEI):
        tournament.deposit(NMR_WEI, {"from": outsider})


def test_deposit_beyond_token_balance_reverts_in_token(tournament, nmr, alice):
    balance = nmr.balanceOf(alice)
    with reverts_with("ERC20InsufficientBalance", alice, balance, balance + 1):
        tournament.deposit(balance + 1, {"from": alice})


def test_deposit_while_paused_reverts(tournament, guardian, alice):
    tournament.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        tournament.deposit(NMR_WEI, {"from": alice})


def test_withdraw_returns_free_balance(tournament, nmr, alice):
    tournament.deposit(5 * NMR_WEI, {"from": alice})
    before = nmr.balanceOf(alice)
    tx = tournament.withdraw(2 * NMR_WEI, {"from": alice})
    assert tx.events["Withdrawn"] == {"owner": alice, "amount": 2 * NMR_WEI}
    assert tournament.balanceOf(alice) == 3 * NMR_WEI
    assert nmr.balanceOf(alice) == before + 2 * NMR_WEI


def test_withdraw_zero_reverts(tournament, alice):
    with reverts_with("ZeroAmount"):
        tournament.withdraw(0, {"from": alice})


def test_withdraw_more_than_balance_reverts(tournament, alice):
    tournament.deposit(5 * NMR_WEI, {"from": alice})
    with reverts_with("InsufficientBalance", alice, 5 * NMR_WEI, 5 * NMR_WEI + 1):
        tournament.withdraw(5 * NMR_WEI + 1, {"from": alice})


def test_withdraw_cannot_touch_another_wallet(tournament, alice, bob):
    tournament.deposit(5 * NMR_WEI, {"from": alice})
    with reverts_with("InsufficientBalance", bob, 0, NMR_WEI):
        tournament.withdraw(NMR_WEI, {"from": bob})
    assert tournament.balanceOf(alice) == 5 * NMR_WEI


def test_withdraw_works_while_paused(tournament, nmr, guardian, alice):
    tournament.deposit(5 * NMR_WEI, {"from": alice})
    tournament.pause({"from": guardian})
    tournament.withdraw(5 * NMR_WEI, {"from": alice})
    assert tournament.balanceOf(alice) == 0


def test_deposit_with_valid_permit(tournament, nmr, treasury, outsider, participant_keys):
    nmr.transfer(outsider, 3 * NMR_WEI, {"from": treasury})
    deadline = chain.time() + 3600
    v, r, s = sign_permit(nmr, participant_keys[str(outsider)], tournament, 3 * NMR_WEI, deadline)
    tx = tournament.depositWithPermit(3 * NMR_WEI, deadline, v, r, s, {"from": outsider})
    assert tx.events["Deposited"] == {"owner": outsider, "amount": 3 * NMR_WEI}
    assert tournament.balanceOf(outsider) == 3 * NMR_WEI
    assert nmr.nonces(outsider) == 1
    assert nmr.allowance(outsider, tournament) == 0


def test_deposit_with_front_run_permit_still_deposits(tournament, nmr, treasury, outsider, keeper,
                                                      participant_keys):
    nmr.transfer(outsider, 3 * NMR_WEI, {"from": treasury})
    deadline = chain.time() + 3600
    v, r, s = sign_permit(nmr, participant_keys[str(outsider)], tournament, 3 * NMR_WEI, deadline)
    # Someone watching the mempool submits the permit first: it is used up, the allowance exists.
    nmr.permit(outsider, tournament, 3 * NMR_WEI, deadline, v, r, s, {"from": keeper})
    assert nmr.allowance(outsider, tournament) == 3 * NMR_WEI
    tournament.depositWithPermit(3 * NMR_WEI, deadline, v, r, s, {"from": outsider})
    assert tournament.balanceOf(outsider) == 3 * NMR_WEI


def test_deposit_with_expired_permit_but_allowance_still_deposits(tournament, alice, participant_keys, nmr):
    # alice approved the tournament in the fixture; her expired permit must not matter.
    v, r, s = sign_permit(nmr, participant_keys[str(alice)], tournament, NMR_WEI, 1)
    tournament.depositWithPermit(NMR_WEI, 1, v, r, s, {"from": alice})
    assert tournament.balanceOf(alice) == NMR_WEI


def test_deposit_with_failed_permit_and_no_allowance_reverts(tournament, nmr, treasury, outsider,
                                                             participant_keys):
    nmr.transfer(outsider, 3 * NMR_WEI, {"from": treasury})
    deadline = chain.time() + 3600
    # Signed for a smaller value than deposited: the permit fails and there is no allowance.
    v, r, s = sign_permit(nmr, participant_keys[str(outsider)], tournament, NMR_WEI, deadline)
    with reverts_with("ERC20InsufficientAllowance", tournament, 0, 3 * NMR_WEI):
        tournament.depositWithPermit(3 * NMR_WEI, deadline, v, r, s, {"from": outsider})


def test_deposit_with_permit_while_paused_reverts(tournament, nmr, guardian, alice, participant_keys):
    deadline = chain.time() + 3600
    v, r, s = sign_permit(nmr, participant_keys[str(alice)], tournament, NMR_WEI, deadline)
    tournament.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        tournament.depositWithPermit(NMR_WEI, deadline, v, r, s, {"from": alice})


def test_deposit_with_permit_zero_reverts(tournament, nmr, alice, participant_keys):
    deadline = chain.time() + 3600
    v, r, s = sign_permit(nmr, participant_keys[str(alice)], tournament, 0, deadline)
    with reverts_with("ZeroAmount"):
        tournament.depositWithPermit(0, deadline, v, r, s, {"from": alice})


def test_fund_rewards_is_permissionless(tournament, nmr, alice):
    pool = tournament.rewardPool()
    tx = tournament.fundRewards(7 * NMR_WEI, {"from": alice})
    assert tx.events["RewardsFunded"] == {"funder": alice, "amount": 7 * NMR_WEI}
    assert tournament.rewardPool() == pool + 7 * NMR_WEI
    assert tournament.balanceOf(alice) == 0


def test_fund_rewards_zero_reverts(tournament, alice):
    with reverts_with("ZeroAmount"):
        tournament.fundRewards(0, {"from": alice})


def test_fund_rewards_while_paused_reverts(tournament, guardian, alice):
    tournament.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        tournament.fundRewards(NMR_WEI, {"from": alice})


def test_withdraw_rewards_takes_only_the_unreserved_pool(tournament, nmr, admin, treasury, invariants):
    pool = tournament.rewardPool()
    before = nmr.balanceOf(treasury)
    tx = tournament.withdrawRewards(3 * NMR_WEI, treasury, {"from": admin})
    assert tx.events["RewardsWithdrawn"] == {"to": treasury, "amount": 3 * NMR_WEI}
    assert tournament.rewardPool() == pool - 3 * NMR_WEI
    assert nmr.balanceOf(treasury) == before + 3 * NMR_WEI
    assert nmr.balanceOf(tournament) == tournament.accountedNmr()
    with reverts_with("InsufficientRewardPool", pool, pool - 3 * NMR_WEI):
        tournament.withdrawRewards(pool, treasury, {"from": admin})
    with reverts_with("ZeroAmount"):
        tournament.withdrawRewards(0, treasury, {"from": admin})
    with reverts_with("ZeroAddress"):
        tournament.withdrawRewards(NMR_WEI, ZERO_ADDRESS, {"from": admin})


def test_withdraw_rewards_only_admin(tournament, operator, guardian):
    for account in (operator, guardian):
        with reverts_with("AccessControlUnauthorizedAccount", account, DEFAULT_ADMIN_ROLE):
            tournament.withdrawRewards(1, account, {"from": account})


def test_recover_surplus_takes_only_nmr_beyond_accounted(tournament, nmr, admin, alice, treasury, invariants):
    tournament.deposit(10 * NMR_WEI, {"from": alice})
    nmr.transfer(tournament, 4 * NMR_WEI, {"from": treasury})  # a donation, owed to nobody
    invariants.expected_surplus_wei = 4 * NMR_WEI
    invariants.check()
    before = nmr.balanceOf(admin)
    tx = tournament.recoverSurplus(nmr, admin, {"from": admin})
    assert tx.events["SurplusRecovered"] == {"token": nmr, "to": admin, "amount": 4 * NMR_WEI}
    assert nmr.balanceOf(admin) == before + 4 * NMR_WEI
    assert nmr.balanceOf(tournament) == tournament.accountedNmr()
    assert tournament.balanceOf(alice) == 10 * NMR_WEI
    with reverts_with("NoSurplus", nmr):
        tournament.recoverSurplus(nmr, admin, {"from": admin})


def test_recover_surplus_without_donation_reverts(tournament, nmr, admin):
    with reverts_with("NoSurplus", nmr):
        tournament.recoverSurplus(nmr, admin, {"from": admin})


def test_recover_surplus_of_foreign_token_takes_all(tournament, admin, outsider):
    token = MockERC20.deploy({"from": admin})
    token.mint(tournament, 123, {"from": admin})
    tournament.recoverSurplus(token, outsider, {"from": admin})
    assert token.balanceOf(outsider) == 123
    with reverts_with("NoSurplus", token):
        tournament.recoverSurplus(token, outsider, {"from": admin})


def test_recover_surplus_to_zero_address_reverts(tournament, nmr, admin):
    with reverts_with("ZeroAddress"):
        tournament.recoverSurplus(nmr, ZERO_ADDRESS, {"from": admin})


def test_recover_surplus_only_admin(tournament, nmr, operator):
    with reverts_with("AccessControlUnauthorizedAccount", operator, DEFAULT_ADMIN_ROLE):
        tournament.recoverSurplus(nmr, operator, {"from": operator})


def test_constructor_rejects_zero_addresses_and_bad_config(nmr, admin):
    with reverts_with("ZeroAddress"):
        Tournament.deploy(ZERO_ADDRESS, admin, config_tuple(), 0, {"from": admin})
    with reverts_with("ZeroAddress"):
        Tournament.deploy(nmr, ZERO_ADDRESS, config_tuple(), 0, {"from": admin})
    with reverts_with("InvalidConfig", "clipBps"):
        Tournament.deploy(nmr, admin, config_tuple(clipBps=10_001), 0, {"from": admin})


def test_constructor_grants_only_admin_role(tournament, admin, operator, outsider):
    assert tournament.hasRole(DEFAULT_ADMIN_ROLE, admin)
    assert not tournament.hasRole(DEFAULT_ADMIN_ROLE, operator)
    assert tournament.nmr() != ZERO_ADDRESS
    assert list(tournament.config()) == list(config_tuple())
    assert tournament.burnMethod() == 0  # BurnMethod.Burn


def test_reentrant_token_cannot_reenter(admin, alice, accounts):
    """A token that calls back into the tournament during a transfer hits the reentrancy guard."""
    token = ReentrantToken.deploy(alice, 1_000 * NMR_WEI, {"from": admin})
    hostile = Tournament.deploy(token, admin, config_tuple(), 0, {"from": admin})
    token.approve(hostile, 2**256 - 1, {"from": alice})
    hostile.deposit(10 * NMR_WEI, {"from": alice})
    # Armed: the next transfer (the deposit's transferFrom) calls hostile.withdraw from the token.
    token.arm(hostile, hostile.withdraw.encode_input(NMR_WEI), {"from": alice})
    with reverts_with("ReentrancyGuardReentrantCall"):
        hostile.deposit(NMR_WEI, {"from": alice})
    token.arm(hostile, hostile.fundRewards.encode_input(NMR_WEI), {"from": alice})
    with reverts_with("ReentrancyGuardReentrantCall"):
        hostile.withdraw(NMR_WEI, {"from": alice})
    assert hostile.balanceOf(alice) == 10 * NMR_WEI
    assert token.balanceOf(hostile) == hostile.accountedNmr() == 10 * NMR_WEI
