"""One signer key per process: keystore, environment, external command; foreign signatures rejected."""
from __future__ import annotations

import sys
import textwrap

import pytest

from tournament.chain.keys import (
    PROBE_DIGEST,
    CommandDigestSigner,
    KeyLoadError,
    SignerKeyError,
    anvil_test_accounts,
    load_signer,
    new_keystore,
    normalize_signature,
)
from tournament.protocol.signing import SECP256K1_N

DIGEST = bytes(range(32))


@pytest.fixture(scope="module")
def accounts():
    return anvil_test_accounts(10)


def _command(tmp_path, key_hex: str, mode: str = "plain") -> str:
    """A signing bridge: reads the digest hex, prints a signature by `key_hex` (optionally in odd forms)."""
    script = tmp_path / f"bridge_{mode}.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from eth_account import Account
        digest = bytes.fromhex(sys.stdin.read().strip()[2:])
        sig = bytes(Account.unsafe_sign_hash(digest, "{key_hex}").signature)
        mode = "{mode}"
        if mode == "high_s":
            n = {SECP256K1_N}
            s = n - int.from_bytes(sig[32:64], "big")
            sig = sig[:32] + s.to_bytes(32, "big") + bytes([(sig[64] - 27) ^ 1])
        if mode == "garbage":
            print("not a signature"); sys.exit(0)
        if mode == "fail":
            print("device locked", file=sys.stderr); sys.exit(3)
        print("0x" + sig.hex())
    """))
    return f"{sys.executable} {script}"


def test_keystore_with_password_from_env_or_file(tmp_path, accounts):
    path = tmp_path / "signer.json"
    address = new_keystore(path, "pw-123", accounts[7].key, kdf="pbkdf2", iterations=2)
    signer = load_signer(keystore=path, password_env="SIGNER_PW", environ={"SIGNER_PW": "pw-123"})
    assert signer.address == address == accounts[7].address
    (tmp_path / "pw.txt").write_text("pw-123\n")
    assert load_signer(keystore=path, password_file=tmp_path / "pw.txt").address == address
    with pytest.raises(KeyLoadError, match="wrong password"):
        load_signer(keystore=path, password_env="SIGNER_PW", environ={"SIGNER_PW": "nope"})
    with pytest.raises(KeyLoadError, match="give its password"):
        load_signer(keystore=path)


def test_key_from_env_signs_a_recoverable_low_s_signature(accounts):
    signer = load_signer(key_env="K", environ={"K": accounts[8].key.hex()})
    signature = signer.sign_digest(DIGEST)
    assert normalize_signature(signature, DIGEST, accounts[8].address, "t") == (signature, accounts[8].address)
    assert int.from_bytes(signature[32:64], "big") <= SECP256K1_N // 2 and signature[64] in (27, 28)


def test_exactly_one_key_source(accounts):
    with pytest.raises(KeyLoadError, match="exactly one signer key source"):
        load_signer()
    with pytest.raises(KeyLoadError, match=r"got --keystore, --key-env"):
        load_signer(keystore="x.json", key_env="K")
    with pytest.raises(SignerKeyError, match="not of 0x"):
        load_signer(key_env="K", signer_address=accounts[1].address, environ={"K": accounts[8].key.hex()})


def test_external_command_signs_and_is_checked_by_recovery(tmp_path, accounts):
    signer = CommandDigestSigner(_command(tmp_path, accounts[9].key.hex()), accounts[9].address)
    assert signer.address == accounts[9].address
    signature = signer.sign_digest(DIGEST)
    assert normalize_signature(signature, DIGEST, accounts[9].address, "t")[1] == accounts[9].address
    learned = CommandDigestSigner(_command(tmp_path, accounts[9].key.hex()))   # address learned from a probe
    assert learned.address == accounts[9].address
    assert load_signer(sign_command=_command(tmp_path, accounts[9].key.hex())).address == accounts[9].address


def test_external_command_high_s_and_v01_answers_are_normalised(tmp_path, accounts):
    signer = CommandDigestSigner(_command(tmp_path, accounts[9].key.hex(), "high_s"), accounts[9].address)
    signature = signer.sign_digest(DIGEST)
    assert int.from_bytes(signature[32:64], "big") <= SECP256K1_N // 2 and signature[64] in (27, 28)


def test_a_command_that_signs_with_another_key_is_rejected(tmp_path, accounts):
    with pytest.raises(SignerKeyError, match=f"the signature is by {accounts[3].address}, not by the signer "
                                             f"{accounts[9].address}; refusing to use it"):
        CommandDigestSigner(_command(tmp_path, accounts[3].key.hex()), accounts[9].address)


def test_a_command_that_switches_keys_after_the_probe_is_rejected_at_signing(tmp_path, accounts):
    signer = CommandDigestSigner(_command(tmp_path, accounts[9].key.hex()), accounts[9].address)
    signer.argv = _command(tmp_path, accounts[3].key.hex(), "plain").split()
    with pytest.raises(SignerKeyError, match="not by the signer"):
        signer.sign_digest(DIGEST)


@pytest.mark.parametrize("mode, message", [("garbage", "the signature is not hex"),
                                           ("fail", r"exit status 3 \(device locked\)")])
def test_a_broken_command_is_one_clear_error(tmp_path, accounts, mode, message):
    with pytest.raises(SignerKeyError, match=message):
        CommandDigestSigner(_command(tmp_path, accounts[9].key.hex(), mode), accounts[9].address)


def test_the_probe_digest_is_not_a_results_digest():
    assert len(PROBE_DIGEST) == 32 and PROBE_DIGEST != DIGEST
