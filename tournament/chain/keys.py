"""Loading the keys of oracle signers and participants without ever showing them.

A key comes from an encrypted eth-account keystore (JSON v3) and its password, taken from an
environment variable or asked for through a prompt callback (the CLI passes a hidden
prompt), or as a hex private key from an environment variable (for CI and dev chains). The
result is an eth-account `LocalAccount`, which `tournament.protocol.signing.sign_results` accepts. Error
messages name the file or the variable and what to do, and never contain key material or
passwords. `anvil_test_keys` gives the well-known, public dev keys of anvil's default
mnemonic, for tests and local demos only. I/O here is limited to reading and writing the
keystore file named by the caller and reading the environment.
"""
from __future__ import annotations

import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

from eth_account import Account
from eth_account.signers.local import LocalAccount

__all__ = [
    "ANVIL_FIRST_ADDRESS",
    "ANVIL_MNEMONIC",
    "DEFAULT_KEY_ENV",
    "KeyLoadError",
    "anvil_test_accounts",
    "anvil_test_keys",
    "key_from_env",
    "load_account",
    "load_keystore",
    "new_keystore",
]

log = logging.getLogger(__name__)

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_FIRST_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEFAULT_KEY_ENV = "ORACLE_SIGNER_KEY"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

PathLike = Union[str, os.PathLike]
Prompt = Callable[[str], str]


class KeyLoadError(ValueError):
    """A key that could not be loaded; the message says from where and what to do (never the key)."""


def _env_value(name: str, environ: Optional[Mapping[str, str]]) -> str:
    value = (os.environ if environ is None else environ).get(name)
    if value is None or value == "":
        raise KeyLoadError(f"environment variable {name} is not set")
    return value


def key_from_env(name: str = DEFAULT_KEY_ENV, environ: Optional[Mapping[str, str]] = None) -> LocalAccount:
    """The account whose hex private key (0x optional) is in environment variable `name`."""
    text = _env_value(name, environ).strip()
    body = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        key = bytes.fromhex(body)
        # eth-keys accepts any 32 bytes; only 1..n-1 is a secp256k1 private key.
        if len(key) != 32 or not 0 < int.from_bytes(key, "big") < SECP256K1_N:
            raise ValueError
        account = Account.from_key(key)
    except (ValueError, TypeError):
        raise KeyLoadError(f"environment variable {name} does not hold a private key "
                           "(expected 64 hex digits, optionally with 0x, of a valid secp256k1 key)") from None
    log.info("loaded key of %s from environment variable %s", account.address, name)
    return account


def _read_keystore(path: Path) -> dict:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise KeyLoadError(f"keystore {path}: no such file") from None
    except OSError as error:
        raise KeyLoadError(f"keystore {path}: cannot be read ({error.strerror})") from None
    try:
        keystore = json.loads(text)
    except json.JSONDecodeError:
        raise KeyLoadError(f"keystore {path}: not JSON; expected an encrypted keystore "
                           "(create one with `new_keystore`)") from None
    if not isinstance(keystore, dict) or "crypto" not in {k.lower() for k in keystore}:
        raise KeyLoadError(f"keystore {path}: not an encrypted keystore (no 'crypto' section)")
    return keystore


def load_keystore(
    path: PathLike,
    password: Optional[str] = None,
    *,
    password_env: Optional[str] = None,
    prompt: Optional[Prompt] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> LocalAccount:
    """Decrypt a keystore file. The password is `password`, else the environment variable named
    `password_env`, else `prompt(question)` (e.g. a hidden click prompt); one is required."""
    path = Path(path)
    keystore = _read_keystore(path)
    if password is None and password_env is not None:
        password = _env_value(password_env, environ)
    if password is None and prompt is not None:
        password = prompt(f"Password for keystore {path}")
    if password is None:
        raise KeyLoadError(f"keystore {path}: no password given; pass one, name an environment "
                           "variable that holds it, or run interactively to be asked")
    try:
        private_key = Account.decrypt(keystore, password)
    except ValueError as error:
        if "MAC mismatch" in str(error):
            raise KeyLoadError(f"keystore {path}: wrong password") from None
        raise KeyLoadError(f"keystore {path}: cannot be decrypted ({error})") from None
    account = Account.from_key(private_key)
    expected = keystore.get("address")
    if expected and int(expected, 16) != int(account.address, 16):
        raise KeyLoadError(f"keystore {path}: decrypts to {account.address}, but the file says "
                           f"0x{expected.lower().removeprefix('0x')}; the file is corrupt")
    log.info("loaded key of %s from keystore %s", account.address, path)
    return account


def load_account(
    *,
    keystore: Optional[PathLike] = None,
    password_env: Optional[str] = None,
    prompt: Optional[Prompt] = None,
    key_env: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> LocalAccount:
    """One entry point for commands: a keystore (with its password source) or a key variable."""
    if keystore is not None and key_env is not None:
        raise KeyLoadError("give either a keystore or a key environment variable, not both")
    if keystore is not None:
        return load_keystore(keystore, password_env=password_env, prompt=prompt, environ=environ)
    return key_from_env(key_env or DEFAULT_KEY_ENV, environ=environ)


def new_keystore(
    path: PathLike,
    password: str,
    private_key: Union[bytes, str, None] = None,
    *,
    kdf: Optional[str] = None,
    iterations: Optional[int] = None,
    overwrite: bool = False,
) -> str:
    """Write an encrypted keystore (owner-only permissions) and return its checksummed address.

    Without `private_key` a fresh key is generated. An existing file is never replaced unless
    `overwrite`: losing a signer key is worse than an error. `kdf` / `iterations` pass through
    to eth-account (defaults: scrypt with its standard cost; tests use cheaper settings).
    """
    path = Path(path)
    if not password:
        raise KeyLoadError(f"keystore {path}: refusing an empty password")
    if path.exists() and not overwrite:
        raise KeyLoadError(f"keystore {path}: already exists; choose another path or remove it first")
    account = Account.create() if private_key is None else Account.from_key(private_key)
    keystore = Account.encrypt(account.key, password, kdf=kdf, iterations=iterations)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with 0600 from the start: the file must never be readable by others, even briefly.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if overwrite else os.O_EXCL)
    with os.fdopen(os.open(path, flags, 0o600), "w") as handle:
        json.dump(keystore, handle)
        handle.write("\n")
    log.info("wrote keystore %s for %s", path, account.address)
    return account.address


@lru_cache(maxsize=None)
def _anvil_keys(count: int) -> tuple[str, ...]:
    # eth-account keeps HD derivation behind an opt-in switch; anvil's keys are public test keys.
    Account.enable_unaudited_hdwallet_features()
    accounts = [Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]
    if accounts[0].address != ANVIL_FIRST_ADDRESS:
        raise KeyLoadError(f"HD derivation gave {accounts[0].address} for anvil's first account, "
                           f"expected {ANVIL_FIRST_ADDRESS}; eth-account's derivation changed")
    return tuple("0x" + bytes(a.key).hex() for a in accounts)


def anvil_test_keys(count: int = 10) -> list[str]:
    """Anvil's default dev private keys (hex), PUBLIC knowledge: for tests and local chains only."""
    if count < 1:
        raise KeyLoadError(f"count must be at least 1, got {count}")
    return list(_anvil_keys(count))


def anvil_test_accounts(count: int = 10) -> list[LocalAccount]:
    """Anvil's default dev accounts as LocalAccounts (tests and local chains only)."""
    return [Account.from_key(key) for key in anvil_test_keys(count)]
