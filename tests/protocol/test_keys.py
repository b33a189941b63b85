"""oracle/keys.py: keystores and environment keys load with clear errors that never show secrets;
anvil's dev keys derive from its mnemonic."""
from __future__ import annotations

import json
import os
import stat

import pytest
from eth_account import Account

from tournament.chain.keys import (
    ANVIL_FIRST_ADDRESS,
    KeyLoadError,
    anvil_test_accounts,
    anvil_test_keys,
    key_from_env,
    load_account,
    load_keystore,
    new_keystore,
)

# Cheap KDF settings: the format is the same, only the work factor differs.
FAST = {"kdf": "pbkdf2", "iterations": 1000}
KEY = "0x" + "4c" * 32  # a throwaway test key
PASSWORD = "correct horse battery staple"


def test_anvil_test_keys_are_anvils_well_known_dev_keys():
    keys = anvil_test_keys()
    assert len(keys) == 10 and len(set(keys)) == 10
    assert keys[0] == "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    addresses = [a.address for a in anvil_test_accounts()]
    assert addresses[0] == ANVIL_FIRST_ADDRESS
    assert addresses[1] == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert addresses[9] == "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
    assert anvil_test_keys(3) == keys[:3]


def test_new_keystore_round_trips_with_owner_only_permissions(tmp_path):
    path = tmp_path / "signers" / "signer0.json"
    address = new_keystore(path, PASSWORD, KEY, **FAST)
    assert address == Account.from_key(KEY).address
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert KEY[2:] not in text and PASSWORD not in text
    assert load_keystore(path, PASSWORD).address == address


def test_new_keystore_generates_a_key_and_never_replaces_a_file(tmp_path):
    path = tmp_path / "k.json"
    address = new_keystore(path, PASSWORD, **FAST)
    with pytest.raises(KeyLoadError, match="already exists"):
        new_keystore(path, PASSWORD, KEY, **FAST)
    assert load_keystore(path, PASSWORD).address == address
    assert new_keystore(path, PASSWORD, KEY, overwrite=True, **FAST) == Account.from_key(KEY).address
    with pytest.raises(KeyLoadError, match="empty password"):
        new_keystore(tmp_path / "empty.json", "", **FAST)


def test_password_from_environment_or_prompt(tmp_path):
    path = tmp_path / "k.json"
    address = new_keystore(path, PASSWORD, KEY, **FAST)
    env = {"SIGNER_PASSWORD": PASSWORD}
    assert load_keystore(path, password_env="SIGNER_PASSWORD", environ=env).address == address
    questions = []
    account = load_keystore(path, prompt=lambda question: questions.append(question) or PASSWORD)
    assert account.address == address and questions == [f"Password for keystore {path}"]
    assert load_account(keystore=path, password_env="SIGNER_PASSWORD", environ=env).address == address


def test_wrong_password_says_so_without_the_password(tmp_path):
    path = tmp_path / "k.json"
    new_keystore(path, PASSWORD, KEY, **FAST)
    with pytest.raises(KeyLoadError) as error:
        load_keystore(path, "hunter2")
    assert str(error.value) == f"keystore {path}: wrong password"


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("not json", "not JSON"),
    ('{"address": "00"}', "not an encrypted keystore"),
])
def test_unusable_keystore_files_are_named_in_the_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KeyLoadError, match=f"keystore {path}: {message}"):
        load_keystore(path, PASSWORD)


def test_keystore_without_any_password_source_is_refused(tmp_path):
    path = tmp_path / "k.json"
    new_keystore(path, PASSWORD, KEY, **FAST)
    with pytest.raises(KeyLoadError, match="no password given"):
        load_keystore(path)
    with pytest.raises(KeyLoadError, match="environment variable SIGNER_PASSWORD is not set"):
        load_keystore(path, password_env="SIGNER_PASSWORD", environ={})


def test_keystore_whose_address_disagrees_with_its_key_is_corrupt(tmp_path):
    path = tmp_path / "k.json"
    new_keystore(path, PASSWORD, KEY, **FAST)
    keystore = json.loads(path.read_text())
    keystore["address"] = "11" * 20
    path.write_text(json.dumps(keystore))
    with pytest.raises(KeyLoadError, match="corrupt"):
        load_keystore(path, PASSWORD)


def test_key_from_environment_variable():
    assert key_from_env(environ={"ORACLE_SIGNER_KEY": KEY}).address == Account.from_key(KEY).address
    assert key_from_env("OTHER", environ={"OTHER": KEY[2:] + "\n"}).address == Account.from_key(KEY).address
    assert load_account(key_env="OTHER", environ={"OTHER": KEY}).key == Account.from_key(KEY).key


def test_missing_or_malformed_environment_key_errors_never_show_the_value():
    with pytest.raises(KeyLoadError) as error:
        key_from_env(environ={})
    assert str(error.value) == "environment variable ORACLE_SIGNER_KEY is not set"
    secretish = "0x" + "ab" * 31  # one byte short
    with pytest.raises(KeyLoadError, match="does not hold a private key") as error:
        key_from_env(environ={"ORACLE_SIGNER_KEY": secretish})
    assert "ab" * 4 not in str(error.value)
    with pytest.raises(KeyLoadError, match="does not hold a private key"):
        key_from_env(environ={"ORACLE_SIGNER_KEY": "0x" + "00" * 32})  # zero is not a valid key
    with pytest.raises(KeyLoadError, match="not both"):
        load_account(keystore="x.json", key_env="ORACLE_SIGNER_KEY")
