"""The chain edge: web3.py bindings to the deployed contracts, sending and reading.

Everything that talks to an RPC lives here, for every user (operator, participant, auditor):
contract bindings from brownie's compiled artifacts (`build/contracts/*.json`), the
deployment file that `scripts/deploy.py` writes per chain id, a `Transactor` that signs
locally and sends with bounded retries (RPC down or slow, dropped or stuck transactions
replaced with a higher fee, configurable confirmations), readable decoding of the
contract's custom errors, and chunked event queries. No brownie at run time; nothing here
assumes a local chain.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, TypeVar

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (ContractCustomError, ContractLogicError, TimeExhausted, TransactionNotFound,
                             Web3RPCError)

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUILD_DIR = PROJECT_ROOT / "build" / "contracts"
DEFAULT_DEPLOYMENTS_DIR = PROJECT_ROOT / "deployments"
PHASES = ["None", "Open", "Closed", "Resolvable", "Proposed", "Accepted", "Refunding", "Settled"]

T = TypeVar("T")


class ChainError(RuntimeError):
    """A chain interaction failed; the message says what and what to do."""


class NonceUsed(ChainError):
    """The node says our nonce was already mined (by this transaction or another of ours)."""


class TransactionReverted(ChainError):
    """The contract rejected a call; `error` is the decoded custom error (or message)."""

    def __init__(self, description: str, error: str, tx_hash: Optional[str] = None):
        self.description = description
        self.error = error
        self.tx_hash = tx_hash
        where = f" (tx {tx_hash})" if tx_hash else ""
        super().__init__(f"{description} was rejected by the contract: {error}{where}")

    @property
    def error_name(self) -> str:
        return self.error.split("(", 1)[0]


# ------------------------------------------------------------------ artifacts & deployment

def load_artifact(name: str, build_dir: Optional[Path] = None) -> dict:
    """ABI and bytecode of a compiled contract (brownie's build format)."""
    path = Path(build_dir or os.environ.get("TOURNAMENT_BUILD_DIR", DEFAULT_BUILD_DIR)) / f"{name}.json"
    if not path.exists():
        raise ChainError(f"{path}: compiled contract not found; run `make compile` first")
    data = json.loads(path.read_text())
    return {"abi": data["abi"], "bytecode": data["bytecode"]}


@dataclass
class Deployment:
    """Where the tournament lives on one chain; written by scripts/deploy.py."""

    chain_id: int
    nmr: str
    tournament: str
    deploy_block: int
    admin: str = ""
    operator: str = ""
    guardian: str = ""
    signers: list[str] = field(default_factory=list)
    threshold: int = 0
    preset: str = ""

    @staticmethod
    def path_for(chain_id: int, directory: Optional[Path] = None) -> Path:
        base = Path(directory or os.environ.get("TOURNAMENT_DEPLOYMENTS", DEFAULT_DEPLOYMENTS_DIR))
        return base / f"{chain_id}.json"

    def save(self, directory: Optional[Path] = None) -> Path:
        path = self.path_for(self.chain_id, directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, chain_id: int, directory: Optional[Path] = None) -> "Deployment":
        path = cls.path_for(chain_id, directory)
        if not path.exists():
            raise ChainError(f"no deployment for chain id {chain_id} at {path}; "
                             "deploy first (`brownie run scripts/deploy.py`) or pass --deployments DIR")
        return cls(**json.loads(path.read_text()))


def connect(rpc_url: str, timeout_s: float = 30.0, attempts: int = 5) -> Web3:
    """A Web3 on `rpc_url`, checked to answer (with retries while it comes up)."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    with_retries(lambda: w3.eth.chain_id, f"connecting to {rpc_url}", attempts=attempts)
    return w3


def tournament_contract(w3: Web3, deployment: Deployment) -> Contract:
    return w3.eth.contract(address=to_checksum_address(deployment.tournament),
                           abi=load_artifact("Tournament")["abi"])


def nmr_contract(w3: Web3, deployment: Deployment) -> Contract:
    return w3.eth.contract(address=to_checksum_address(deployment.nmr), abi=load_artifact("NMR")["abi"])


def load_contracts(w3: Web3, deployments_dir: Optional[Path] = None) -> tuple[Deployment, Contract, Contract]:
    deployment = Deployment.load(w3.eth.chain_id, deployments_dir)
    return deployment, tournament_contract(w3, deployment), nmr_contract(w3, deployment)


# ------------------------------------------------------------------ errors

def _error_abis(abi: Sequence[dict]) -> dict[bytes, dict]:
    out = {}
    for entry in abi:
        if entry.get("type") == "error":
            signature = f"{entry['name']}({','.join(_abi_type(i) for i in entry['inputs'])})"
            out[function_signature_to_4byte_selector(signature)] = entry
    return out


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


_KNOWN_ERRORS: dict[bytes, dict] = {}


def _known_errors() -> dict[bytes, dict]:
    """Custom errors of every project contract, for reverts that bubble up from the token."""
    if not _KNOWN_ERRORS:
        for name in ("Tournament", "NMR"):
            try:
                _KNOWN_ERRORS.update(_error_abis(load_artifact(name)["abi"]))
            except ChainError:
                pass
    return _KNOWN_ERRORS


def decode_revert(abi: Sequence[dict], data: Any) -> str:
    """`Name(arg=value, ...)` for custom-error revert data; the raw data if unknown."""
    from eth_abi import decode as abi_decode

    if isinstance(data, (tuple, list)) and data:
        data = data[0]
    if isinstance(data, str):
        raw = bytes.fromhex(data[2:] if data.startswith("0x") else data)
    else:
        raw = bytes(data or b"")
    if len(raw) < 4:
        return "reverted without a reason"
    selector, body = raw[:4], raw[4:]
    if selector == bytes.fromhex("08c379a0"):  # Error(string)
        return abi_decode(["string"], body)[0]
    entry = _error_abis(abi).get(selector) or _known_errors().get(selector)
    if entry is None:
        return f"unknown error 0x{raw.hex()}"
    values = abi_decode([_abi_type(i) for i in entry["inputs"]], body)
    parts = []
    for item, value in zip(entry["inputs"], values):
        if item["name"] in ("expected", "actual", "phase") and item["type"] == "uint8":
            value = PHASES[value] if value < len(PHASES) else value
        elif isinstance(value, bytes):
            value = "0x" + value.hex()
        parts.append(f"{item['name']}={value}")
    return f"{entry['name']}({', '.join(parts)})"


def _abi_of(fn) -> Sequence[dict]:
    """The whole contract ABI behind a function call or constructor."""
    return getattr(fn, "contract_abi", None) or fn.abi


def _revert_data(exc: Exception) -> Any:
    if isinstance(exc, ContractCustomError):
        return exc.data
    data = getattr(exc, "data", None)
    if data:
        return data
    return exc.args[1] if len(exc.args) > 1 else None


# ------------------------------------------------------------------ retries

TRANSIENT = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)


def with_retries(fn: Callable[[], T], description: str, *, attempts: int = 5, base_delay_s: float = 0.5,
                 max_delay_s: float = 8.0) -> T:
    """Calls `fn`, retrying transient RPC faults with exponential backoff; then gives up clearly."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except TRANSIENT as exc:
            if attempt == attempts:
                raise ChainError(f"{description}: RPC unreachable after {attempts} attempts ({exc}); "
                                 "check the RPC URL and that the node is running, then rerun") from exc
            delay = min(max_delay_s, base_delay_s * 2 ** (attempt - 1))
            log.warning("%s: RPC fault (%s); retry %d/%d in %.1fs", description, exc, attempt, attempts, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


# ------------------------------------------------------------------ sending

@dataclass
class Transactor:
    """Signs locally with `account` and sends; waits for `confirmations` blocks.

    A transaction without a receipt after `receipt_timeout_s` is re-sent with the same nonce
    and fees raised by `fee_bump_pct` (so a dropped or stuck one is replaced), at most
    `max_replacements` times. Calls are simulated first so a revert is reported with its
    decoded custom error before any gas is spent.
    """

    w3: Web3
    account: LocalAccount
    confirmations: int = 0
    receipt_timeout_s: float = 120.0
    max_replacements: int = 3
    fee_bump_pct: int = 25
    gas_margin_pct: int = 20
    poll_s: float = 0.05
    _chain_id: Optional[int] = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def chain_id(self) -> int:
        """The RPC's chain id, read once (it signs every transaction; it never changes)."""
        if self._chain_id is None:
            self._chain_id = int(with_retries(lambda: self.w3.eth.chain_id, "reading the chain id"))
        return self._chain_id

    def call(self, fn, description: str) -> Any:
        """A read-only call, with retries and decoded reverts."""
        try:
            return with_retries(lambda: fn.call({"from": self.address}), description)
        except (ContractCustomError, ContractLogicError) as exc:
            raise TransactionReverted(description, decode_revert(_abi_of(fn), _revert_data(exc))) from exc

    def estimate_gas(self, fn, description: str) -> int:
        try:
            return with_retries(lambda: fn.estimate_gas({"from": self.address}), description)
        except (ContractCustomError, ContractLogicError) as exc:
            raise TransactionReverted(description, decode_revert(_abi_of(fn), _revert_data(exc))) from exc

    def _fees(self) -> dict:
        block = with_retries(lambda: self.w3.eth.get_block("latest"), "reading the latest block")
        base_fee = int(block.get("baseFeePerGas") or 0)
        try:
            tip = int(with_retries(lambda: self.w3.eth.max_priority_fee, "reading the priority fee"))
        except ValueError:
            tip = 10**9
        tip = max(tip, 1)
        return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}

    def transact(self, fn, description: str, *, gas: Optional[int] = None,
                 on_sent: Optional[Callable[[bytes], None]] = None) -> dict:
        """Sends `fn` (a contract function call) and returns its successful receipt.

        `on_sent(tx_hash)`, if given, is called after each broadcast and before the receipt
        is awaited (callers record the hash; tests inject crashes there).
        """
        if gas is None:
            gas = self.estimate_gas(fn, description) * (100 + self.gas_margin_pct) // 100
        nonce = with_retries(lambda: self.w3.eth.get_transaction_count(self.address, "pending"),
                             "reading the nonce")
        fees = self._fees()
        tx = fn.build_transaction({"from": self.address, "nonce": nonce, "gas": gas,
                                   "chainId": self.chain_id, **fees})
        tx.pop("gasPrice", None)  # some providers (brownie's web3) add one next to EIP-1559 fees
        sent: list[bytes] = []
        for replacement in range(self.max_replacements + 1):
            signed = self.account.sign_transaction(tx)
            try:
                tx_hash = self._send_raw(signed.raw_transaction, description)
            except NonceUsed:
                if not sent:
                    raise ChainError(f"{description}: nonce {nonce} was used by another transaction of "
                                     f"{self.address}; rerun the step (it reads the chain first)") from None
                # An earlier version of this transaction was mined while we bumped the fee.
                receipt = self._wait(sent, nonce, description)
                if receipt is not None:
                    return self._check(receipt, fn, description)
                raise
            sent.append(tx_hash)
            log.info("%s: sent %s (nonce %d)", description, tx_hash.hex(), nonce)
            if on_sent is not None:
                on_sent(tx_hash)
            receipt = self._wait(sent, nonce, description)
            if receipt is not None:
                return self._check(receipt, fn, description)
            tx["maxFeePerGas"] = tx["maxFeePerGas"] * (100 + self.fee_bump_pct) // 100 + 1
            tx["maxPriorityFeePerGas"] = tx["maxPriorityFeePerGas"] * (100 + self.fee_bump_pct) // 100 + 1
            log.warning("%s: no receipt after %.0fs; replacing with higher fee (%d/%d)",
                        description, self.receipt_timeout_s, replacement + 1, self.max_replacements)
        raise ChainError(f"{description}: not mined after {self.max_replacements} fee bumps "
                         f"(nonce {nonce}, hashes {[h.hex() for h in sent]}); check the node, then rerun")

    def pending_count(self) -> int:
        """How many of our transactions the node holds unmined (pending nonce - mined nonce)."""
        latest = with_retries(lambda: self.w3.eth.get_transaction_count(self.address, "latest"), "reading the nonce")
        pending = with_retries(lambda: self.w3.eth.get_transaction_count(self.address, "pending"), "reading the nonce")
        return max(0, pending - latest)

    def settle_pending(self, wait_s: Optional[float] = None) -> None:
        """Makes sure no transaction of ours is still in flight before a step reads the chain.

        Waits up to `wait_s` (default: receipt_timeout_s) for pending transactions (an earlier
        run may have crashed after sending); if some are still stuck, replaces the lowest
        pending nonce with a 0-value self-transfer at a higher fee, so later nonces are not
        blocked behind it (a nonce gap). The steps re-derive everything from the chain, so
        cancelling a stuck transaction is always safe: the step simply sends it again.
        """
        deadline = time.monotonic() + (self.receipt_timeout_s if wait_s is None else wait_s)
        while self.pending_count() > 0 and time.monotonic() < deadline:
            time.sleep(max(self.poll_s, 0.2))
        for replacement in range(1, self.max_replacements + 1):
            if self.pending_count() == 0:
                return
            nonce = with_retries(lambda: self.w3.eth.get_transaction_count(self.address, "latest"),
                                 "reading the nonce")
            fees = self._fees()
            factor = (100 + self.fee_bump_pct) ** replacement
            tx = {"from": self.address, "to": self.address, "value": 0, "nonce": nonce, "gas": 21_000,
                  "chainId": self.chain_id,
                  "maxFeePerGas": 2 * fees["maxFeePerGas"] * factor // 100 ** replacement + 1,
                  "maxPriorityFeePerGas": 2 * fees["maxPriorityFeePerGas"] * factor // 100 ** replacement + 1}
            log.warning("nonce %d of %s is stuck; replacing it with a cancelling self-transfer (%d/%d)",
                        nonce, self.address, replacement, self.max_replacements)
            try:
                tx_hash = self._send_raw(self.account.sign_transaction(tx).raw_transaction, "cancelling a stuck tx")
            except NonceUsed:  # the stuck transaction was mined meanwhile: nothing to cancel
                continue
            except (ValueError, Web3RPCError) as exc:  # e.g. "replacement transaction underpriced": bump again
                log.warning("cancelling nonce %d: %s", nonce, exc)
                continue
            if self._wait([tx_hash], nonce, "cancelling a stuck tx", quiet=True) is not None:
                continue
        if self.pending_count() > 0:
            raise ChainError(f"{self.address} still has {self.pending_count()} pending transaction(s) after "
                             f"{self.max_replacements} replacements; check the node's mempool, then rerun")

    def _send_raw(self, raw: bytes, description: str) -> bytes:
        def send() -> bytes:
            try:
                return self.w3.eth.send_raw_transaction(raw)
            except (ValueError, Web3RPCError) as exc:  # web3 7 raises Web3RPCError for node errors
                text = str(exc)
                if "already known" in text or "already imported" in text:  # the same tx is in the pool
                    return Web3.keccak(raw)
                if "nonce too low" in text:
                    raise NonceUsed(f"{description}: the nonce was already mined ({text})") from exc
                raise
        return with_retries(send, description)

    def _wait(self, hashes: list[bytes], nonce: int, description: str, quiet: bool = False) -> Optional[dict]:
        deadline = time.monotonic() + self.receipt_timeout_s
        while time.monotonic() < deadline:
            for tx_hash in hashes:
                try:
                    receipt = with_retries(lambda: self.w3.eth.get_transaction_receipt(tx_hash),
                                           f"{description}: reading the receipt")
                except TransactionNotFound:
                    continue
                if receipt is not None:
                    self._confirm(receipt)
                    return receipt
            time.sleep(self.poll_s)
        # The nonce may have been used by another of our transactions (sent by an earlier run).
        mined_nonce = with_retries(lambda: self.w3.eth.get_transaction_count(self.address, "latest"),
                                   "reading the nonce")
        if mined_nonce > nonce:
            if quiet:
                return None
            raise ChainError(f"{description}: nonce {nonce} was used by another transaction; "
                             "rerun the step (it reads the chain first)")
        return None

    def _confirm(self, receipt: dict) -> None:
        if self.confirmations <= 0:
            return
        target = receipt["blockNumber"] + self.confirmations
        while with_retries(lambda: self.w3.eth.block_number, "reading the block number") < target:
            time.sleep(max(self.poll_s, 0.5))

    def _check(self, receipt: dict, fn, description: str) -> dict:
        if receipt["status"] == 1:
            return receipt
        # Replay the call at the failing block to recover the revert reason.
        try:
            fn.call({"from": self.address}, block_identifier=receipt["blockNumber"] - 1)
            error = "reverted (reason unavailable)"
        except (ContractCustomError, ContractLogicError) as exc:
            error = decode_revert(_abi_of(fn), _revert_data(exc))
        raise TransactionReverted(description, error, receipt["transactionHash"].hex())


# ------------------------------------------------------------------ events

def fetch_events(event, from_block: int, to_block: Optional[int] = None,
                 argument_filters: Optional[dict] = None, chunk_blocks: int = 5_000) -> list:
    """All logs of `event` (e.g. `contract.events.StakeChanged`) in [from_block, to_block],
    queried in chunks so a public RPC's range limit is respected; sorted by chain order."""
    w3 = event.w3
    if to_block is None:
        to_block = with_retries(lambda: w3.eth.block_number, "reading the block number")
    logs: list = []
    start = from_block
    while start <= to_block:
        end = min(to_block, start + chunk_blocks - 1)
        logs.extend(with_retries(
            lambda: event().get_logs(from_block=start, to_block=end, argument_filters=argument_filters),
            f"reading {event.event_name} events {start}-{end}"))
        start = end + 1
    return sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))


def deploy_contract(transactor: Transactor, name: str, *args, description: Optional[str] = None) -> Contract:
    """Deploys a compiled contract and returns its binding."""
    artifact = load_artifact(name)
    factory = transactor.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = transactor.transact(factory.constructor(*args), description or f"deploying {name}")
    return transactor.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
