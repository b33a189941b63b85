"""oracle/signing.py: the hand-built EIP-712 digest equals eth-account's, signatures come sorted and
low-s, and the malleable high-s twin recovers to the same signer (so the contract must reject it)."""
from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given, settings, strategies as st

from tournament.protocol.signing import (
    RESULTS_TYPEHASH,
    SECP256K1_N,
    Domain,
    Results,
    SigningError,
    check_signatures,
    domain_from_eip712_domain_call,
    domain_separator,
    make_high_s,
    recover_signer,
    recover_signers,
    results_digest,
    sign_results,
    split_signature,
    typed_data,
)

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = Domain(chain_id=31337, verifying_contract=CONTRACT)
RESULTS = Results(round_id=12, attempt=0, results_root=b"\xaa" * 32, leaf_count=250,
                  artifacts_hash="0x" + "bb" * 32, signer_set_version=3)
# Deterministic, non-secret test keys.
KEYS = ["0x" + (bytes([i]) * 32).hex() for i in range(1, 8)]
ADDRESSES = [Account.from_key(k).address for k in KEYS]


def eth_account_digest(domain: Domain, results: Results) -> bytes:
    return _hash_eip191_message(encode_typed_data(full_message=typed_data(domain, results)))


def test_results_typehash_is_the_protocols_struct():
    assert RESULTS_TYPEHASH == keccak(b"Results(uint256 roundId,uint32 attempt,bytes32 resultsRoot,"
                                      b"uint32 leafCount,bytes32 artifactsHash,uint64 signerSetVersion)")


def test_domain_separator_and_digest_equal_eth_accounts():
    signable = encode_typed_data(full_message=typed_data(DOMAIN, RESULTS))
    assert domain_separator(DOMAIN) == signable.header
    assert results_digest(DOMAIN, RESULTS) == eth_account_digest(DOMAIN, RESULTS)


bytes32 = st.binary(min_size=32, max_size=32)


@settings(max_examples=40, deadline=None)
@given(
    round_id=st.integers(0, 2**256 - 1), attempt=st.integers(0, 2**32 - 1), root=bytes32,
    leaf_count=st.integers(0, 2**32 - 1), artifacts=bytes32, version=st.integers(0, 2**64 - 1),
    chain_id=st.integers(1, 2**64), contract=st.binary(min_size=20, max_size=20),
    name=st.sampled_from(["NumeraireTournament", "Other", ""]),
)
def test_digest_equals_eth_accounts_for_any_results(round_id, attempt, root, leaf_count, artifacts, version,
                                                    chain_id, contract, name):
    domain = Domain(chain_id=chain_id, verifying_contract=contract, name=name)
    results = Results(round_id, attempt, root, leaf_count, artifacts, version)
    assert results_digest(domain, results) == eth_account_digest(domain, results)


def test_every_field_changes_the_digest():
    base = results_digest(DOMAIN, RESULTS)
    variants = [
        Results(13, 0, RESULTS.results_root, 250, RESULTS.artifacts_hash, 3),
        Results(12, 1, RESULTS.results_root, 250, RESULTS.artifacts_hash, 3),  # a veto bumps attempt
        Results(12, 0, b"\xab" * 32, 250, RESULTS.artifacts_hash, 3),
        Results(12, 0, RESULTS.results_root, 251, RESULTS.artifacts_hash, 3),
        Results(12, 0, RESULTS.results_root, 250, b"\xbc" * 32, 3),
        Results(12, 0, RESULTS.results_root, 250, RESULTS.artifacts_hash, 4),  # setSigners bumps it
    ]
    digests = {results_digest(DOMAIN, r) for r in variants}
    digests |= {results_digest(Domain(1, CONTRACT), RESULTS),
                results_digest(Domain(31337, "0x" + "11" * 20), RESULTS)}
    assert base not in digests and len(digests) == len(variants) + 2


def test_signatures_are_65_bytes_low_s_and_sorted_by_ascending_signer():
    signatures = sign_results(DOMAIN, RESULTS, KEYS)
    assert len(signatures) == len(KEYS)
    signers = recover_signers(DOMAIN, RESULTS, signatures)
    assert signers == sorted(ADDRESSES, key=lambda a: int(a, 16))
    assert [int(a, 16) for a in signers] == sorted({int(a, 16) for a in signers})  # strictly ascending
    for signature in signatures:
        v, r, s = split_signature(signature)
        assert len(signature) == 65 and v in (27, 28) and 0 < s <= SECP256K1_N // 2
    assert check_signatures(DOMAIN, RESULTS, signatures, ADDRESSES, threshold=len(KEYS)) == []


def test_signatures_equal_eth_accounts_sign_typed_data():
    [key] = KEYS[:1]
    ours = sign_results(DOMAIN, RESULTS, [key])[0]
    theirs = Account.sign_typed_data(key, full_message=typed_data(DOMAIN, RESULTS)).signature
    assert ours == bytes(theirs)


def test_keys_may_be_hex_bytes_or_accounts_but_one_signer_signs_once():
    as_bytes = bytes.fromhex(KEYS[0][2:])
    assert sign_results(DOMAIN, RESULTS, [as_bytes]) == sign_results(DOMAIN, RESULTS, [Account.from_key(KEYS[0])])
    with pytest.raises(SigningError, match="same signer"):
        sign_results(DOMAIN, RESULTS, [KEYS[0], as_bytes])
    with pytest.raises(SigningError, match="private key must be 32 bytes") as error:
        sign_results(DOMAIN, RESULTS, ["0x1234"])
    with pytest.raises(SigningError, match="private key must be 32 bytes"):
        sign_results(DOMAIN, RESULTS, [b"\x00" * 32])
    assert "1234" not in str(error.value)  # key material never ends up in messages


def test_high_s_twin_recovers_to_the_same_signer_which_is_why_the_contract_must_reject_it():
    signature = sign_results(DOMAIN, RESULTS, KEYS[:1])[0]
    twin = make_high_s(signature)
    v, r, s = split_signature(signature)
    v2, r2, s2 = split_signature(twin)
    assert twin != signature and r2 == r and s2 == SECP256K1_N - s and s2 > SECP256K1_N // 2 and {v, v2} == {27, 28}
    assert recover_signer(DOMAIN, RESULTS, twin) == recover_signer(DOMAIN, RESULTS, signature) == ADDRESSES[0]
    problems = check_signatures(DOMAIN, RESULTS, [twin], ADDRESSES, threshold=1)
    assert len(problems) == 1 and "high s" in problems[0]


def test_check_signatures_reports_each_rule_the_contract_enforces():
    signatures = sign_results(DOMAIN, RESULTS, KEYS[:3])
    signers = recover_signers(DOMAIN, RESULTS, signatures)
    assert any("not after the previous signer" in p
               for p in check_signatures(DOMAIN, RESULTS, signatures[::-1], signers, 3))
    assert any("not after the previous signer" in p
               for p in check_signatures(DOMAIN, RESULTS, [signatures[0], signatures[0]], signers, 2))
    assert any("is not a current signer" in p
               for p in check_signatures(DOMAIN, RESULTS, signatures, signers[:2], 2))
    assert any("threshold is 4" in p for p in check_signatures(DOMAIN, RESULTS, signatures, signers, 4))
    # signatures over the vetoed attempt recover to strangers, never to the signers
    bumped = Results(12, 1, RESULTS.results_root, 250, RESULTS.artifacts_hash, 3)
    assert set(recover_signers(DOMAIN, bumped, signatures)).isdisjoint(signers)
    assert check_signatures(DOMAIN, bumped, signatures, signers, 1) != []
    bad_v = signatures[0][:64] + bytes([29])
    assert any("v must be 27 or 28" in p for p in check_signatures(DOMAIN, RESULTS, [bad_v], signers, 1))


@pytest.mark.parametrize("fields", [b"\x0f", "0x0f", 15])
def test_domain_from_eip712_domain_call_as_web3_or_brownie_return_it(fields):
    call = (fields, "NumeraireTournament", "1", 31337, CONTRACT.lower(), b"\x00" * 32, [])
    assert domain_from_eip712_domain_call(call) == DOMAIN


def test_domain_from_eip712_domain_call_refuses_other_domains():
    with pytest.raises(SigningError, match="expected 'NumeraireTournament'"):
        domain_from_eip712_domain_call((b"\x0f", "Permit2", "1", 1, CONTRACT, b"\x00" * 32, []))
    with pytest.raises(SigningError, match="version '2'"):
        domain_from_eip712_domain_call((b"\x0f", "NumeraireTournament", "2", 1, CONTRACT, b"\x00" * 32, []))
    with pytest.raises(SigningError, match="0x1f"):
        domain_from_eip712_domain_call((b"\x1f", "NumeraireTournament", "1", 1, CONTRACT, b"\x01" * 32, []))
    with pytest.raises(SigningError, match="7 values"):
        domain_from_eip712_domain_call(("NumeraireTournament", "1", 1, CONTRACT))


@pytest.mark.parametrize("make, message", [
    (lambda: Results(1, 2**32, b"\x00" * 32, 1, b"\x00" * 32, 1), "attempt = 4294967296 does not fit in uint32"),
    (lambda: Results(1, 0, b"\x00" * 31, 1, b"\x00" * 32, 1), "results_root must be 32 bytes"),
    (lambda: Results(1, 0, b"\x00" * 32, -1, b"\x00" * 32, 1), "leaf_count"),
    (lambda: Results(1, 0, b"\x00" * 32, 1, "0xzz", 1), "artifacts_hash"),
    (lambda: Results(1, 0, b"\x00" * 32, 1, b"\x00" * 32, 2**64), "uint64"),
    (lambda: Domain(1, "0x1234"), "verifying_contract must be an address"),
])
def test_bad_results_or_domains_are_refused(make, message):
    with pytest.raises(SigningError, match=message):
        make()
