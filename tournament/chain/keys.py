"""Loading the keys of oracle signers and participants without ever showing them.

A key comes from an encrypted eth-account keystore (JSON v3) and its password, taken from an
environment variable or asked for through a prompt callback (the CLI passes a hidden
prompt), or as a hex private key from an environment variable (for CI and dev chains). The
result is an eth-account `LocalAccount`, which `tournament.protocol.signing.sign_results` accepts. Error
messages name the file or the variable and what to do, and never contain key material or
passwords. `anvil_test_keys` gives the well-known, public dev keys of anvil's default
mnemonic, for tests and local demos only. I/O here is limited to reading and writing the
keystore file named by the caller and reading the environment.

Co-signers hold exactly one key per process, behind `DigestSigner` (an address and
`sign_digest(32 bytes) -> 65-byte signature`): `LocalDigestSigner` wraps a loaded account
(keystore or environment), `CommandDigestSigner` runs an external command (a hardware-wallet
or KMS bridge) that reads the digest hex on stdin and writes the signature hex on stdout.
Every signature, whatever produced it, is normalised to the contract's form (v in {27, 28},
low s) and checked by recovering its address before it is used. `load_signer` picks one
from command-line values.
"""
from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Literal, Optional, Protocol, Union

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak

__all__ = [
    "ANVIL_FIRST_ADDRESS",
    "ANVIL_MNEMONIC",
    "CommandDigestSigner",
    "DEFAULT_KEY_ENV",
    "DigestSigner",
    "KeyLoadError",
    "LocalDigestSigner",
    "SignerKeyError",
    "anvil_test_accounts",
    "anvil_test_keys",
    "key_from_env",
    "load_account",
    "load_keystore",
    "load_signer",
    "new_keystore",
    "normalize_signature",
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


def _password_from_file(path: PathLike) -> str:
    try:
        # One trailing newline is how editors and `echo` write a file; it is not part of the password.
        return Path(path).read_text().removesuffix("\n").removesuffix("\r")
    except FileNotFoundError:
        raise KeyLoadError(f"password file {path}: no such file") from None
    except OSError as error:
        raise KeyLoadError(f"password file {path}: cannot be read ({error.strerror})") from None


def load_keystore(
    path: PathLike,
    password: Optional[str] = None,
    *,
    password_env: Optional[str] = None,
    password_file: Optional[PathLike] = None,
    prompt: Optional[Prompt] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> LocalAccount:
    """Decrypt a keystore file. The password is `password`, else the environment variable named
    `password_env`, else the file `password_file`, else `prompt(question)` (e.g. a hidden click
    prompt); one is required."""
    path = Path(path)
    keystore = _read_keystore(path)
    if password is None and password_env is not None:
        password = _env_value(password_env, environ)
    if password is None and password_file is not None:
        password = _password_from_file(password_file)
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
    kdf: Optional[Literal["pbkdf2", "scrypt"]] = None,
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


# ------------------------------------------------------------------ one signer key per process

class SignerKeyError(KeyLoadError):
    """A signer that cannot sign, or whose signature is not by the expected address."""


class DigestSigner(Protocol):
    """One signer key: its address and a signature over a 32-byte digest (r || s || v, v 27/28, low s)."""

    @property
    def address(self) -> str: ...

    def sign_digest(self, digest: bytes) -> bytes: ...


def normalize_signature(signature: Union[bytes, str], digest: bytes, expected_address: Optional[str],
                        source: str) -> tuple[bytes, str]:
    """`(signature, signer)` in the contract's form: 65 bytes, v in {27, 28}, low s.

    Accepts v as 0/1 and high-s twins (some HSMs and KMS return them) and rewrites them; the
    recovered address must be `expected_address` when one is given.
    """
    from eth_keys import keys
    from eth_keys.exceptions import BadSignature, ValidationError

    if isinstance(signature, str):
        text = signature.strip()
        text = text[2:] if text[:2] in ("0x", "0X") else text
        try:
            signature = bytes.fromhex(text)
        except ValueError:
            raise SignerKeyError(f"{source}: the signature is not hex") from None
    raw = bytes(signature)
    if len(raw) != 65:
        raise SignerKeyError(f"{source}: the signature has {len(raw)} bytes, expected 65 (r || s || v)")
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1) or not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
        raise SignerKeyError(f"{source}: not a secp256k1 signature (r, s out of range or v not 27/28)")
    if s > SECP256K1_N // 2:
        s, v = SECP256K1_N - s, 1 - v   # the low-s twin of the same signature
    try:
        address = keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest).to_checksum_address()
    except (BadSignature, ValidationError):
        raise SignerKeyError(f"{source}: the signature recovers to no public key") from None
    if expected_address is not None and int(address, 16) != int(expected_address, 16):
        raise SignerKeyError(f"{source}: the signature is by {address}, not by the signer {expected_address}; "
                             "refusing to use it")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v + 27]), address


class LocalDigestSigner:
    """A key held in this process (decrypted keystore or environment variable)."""

    def __init__(self, account: LocalAccount, source: str):
        self._account = account
        self.source = source

    def __repr__(self) -> str:  # never the key
        return f"LocalDigestSigner({self.address}, {self.source})"

    @property
    def address(self) -> str:
        return self._account.address

    def sign_digest(self, digest: bytes) -> bytes:
        signature = bytes(Account.unsafe_sign_hash(bytes(digest), self._account.key).signature)
        return normalize_signature(signature, bytes(digest), self.address, self.source)[0]


# The keccak of a fixed text: nobody can find Results whose EIP-712 digest equals it, so the
# probe signature asked of a signing command can never be replayed as a signature over results.
PROBE_DIGEST = keccak(b"tournament co-signer probe: not a protocol message")


class CommandDigestSigner:
    """An external signing command: digest hex (0x + 64) on stdin, signature hex (65 bytes) on stdout.

    The command runs once per signature with a timeout; its signature is normalised and must
    recover to `expected_address`. Without an expected address the command is asked once for
    a probe signature, and the address it recovers to is pinned for the life of the process.
    """

    def __init__(self, command: Union[str, Sequence[str]], expected_address: Optional[str] = None, *,
                 timeout_s: float = 60.0):
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.argv:
            raise SignerKeyError("the signing command is empty")
        self.timeout_s = timeout_s
        self.source = f"signing command {self.argv[0]}"
        if expected_address is not None:
            from eth_utils import is_address, to_checksum_address
            if not is_address(expected_address):
                raise SignerKeyError(f"--signer-address {expected_address!r} is not an address")
            expected_address = to_checksum_address(expected_address)
        self._address: Optional[str] = expected_address
        probe_signature = self._run(PROBE_DIGEST)
        _, address = normalize_signature(probe_signature, PROBE_DIGEST, self._address, self.source)
        self._address = address
        log.info("%s signs as %s", self.source, address)

    def __repr__(self) -> str:
        return f"CommandDigestSigner({self._address}, {self.argv[0]!r})"

    @property
    def address(self) -> str:
        assert self._address is not None
        return self._address

    def _run(self, digest: bytes) -> str:
        try:
            done = subprocess.run(self.argv, input="0x" + bytes(digest).hex() + "\n", capture_output=True,
                                  text=True, timeout=self.timeout_s, check=False)
        except FileNotFoundError:
            raise SignerKeyError(f"{self.source}: no such program") from None
        except subprocess.TimeoutExpired:
            raise SignerKeyError(f"{self.source}: no answer within {self.timeout_s:.0f}s") from None
        except OSError as error:
            raise SignerKeyError(f"{self.source}: cannot run ({error.strerror})") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [""])[-1][:200]
            raise SignerKeyError(f"{self.source}: exit status {done.returncode}" + (f" ({last})" if last else ""))
        lines = done.stdout.strip().splitlines()
        if not lines:
            raise SignerKeyError(f"{self.source}: printed no signature")
        return lines[-1]

    def sign_digest(self, digest: bytes) -> bytes:
        return normalize_signature(self._run(bytes(digest)), bytes(digest), self.address, self.source)[0]


def load_signer(
    *,
    keystore: Optional[PathLike] = None,
    password_env: Optional[str] = None,
    password_file: Optional[PathLike] = None,
    key_env: Optional[str] = None,
    sign_command: Optional[str] = None,
    signer_address: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> DigestSigner:
    """Exactly one signer key from command-line values: a keystore (+ password source), a key
    variable, or an external signing command. `signer_address`, when given, must match."""
    given = [name for name, value in (("--keystore", keystore), ("--key-env", key_env),
                                       ("--sign-command", sign_command)) if value]
    if len(given) != 1:
        raise KeyLoadError("give exactly one signer key source: --keystore (with --password-env or "
                           "--password-file), --key-env, or --sign-command"
                           + (f" (got {', '.join(given)})" if given else ""))
    if sign_command:
        return CommandDigestSigner(sign_command, signer_address)
    if keystore:
        if password_env is None and password_file is None:
            raise KeyLoadError(f"keystore {keystore}: give its password with --password-env VAR or --password-file PATH")
        account = load_keystore(keystore, password_env=password_env, password_file=password_file, environ=environ)
        signer = LocalDigestSigner(account, f"keystore {keystore}")
    else:
        signer = LocalDigestSigner(key_from_env(str(key_env), environ=environ), f"environment variable {key_env}")
    from eth_utils import is_address
    if signer_address is not None and not is_address(signer_address):
        raise KeyLoadError(f"--signer-address {signer_address!r} is not an address")
    if signer_address is not None and int(signer_address, 16) != int(signer.address, 16):
        raise SignerKeyError(f"{signer.source} holds the key of {signer.address}, not of {signer_address}")
    return signer


@cache
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
