"""Sending transactions: sign locally, simulate first, replace dropped or stuck ones, survive reorgs.

`Transactor` signs with a local key, simulates each call so a revert is reported with its
decoded custom error before any gas is spent, re-sends a transaction that has no receipt
after a timeout with the same nonce and a higher fee, waits for `confirmations` blocks, and
cancels stuck nonces before a step reads the chain. RPC faults are retried by the provider
(tournament.chain.rpc), never here.

Reorgs: after the confirmation wait the receipt is read again and must still be there, in
a block that is still the chain's block at that height; a transaction that was reorged out
is sent again (the same signed bytes, so the same nonce: it can never run twice), and one
whose nonce another transaction took meanwhile fails with one line. The receipt's status is
checked only after that, so a call that reverts in the new chain is reported as a revert.

Fees: `max_fee_per_gas_wei` (the CLI's --max-fee-gwei) is a hard cap: a transaction whose
base fee plus tip is above it is refused with one line before anything is signed, and fee
bumps stop at it. Receipts are polled from `poll_s` growing 1.5x per poll up to
`max_poll_s` (0.5 s to 2 s by default, not 20 polls a second).

Node error wording differs between clients (geth, anvil, Hardhat, Nethermind, Besu, Erigon);
`classify_send_error` matches the JSON-RPC error and several spellings of each case.
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

__all__ = ["FeeCapExceeded", "Receipt", "ReorgedOut", "Transactor", "classify_send_error"]

log = logging.getLogger(__name__)

# A mined receipt: web3 returns an AttribDict (a TxReceipt), read here by key only.
Receipt = Mapping[str, Any]
# What transact sends: a bound contract function, or a constructor (deployments).
Sendable = Union[ContractFunction, ContractConstructor]

GWEI = 10**9

# Lower-cased fragments of each client's message (underscores read as spaces, for Besu's codes).
_KNOWN = ("already known", "already imported", "known transaction", "alreadyknown", "already exists",
          "already in the pool", "already in mempool", "transaction already")
_NONCE_LOW = ("nonce too low", "nonce is too low", "oldnonce", "old nonce", "nonce has already been used",
              "nonce too small")
_UNDERPRICED = ("replacement transaction underpriced", "replacement underpriced", "replacement fee too low",
                "feetoolowtocompete", "underpriced", "fee too low")


class FeeCapExceeded(ChainError):
    """The network's fee is above the operator's cap (--max-fee-gwei): nothing was sent."""


class ReorgedOut(ChainError):
    """A mined transaction left the chain in a reorg and could not be included again."""


class _ReplacementUnderpriced(ChainError):
    """The node refused a replacement as underpriced (the earlier version stays pending)."""


def _error_text(exc: BaseException) -> str:
    parts = [str(exc)]
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        error = response["error"]
        parts += [str(error.get("message", "")), str(error.get("data", ""))]
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict):
            parts += [str(arg.get("message", "")), str(arg.get("data", ""))]
    return " ".join(parts).lower().replace("_", " ")


def classify_send_error(exc: BaseException) -> Optional[str]:
    """'known' (the node already has this transaction), 'nonce-low' (the nonce was mined),
    'underpriced' (a replacement needs a higher fee) or None, from any client's wording:
    anvil/geth "already known", "nonce too low"; Hardhat "Known transaction: 0x...",
    "Nonce too low. Expected nonce to be N ..."; Besu "KNOWN_TRANSACTION", "NONCE_TOO_LOW";
    Nethermind "AlreadyKnown", "OldNonce"."""
    text = _error_text(exc)
    if any(k.replace("_", " ") in text for k in _KNOWN):
        return "known"
    if any(k in text for k in _NONCE_LOW):
        return "nonce-low"
    if any(k in text for k in _UNDERPRICED):
        return "underpriced"
    return None


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
    poll_s: float = 0.5
    max_poll_s: float = 2.0
    max_fee_per_gas_wei: Optional[int] = None
    max_reorg_resends: int = 3
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

    def _fees(self, description: str = "sending a transaction") -> dict:
        """EIP-1559 fees: twice the base fee plus the node's tip, never above the fee cap."""
        block = rpc(lambda: self.w3.eth.get_block("latest"), "reading the latest block")
        base_fee = int(block.get("baseFeePerGas") or 0)
        try:
            tip = int(rpc(lambda: self.w3.eth.max_priority_fee, "reading the priority fee"))
        except ValueError:
            tip = 10**9
        tip = max(tip, 1)
        cap = self.max_fee_per_gas_wei
        if cap is not None:
            tip = min(tip, cap)
            if base_fee + tip > cap:
                raise FeeCapExceeded(f"{description}: not sent: the fee is {(base_fee + tip) / GWEI:g} gwei "
                                     f"(base {base_fee / GWEI:g} + tip {tip / GWEI:g}), above the cap of "
                                     f"{cap / GWEI:g} gwei (--max-fee-gwei); rerun when fees fall or raise the cap")
            return {"maxFeePerGas": min(2 * base_fee + tip, cap), "maxPriorityFeePerGas": tip}
        return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}

    def _bumped(self, tx: dict, description: str, nonce: int) -> None:
        """Raises the fees of `tx` for a replacement, up to the cap (at the cap: one clear error)."""
        cap = self.max_fee_per_gas_wei
        new_max = tx["maxFeePerGas"] * (100 + self.fee_bump_pct) // 100 + 1
        new_tip = tx["maxPriorityFeePerGas"] * (100 + self.fee_bump_pct) // 100 + 1
        if cap is not None and new_max > cap:
            if tx["maxFeePerGas"] >= cap:
                raise FeeCapExceeded(f"{description}: not mined at the fee cap of {cap / GWEI:g} gwei "
                                     f"(--max-fee-gwei; nonce {nonce}); rerun later or raise the cap")
            new_max, new_tip = cap, min(new_tip, cap)
        tx["maxFeePerGas"], tx["maxPriorityFeePerGas"] = new_max, new_tip

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
        fees = self._fees(description)
        # A plain dict (build_transaction returns one): the fee fields are bumped as ints below.
        tx: dict[str, Any] = dict(fn.build_transaction({"from": self.address, "nonce": nonce, "gas": gas,
                                                        "chainId": self.chain_id, **fees}))
        tx.pop("gasPrice", None)  # some providers (brownie's web3) add one next to EIP-1559 fees
        sent: dict[bytes, bytes] = {}   # tx hash -> signed bytes (re-sent as they are after a reorg)
        for replacement in range(self.max_replacements + 1):
            signed = self.account.sign_transaction(tx)
            try:
                tx_hash = self._send_raw(signed.raw_transaction, description)
            except _ReplacementUnderpriced as exc:
                log.warning("%s: %s; waiting for the earlier version", description, exc)
            except NonceUsed:
                if not sent:
                    raise ChainError(f"{description}: nonce {nonce} was used by another transaction of "
                                     f"{self.address}; rerun the step (it reads the chain first)") from None
                # An earlier version of this transaction was mined while we bumped the fee.
                receipt = self._wait(sent, nonce, description)
                if receipt is not None:
                    return self._check(receipt, fn, description)
                raise
            else:
                sent[bytes(tx_hash)] = bytes(signed.raw_transaction)
                log.info("%s: sent %s (nonce %d)", description, tx_hash.hex(), nonce)
                if on_sent is not None:
                    on_sent(tx_hash)
            receipt = self._wait(sent, nonce, description)
            if receipt is not None:
                return self._check(receipt, fn, description)
            self._bumped(tx, description, nonce)
            log.warning("%s: no receipt after %.0fs; replacing with higher fee (%d/%d)",
                        description, self.receipt_timeout_s, replacement + 1, self.max_replacements)
        raise ChainError(f"{description}: not mined after {self.max_replacements} fee bumps "
                         f"(nonce {nonce}, hashes {[h.hex() for h in sent]}); check the node, then rerun")

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
            fees = self._fees("cancelling a stuck transaction")
            factor = (100 + self.fee_bump_pct) ** replacement
            tx = {"from": self.address, "to": self.address, "value": 0, "nonce": nonce, "gas": 21_000,
                  "chainId": self.chain_id,
                  "maxFeePerGas": 2 * fees["maxFeePerGas"] * factor // 100 ** replacement + 1,
                  "maxPriorityFeePerGas": 2 * fees["maxPriorityFeePerGas"] * factor // 100 ** replacement + 1}
            if self.max_fee_per_gas_wei is not None:
                tx["maxFeePerGas"] = min(tx["maxFeePerGas"], self.max_fee_per_gas_wei)
                tx["maxPriorityFeePerGas"] = min(tx["maxPriorityFeePerGas"], tx["maxFeePerGas"])
            log.warning("nonce %d of %s is stuck; replacing it with a cancelling self-transfer (%d/%d)",
                        nonce, self.address, replacement, self.max_replacements)
            raw = bytes(self.account.sign_transaction(tx).raw_transaction)
            try:
                tx_hash = self._send_raw(raw, "cancelling a stuck tx")
            except NonceUsed:  # the stuck transaction was mined meanwhile: nothing to cancel
                continue
            except (ValueError, Web3RPCError, _ReplacementUnderpriced) as exc:  # underpriced: bump again
                log.warning("cancelling nonce %d: %s", nonce, exc)
                continue
            if self._wait({bytes(tx_hash): raw}, nonce, "cancelling a stuck tx", quiet=True) is not None:
                continue
        if self.pending_count() > 0:
            raise ChainError(f"{self.address} still has {self.pending_count()} pending transaction(s) after "
                             f"{self.max_replacements} replacements; check the node's mempool, then rerun")

    def _send_raw(self, raw: bytes, description: str) -> bytes:
        def send() -> bytes:
            try:
                return bytes(self.w3.eth.send_raw_transaction(raw))
            except (ValueError, Web3RPCError) as exc:  # web3 7 raises Web3RPCError for node errors
                kind = classify_send_error(exc)
                if kind == "known":  # the same signed transaction is in the pool (or mined)
                    return bytes(Web3.keccak(raw))
                if kind == "nonce-low":
                    raise NonceUsed(f"{description}: the nonce was already mined ({exc})") from exc
                if kind == "underpriced":
                    raise _ReplacementUnderpriced(f"{description}: the node wants a higher fee to replace "
                                                  f"the pending version ({exc})") from exc
                raise
        return rpc(send, description)

    def _receipt(self, tx_hash: bytes, description: str) -> Optional[Receipt]:
        try:
            receipt = rpc(functools.partial(self.w3.eth.get_transaction_receipt, HexBytes(tx_hash)),
                          f"{description}: reading the receipt")
        except TransactionNotFound:
            return None
        # Some nodes answer a pending transaction with a receipt without a block.
        return receipt if receipt is not None and receipt.get("blockNumber") is not None else None

    def _sleep(self, interval: float) -> float:
        time.sleep(interval)
        return min(max(interval * 1.5, 0.01), max(self.max_poll_s, self.poll_s))

    def _wait(self, sent: dict[bytes, bytes], nonce: int, description: str,
              quiet: bool = False) -> Optional[Receipt]:
        """The receipt of whichever version of the transaction was mined, confirmed (see `_confirm`)."""
        deadline = time.monotonic() + self.receipt_timeout_s
        interval = self.poll_s
        resends = 0
        while time.monotonic() < deadline:
            reorged: Optional[bytes] = None
            for tx_hash in list(sent):
                receipt = self._receipt(tx_hash, description)
                if receipt is None:
                    continue
                confirmed = self._confirm(receipt, description)
                if confirmed is not None:
                    return confirmed
                reorged = tx_hash
                break
            if reorged is not None:
                resends += 1
                if resends > self.max_reorg_resends:
                    raise ReorgedOut(f"{description}: transaction 0x{reorged.hex()} was reorged out {resends} times; "
                                     "check the node, then rerun the step (it reads the chain first)")
                self._resend_after_reorg(reorged, sent[reorged], nonce, description)
                deadline = time.monotonic() + self.receipt_timeout_s
                interval = self.poll_s
                continue
            interval = self._sleep(interval)
        # The nonce may have been used by another of our transactions (sent by an earlier run).
        mined_nonce = rpc(lambda: self.w3.eth.get_transaction_count(self.address, "latest"),
                                   "reading the nonce")
        if mined_nonce > nonce:
            if quiet:
                return None
            raise ChainError(f"{description}: nonce {nonce} was used by another transaction; "
                             "rerun the step (it reads the chain first)")
        return None

    def _confirm(self, receipt: Receipt, description: str) -> Optional[Receipt]:
        """Waits until the receipt's block is `confirmations` deep, then reads the receipt again:
        the same transaction must still be mined in a block that is still on the chain. Returns
        the receipt as it stands then (it may have moved to another block: that block is waited
        for in turn), or None when the transaction left the chain."""
        if self.confirmations <= 0:
            return receipt
        while True:
            target = int(receipt["blockNumber"]) + self.confirmations
            interval = max(self.poll_s, 0.05)
            while rpc(lambda: self.w3.eth.block_number, "reading the block number") < target:
                interval = self._sleep(interval)
            again = self._receipt(receipt["transactionHash"], description)
            if again is None:
                log.warning("%s: transaction %s left the chain (reorg) while waiting for %d confirmations",
                            description, bytes(receipt["transactionHash"]).hex(), self.confirmations)
                return None
            block_number = int(again["blockNumber"])
            canonical = rpc(functools.partial(self.w3.eth.get_block, block_number),
                            f"{description}: reading block {block_number}")
            if bytes(canonical["hash"]) != bytes(again["blockHash"]):
                log.warning("%s: the receipt's block %d is no longer on the chain; reading it again",
                            description, block_number)
                continue   # the node is mid-reorg: ask again
            if bytes(again["blockHash"]) == bytes(receipt["blockHash"]):
                return again
            log.warning("%s: transaction %s moved to block %d in a reorg; waiting for its confirmations",
                        description, bytes(again["transactionHash"]).hex(), block_number)
            receipt = again

    def _resend_after_reorg(self, tx_hash: bytes, raw: bytes, nonce: int, description: str) -> None:
        """Puts a reorged-out transaction back: the same signed bytes (same nonce, so it runs at most once)."""
        try:
            pending = rpc(functools.partial(self.w3.eth.get_transaction, HexBytes(tx_hash)),
                          f"{description}: reading the transaction")
        except TransactionNotFound:
            pending = None
        if pending is not None:
            log.info("%s: the node still holds 0x%s; waiting for it to be mined again", description, tx_hash.hex())
            return
        try:
            self._send_raw(raw, description)
            log.warning("%s: sent 0x%s again after the reorg (nonce %d)", description, tx_hash.hex(), nonce)
        except NonceUsed:
            if self._receipt(tx_hash, description) is not None:
                return   # it was mined again meanwhile
            raise ReorgedOut(f"{description}: transaction 0x{tx_hash.hex()} was reorged out and its nonce {nonce} is "
                             "now used by another transaction; rerun the step (it reads the chain first)") from None

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
