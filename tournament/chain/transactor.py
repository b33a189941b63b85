"""Sending transactions: sign locally, simulate first, replace dropped or stuck ones.

`Transactor` signs with a local key, simulates each call so a revert is reported with its
decoded custom error before any gas is spent, re-sends a transaction that has no receipt
after a timeout with the same nonce and a higher fee, waits for `confirmations` blocks, and
cancels stuck nonces before a step reads the chain. RPC faults are retried by the provider
(tournament.chain.rpc), never here.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound, Web3RPCError

from tournament.chain.errors import ChainError, NonceUsed, TransactionReverted, abi_of, decode_revert, revert_data
from tournament.chain.rpc import rpc, use_retry_policy

__all__ = ["Receipt", "Transactor"]

log = logging.getLogger(__name__)

# A mined receipt: web3 returns an AttribDict (a TxReceipt), read here by key only.
Receipt = Mapping[str, Any]
# What transact sends: a bound contract function, or a constructor (deployments).
Sendable = Union[ContractFunction, ContractConstructor]


@dataclass
class PendingTx:
    """A transaction sent by `Transactor.send_signed`, not yet confirmed: every hash it was sent under."""

    fn: Any
    description: str
    tx: dict
    nonce: int
    hashes: list


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

    def __post_init__(self) -> None:
        use_retry_policy(self.w3)

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    @property
    def chain_id(self) -> int:
        """The RPC's chain id, read once (it signs every transaction; it never changes)."""
        if self._chain_id is None:
            self._chain_id = int(rpc(lambda: self.w3.eth.chain_id, "reading the chain id"))
        return self._chain_id

    def call(self, fn: ContractFunction, description: str) -> Any:
        """A read-only call, with retries and decoded reverts."""
        try:
            return rpc(lambda: fn.call({"from": self.address}), description)
        except (ContractCustomError, ContractLogicError) as exc:
            raise TransactionReverted(description, decode_revert(abi_of(fn), revert_data(exc))) from exc

    def estimate_gas(self, fn: Sendable, description: str) -> int:
        try:
            return rpc(lambda: fn.estimate_gas({"from": self.address}), description)
        except (ContractCustomError, ContractLogicError) as exc:
            raise TransactionReverted(description, decode_revert(abi_of(fn), revert_data(exc))) from exc

    def _fees(self) -> dict:
        block = rpc(lambda: self.w3.eth.get_block("latest"), "reading the latest block")
        base_fee = int(block.get("baseFeePerGas") or 0)
        try:
            tip = int(rpc(lambda: self.w3.eth.max_priority_fee, "reading the priority fee"))
        except ValueError:
            tip = 10**9
        tip = max(tip, 1)
        return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}

    def transact(self, fn: Sendable, description: str, *, gas: Optional[int] = None,
                 on_sent: Optional[Callable[[bytes], None]] = None) -> Receipt:
        """Sends `fn` (a contract function call) and returns its successful receipt.

        `on_sent(tx_hash)`, if given, is called after each broadcast and before the receipt
        is awaited (callers record the hash; tests inject crashes there).
        """
        if gas is None:
            gas = self.estimate_gas(fn, description) * (100 + self.gas_margin_pct) // 100
        nonce = rpc(lambda: self.w3.eth.get_transaction_count(self.address, "pending"),
                             "reading the nonce")
        fees = self._fees()
        # A plain dict (build_transaction returns one): the fee fields are bumped as ints below.
        tx: dict[str, Any] = dict(fn.build_transaction({"from": self.address, "nonce": nonce, "gas": gas,
                                   "chainId": self.chain_id, **fees}))
        tx.pop("gasPrice", None)  # some providers (brownie's web3) add one next to EIP-1559 fees
        sent: list[HexBytes] = []
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

    # ---------------------------------------------------------------- pipelined sends
    # For independent transactions sent back to back (settle batches): the caller takes the next
    # nonce once, sends each with `send_signed` (consecutive nonces, no wait) and later collects
    # each receipt with `wait_receipt`, which re-sends a dropped or stuck one with the same nonce
    # and higher fees, like `transact`.
    def next_nonce(self) -> int:
        return int(rpc(lambda: self.w3.eth.get_transaction_count(self.address, "pending"), "reading the nonce"))

    def current_fees(self) -> dict:
        return self._fees()

    def send_signed(self, fn, description: str, *, nonce: int, gas: int, fees: dict) -> "PendingTx":
        """Signs and broadcasts `fn` at `nonce` without waiting for it."""
        tx = fn.build_transaction({"from": self.address, "nonce": nonce, "gas": gas, "chainId": self.chain_id,
                                   **fees})
        tx.pop("gasPrice", None)
        tx_hash = self._send_raw(self.account.sign_transaction(tx).raw_transaction, description)
        log.info("%s: sent %s (nonce %d, pipelined)", description, tx_hash.hex(), nonce)
        return PendingTx(fn, description, tx, nonce, [tx_hash])

    def wait_receipt(self, pending: "PendingTx") -> dict:
        """The successful receipt of a `send_signed` transaction (confirmations waited; a revert
        decoded); without a receipt after `receipt_timeout_s` it is re-sent at a higher fee."""
        tx, nonce, description = pending.tx, pending.nonce, pending.description
        for replacement in range(self.max_replacements + 1):
            receipt = self._wait(pending.hashes, nonce, description)
            if receipt is not None:
                return self._check(receipt, pending.fn, description)
            if replacement == self.max_replacements:
                break
            tx["maxFeePerGas"] = tx["maxFeePerGas"] * (100 + self.fee_bump_pct) // 100 + 1
            tx["maxPriorityFeePerGas"] = tx["maxPriorityFeePerGas"] * (100 + self.fee_bump_pct) // 100 + 1
            log.warning("%s: no receipt after %.0fs; replacing with higher fee (%d/%d)",
                        description, self.receipt_timeout_s, replacement + 1, self.max_replacements)
            try:
                pending.hashes.append(self._send_raw(self.account.sign_transaction(tx).raw_transaction, description))
            except NonceUsed:   # an earlier version was mined meanwhile: the next wait finds it
                continue
        raise ChainError(f"{description}: not mined after {self.max_replacements} fee bumps (nonce {nonce}, "
                         f"hashes {[h.hex() for h in pending.hashes]}); check the node, then rerun")

    def pending_count(self) -> int:
        """How many of our transactions the node holds unmined (pending nonce - mined nonce)."""
        latest = rpc(lambda: self.w3.eth.get_transaction_count(self.address, "latest"), "reading the nonce")
        pending = rpc(lambda: self.w3.eth.get_transaction_count(self.address, "pending"), "reading the nonce")
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
            nonce = rpc(lambda: self.w3.eth.get_transaction_count(self.address, "latest"),
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

    def _send_raw(self, raw: bytes, description: str) -> HexBytes:
        def send() -> HexBytes:
            try:
                return self.w3.eth.send_raw_transaction(raw)
            except (ValueError, Web3RPCError) as exc:  # web3 7 raises Web3RPCError for node errors
                text = str(exc)
                if "already known" in text or "already imported" in text:  # the same tx is in the pool
                    return Web3.keccak(raw)
                if "nonce too low" in text:
                    raise NonceUsed(f"{description}: the nonce was already mined ({text})") from exc
                raise
        return rpc(send, description)

    def _wait(self, hashes: list[HexBytes], nonce: int, description: str, quiet: bool = False) -> Optional[Receipt]:
        deadline = time.monotonic() + self.receipt_timeout_s
        while time.monotonic() < deadline:
            for tx_hash in hashes:
                try:
                    receipt = rpc(functools.partial(self.w3.eth.get_transaction_receipt, tx_hash),
                                           f"{description}: reading the receipt")
                except TransactionNotFound:
                    continue
                if receipt is not None:
                    self._confirm(receipt)
                    return receipt
            time.sleep(self.poll_s)
        # The nonce may have been used by another of our transactions (sent by an earlier run).
        mined_nonce = rpc(lambda: self.w3.eth.get_transaction_count(self.address, "latest"),
                                   "reading the nonce")
        if mined_nonce > nonce:
            if quiet:
                return None
            raise ChainError(f"{description}: nonce {nonce} was used by another transaction; "
                             "rerun the step (it reads the chain first)")
        return None

    def _confirm(self, receipt: Receipt) -> None:
        if self.confirmations <= 0:
            return
        target = receipt["blockNumber"] + self.confirmations
        while rpc(lambda: self.w3.eth.block_number, "reading the block number") < target:
            time.sleep(max(self.poll_s, 0.5))

    def _check(self, receipt: Receipt, fn: Sendable, description: str) -> Receipt:
        if receipt["status"] == 1:
            return receipt
        # Replay the call at the failing block to recover the revert reason.
        try:
            if isinstance(fn, ContractFunction):  # a constructor cannot be replayed as a call
                fn.call({"from": self.address}, block_identifier=receipt["blockNumber"] - 1)
            error = "reverted (reason unavailable)"
        except (ContractCustomError, ContractLogicError) as exc:
            error = decode_revert(abi_of(fn), revert_data(exc))
        raise TransactionReverted(description, error, receipt["transactionHash"].hex())
