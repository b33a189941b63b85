"""tournament/protocol/signing.py (protocol v2): the hand-built EIP-712 digests (Results with
scoredAtRisk, UploadReceipt) equal eth-account's, signatures come sorted and low-s, the malleable
high-s twin recovers to the same signer (so the contract must reject it), and receipts are
recovered under the contract's non-malleable rules."""
from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from tournament.protocol.signing import (
    RECEIPT_TYPEHASH,
    RESULTS_TYPEHASH,
    SECP256K1_N,
    Domain,
    Results,
    SigningError,
    UploadReceipt,
    check_signatures,
    domain_from_eip712_domain_call,
    domain_separator,
    make_high_s,
    receipt_digest,
    receipt_typed_data,
    recover_receipt_signer,
    recover_signer,
    recover_signers,
    results_digest,
    sign_receipt,
    sign_results,
    split_signature,
    typed_data,
)

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = Domain(chain_id=31337, verifying_contract=CONTRACT)
SCORED_WEI = 1234 * 10**18
RESULTS = Results(round_id=12, attempt=0, results_root=b"\xaa" * 32, leaf_count=250,
                  scored_at_risk=SCORED_WEI, artifacts_hash="0x" + "bb" * 32, signer_set_version=3)
RECEIPT = UploadReceipt(round_id=12, model_id=7, submission_hash=b"\xcc" * 32, received_at=1_790_000_000)
# Deterministic, non-secret test keys.
KEYS = ["0x" + (bytes([i]) * 32).hex() for i in range(1, 8)]
ADDRESSES = [Account.from_key(k).address for k in KEYS]


def eth_account_digest(domain: Domain, results: Results) -> bytes:
    return _hash_eip191_message(encode_typed_data(full_message=typed_data(domain, results)))


def test_results_typehash_is_the_protocols_struct():
    assert RESULTS_TYPEHASH == keccak(b"Results(uint256 roundId,uint32 attempt,bytes32 resultsRoot,"
                                      b"uint32 leafCount,uint128 scoredAtRisk,bytes32 artifactsHash,"
                                      b"uint64 signerSetVersion)")
    assert RECEIPT_TYPEHASH == keccak(b"UploadReceipt(uint256 roundId,uint256 modelId,bytes32 submissionHash,"
                                      b"uint64 receivedAt)")


def test_domain_version_is_2():
    assert DOMAIN.version == "2" and DOMAIN.as_dict()["version"] == "2"


def test_domain_separator_and_digest_equal_eth_accounts():
    signable = encode_typed_data(full_message=typed_data(DOMAIN, RESULTS))
    assert domain_separator(DOMAIN) == signable.header
    assert results_digest(DOMAIN, RESULTS) == eth_account_digest(DOMAIN, RESULTS)


bytes32 = st.binary(min_size=32, max_size=32)


@settings(max_examples=40, deadline=None)
@given(
    round_id=st.integers(0, 2**256 - 1), attempt=st.integers(0, 2**32 - 1), root=bytes32,
    leaf_count=st.integers(0, 2**32 - 1), scored=st.integers(0, 2**128 - 1), artifacts=bytes32,
    version=st.integers(0, 2**64 - 1),
    chain_id=st.integers(1, 2**64), contract=st.binary(min_size=20, max_size=20),
    name=st.sampled_from(["NumeraireTournament", "Other", ""]),
)
def test_digest_equals_eth_accounts_for_any_results(round_id, attempt, root, leaf_count, scored, artifacts, version,
                                                    chain_id, contract, name):
    domain = Domain(chain_id=chain_id, verifying_contract=contract, name=name)
    results = Results(round_id, attempt, root, leaf_count, scored, artifacts, version)
    assert results_digest(domain, results) == eth_account_digest(domain, results)


def test_every_field_changes_the_digest():
    base = results_digest(DOMAIN, RESULTS)
    variants = [
        Results(13, 0, RESULTS.results_root, 250, SCORED_WEI, RESULTS.artifacts_hash, 3),
        Results(12, 1, RESULTS.results_root, 250, SCORED_WEI, RESULTS.artifacts_hash, 3),  # a veto bumps attempt
        Results(12, 0, b"\xab" * 32, 250, SCORED_WEI, RESULTS.artifacts_hash, 3),
        Results(12, 0, RESULTS.results_root, 251, SCORED_WEI, RESULTS.artifacts_hash, 3),
        Results(12, 0, RESULTS.results_root, 250, SCORED_WEI - 1, RESULTS.artifacts_hash, 3),  # v2
        Results(12, 0, RESULTS.results_root, 250, SCORED_WEI, b"\xbc" * 32, 3),
        Results(12, 0, RESULTS.results_root, 250, SCORED_WEI, RESULTS.artifacts_hash, 4),  # setSigners bumps it
    ]
    digests = {results_digest(DOMAIN, r) for r in variants}
    digests |= {results_digest(Domain(1, CONTRACT), RESULTS),
                results_digest(Domain(31337, "0x" + "11" * 20), RESULTS),
                results_digest(Domain(31337, CONTRACT, version="1"), RESULTS)}
    assert base not in digests and len(digests) == len(variants) + 3


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
    bumped = Results(12, 1, RESULTS.results_root, 250, SCORED_WEI, RESULTS.artifacts_hash, 3)
    assert set(recover_signers(DOMAIN, bumped, signatures)).isdisjoint(signers)
    assert check_signatures(DOMAIN, bumped, signatures, signers, 1) != []
    bad_v = signatures[0][:64] + bytes([29])
    assert any("v must be 27 or 28" in p for p in check_signatures(DOMAIN, RESULTS, [bad_v], signers, 1))


@pytest.mark.parametrize("fields", [b"\x0f", "0x0f", 15])
def test_domain_from_eip712_domain_call_as_web3_or_brownie_return_it(fields):
    call = (fields, "NumeraireTournament", "2", 31337, CONTRACT.lower(), b"\x00" * 32, [])
    assert domain_from_eip712_domain_call(call) == DOMAIN


def test_domain_from_eip712_domain_call_refuses_other_domains():
    with pytest.raises(SigningError, match="expected 'NumeraireTournament'"):
        domain_from_eip712_domain_call((b"\x0f", "Permit2", "2", 1, CONTRACT, b"\x00" * 32, []))
    # a version-1 tournament signs another struct: its signatures would be worthless here
    with pytest.raises(SigningError, match="version '1'"):
        domain_from_eip712_domain_call((b"\x0f", "NumeraireTournament", "1", 1, CONTRACT, b"\x00" * 32, []))
    with pytest.raises(SigningError, match="0x1f"):
        domain_from_eip712_domain_call((b"\x1f", "NumeraireTournament", "2", 1, CONTRACT, b"\x01" * 32, []))
    with pytest.raises(SigningError, match="7 values"):
        domain_from_eip712_domain_call(("NumeraireTournament", "2", 1, CONTRACT))


@pytest.mark.parametrize("make, message", [
    (lambda: Results(1, 2**32, b"\x00" * 32, 1, 0, b"\x00" * 32, 1), "attempt = 4294967296 does not fit in uint32"),
    (lambda: Results(1, 0, b"\x00" * 31, 1, 0, b"\x00" * 32, 1), "results_root must be 32 bytes"),
    (lambda: Results(1, 0, b"\x00" * 32, -1, 0, b"\x00" * 32, 1), "leaf_count"),
    (lambda: Results(1, 0, b"\x00" * 32, 1, 2**128, b"\x00" * 32, 1), "scored_at_risk = .* uint128"),
    (lambda: Results(1, 0, b"\x00" * 32, 1, -1, b"\x00" * 32, 1), "scored_at_risk"),
    (lambda: Results(1, 0, b"\x00" * 32, 1, 0, "0xzz", 1), "artifacts_hash"),
    (lambda: Results(1, 0, b"\x00" * 32, 1, 0, b"\x00" * 32, 2**64), "uint64"),
    (lambda: UploadReceipt(1, 1, b"\x00" * 31, 0), "submission_hash must be 32 bytes"),
    (lambda: UploadReceipt(1, -1, b"\x00" * 32, 0), "model_id"),
    (lambda: UploadReceipt(1, 1, b"\x00" * 32, 2**64), "received_at = .* uint64"),
    (lambda: Domain(1, "0x1234"), "verifying_contract must be an address"),
])
def test_bad_results_or_domains_are_refused(make, message):
    with pytest.raises(SigningError, match=message):
        make()


def test_results_field_order_is_the_structs():
    from dataclasses import fields
    assert [f.name for f in fields(Results)] == ["round_id", "attempt", "results_root", "leaf_count",
                                                  "scored_at_risk", "artifacts_hash", "signer_set_version"]
    assert [f.name for f in fields(UploadReceipt)] == ["round_id", "model_id", "submission_hash", "received_at"]
    assert RESULTS.as_tuple() == (12, 0, b"\xaa" * 32, 250, SCORED_WEI, b"\xbb" * 32, 3)


# ------------------------------------------------------------------ upload receipts (v2)

def eth_account_receipt_digest(domain: Domain, receipt: UploadReceipt) -> bytes:
    return _hash_eip191_message(encode_typed_data(full_message=receipt_typed_data(domain, receipt)))


@settings(max_examples=40, deadline=None)
@given(round_id=st.integers(0, 2**256 - 1), model_id=st.integers(0, 2**256 - 1), submission=bytes32,
       received_at=st.integers(0, 2**64 - 1), chain_id=st.integers(1, 2**64),
       contract=st.binary(min_size=20, max_size=20))
def test_receipt_digest_equals_eth_accounts(round_id, model_id, submission, received_at, chain_id, contract):
    domain = Domain(chain_id=chain_id, verifying_contract=contract)
    receipt = UploadReceipt(round_id, model_id, submission, received_at)
    assert receipt_digest(domain, receipt) == eth_account_receipt_digest(domain, receipt)
    assert typed_data(domain, receipt) == receipt_typed_data(domain, receipt)


def test_receipt_signature_equals_eth_accounts_and_recovers_to_the_service():
    ours = sign_receipt(KEYS[2], DOMAIN, RECEIPT)
    theirs = Account.sign_typed_data(KEYS[2], full_message=receipt_typed_data(DOMAIN, RECEIPT)).signature
    assert ours == bytes(theirs) and len(ours) == 65
    v, r, s = split_signature(ours)
    assert v in (27, 28) and s <= SECP256K1_N // 2
    assert recover_receipt_signer(DOMAIN, RECEIPT, ours) == ADDRESSES[2]
    assert recover_receipt_signer(DOMAIN, RECEIPT, "0x" + ours.hex()) == ADDRESSES[2]


def test_every_receipt_field_and_the_domain_change_the_signer():
    signature = sign_receipt(KEYS[0], DOMAIN, RECEIPT)
    others = [UploadReceipt(13, 7, RECEIPT.submission_hash, RECEIPT.received_at),
              UploadReceipt(12, 8, RECEIPT.submission_hash, RECEIPT.received_at),
              UploadReceipt(12, 7, b"\xcd" * 32, RECEIPT.received_at),
              UploadReceipt(12, 7, RECEIPT.submission_hash, RECEIPT.received_at + 1)]
    for other in others:
        try:
            assert recover_receipt_signer(DOMAIN, other, signature) != ADDRESSES[0]
        except SigningError:
            pass  # recovering to no key at all is also a refusal
    assert recover_receipt_signer(Domain(1, CONTRACT), RECEIPT, signature) != ADDRESSES[0]
    # a receipt is not a results signature: the type hashes differ
    assert receipt_digest(DOMAIN, RECEIPT) != results_digest(DOMAIN, RESULTS)


def test_receipt_recovery_is_non_malleable_like_the_contract():
    signature = sign_receipt(KEYS[0], DOMAIN, RECEIPT)
    with pytest.raises(SigningError, match="high s"):
        recover_receipt_signer(DOMAIN, RECEIPT, make_high_s(signature))
    with pytest.raises(SigningError, match="v must be 27 or 28"):
        recover_receipt_signer(DOMAIN, RECEIPT, signature[:64] + bytes([1]))
    with pytest.raises(SigningError, match="65 bytes"):
        recover_receipt_signer(DOMAIN, RECEIPT, signature[:64])
    with pytest.raises(SigningError, match="r and s"):
        recover_receipt_signer(DOMAIN, RECEIPT, b"\x00" * 32 + signature[32:])
    with pytest.raises(SigningError, match="private key"):
        sign_receipt("0x1234", DOMAIN, RECEIPT)
