"""The NMR token: fixed supply minted once to the treasury, no mint afterwards, burn and burnFrom
shrink the supply, EIP-2612 permit (valid, replayed, expired, wrong signer).
"""
from __future__ import annotations

from brownie import chain
from tournament_testlib import NMR_WEI, TOTAL_SUPPLY_WEI, ZERO_ADDRESS, reverts_with, sign_permit


def test_fixed_supply_minted_to_treasury(nmr, treasury):
    assert nmr.name() == "Numeraire" and nmr.symbol() == "NMR" and nmr.decimals() == 18
    assert nmr.TOTAL_SUPPLY_WEI() == TOTAL_SUPPLY_WEI == 11_000_000 * NMR_WEI
    assert nmr.totalSupply() == TOTAL_SUPPLY_WEI
    mint = nmr.tx.events["Transfer"]
    assert mint["from"] == ZERO_ADDRESS and mint["to"] == treasury and mint["value"] == TOTAL_SUPPLY_WEI


def test_no_mint_function(nmr):
    names = {item.get("name") for item in nmr.abi if item["type"] == "function"}
    assert not {n for n in names if n and "mint" in n.lower()}


def test_burn_shrinks_supply(nmr, treasury):
    tx = nmr.burn(5 * NMR_WEI, {"from": treasury})
    assert tx.events["Transfer"] == {"from": treasury, "to": ZERO_ADDRESS, "value": 5 * NMR_WEI}
    assert nmr.totalSupply() == TOTAL_SUPPLY_WEI - 5 * NMR_WEI
    assert nmr.balanceOf(treasury) == TOTAL_SUPPLY_WEI - 5 * NMR_WEI


def test_burn_more_than_balance_reverts(nmr, outsider):
    with reverts_with("ERC20InsufficientBalance", outsider, 0, 1):
        nmr.burn(1, {"from": outsider})


def test_burn_from_needs_allowance(nmr, treasury, outsider):
    with reverts_with("ERC20InsufficientAllowance", outsider, 0, NMR_WEI):
        nmr.burnFrom(treasury, NMR_WEI, {"from": outsider})
    nmr.approve(outsider, NMR_WEI, {"from": treasury})
    nmr.burnFrom(treasury, NMR_WEI, {"from": outsider})
    assert nmr.totalSupply() == TOTAL_SUPPLY_WEI - NMR_WEI
    assert nmr.allowance(treasury, outsider) == 0


def test_permit_sets_allowance_once(nmr, alice, bob, participant_keys):
    deadline = chain.time() + 3600
    v, r, s = sign_permit(nmr, participant_keys[str(alice)], bob, 7 * NMR_WEI, deadline)
    nmr.permit(alice, bob, 7 * NMR_WEI, deadline, v, r, s, {"from": bob})
    assert nmr.allowance(alice, bob) == 7 * NMR_WEI and nmr.nonces(alice) == 1
    # the same permit again: the nonce moved on, so it recovers to someone else
    with reverts_with_invalid_signer(nmr, alice, bob, 7 * NMR_WEI, deadline, v, r, s):
        nmr.permit(alice, bob, 7 * NMR_WEI, deadline, v, r, s, {"from": bob})


class reverts_with_invalid_signer(reverts_with):
    """ERC2612InvalidSigner(recovered, owner) where `recovered` is what the token's current digest yields."""

    def __init__(self, nmr, owner, spender, value, deadline, v, r, s):
        from eth_account import Account
        from eth_account.messages import encode_typed_data
        data = {
            "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                       {"name": "chainId", "type": "uint256"},
                                       {"name": "verifyingContract", "type": "address"}],
                      "Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                                 {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                                 {"name": "deadline", "type": "uint256"}]},
            "primaryType": "Permit",
            "domain": {"name": "Numeraire", "version": "1", "chainId": chain.id, "verifyingContract": nmr.address},
            "message": {"owner": str(owner), "spender": str(spender), "value": value, "nonce": nmr.nonces(owner),
                        "deadline": deadline},
        }
        recovered = Account.recover_message(encode_typed_data(full_message=data), vrs=(v, r, s))
        super().__init__("ERC2612InvalidSigner", recovered, owner)


def test_permit_expired_reverts(nmr, alice, bob, participant_keys):
    deadline = chain.time() - 10
    v, r, s = sign_permit(nmr, participant_keys[str(alice)], bob, NMR_WEI, deadline)
    with reverts_with("ERC2612ExpiredSignature", deadline):
        nmr.permit(alice, bob, NMR_WEI, deadline, v, r, s, {"from": bob})


def test_permit_by_wrong_key_reverts(nmr, alice, bob, participant_keys):
    deadline = chain.time() + 3600
    v, r, s = sign_permit(nmr, participant_keys[str(bob)], bob, NMR_WEI, deadline, nonce=0)
    with reverts_with_invalid_signer(nmr, alice, bob, NMR_WEI, deadline, v, r, s):
        nmr.permit(alice, bob, NMR_WEI, deadline, v, r, s, {"from": bob})
