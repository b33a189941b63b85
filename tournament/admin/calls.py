"""The admin's and the guardian's contract calls, built once and then sent or printed.

Every action returns a list of `PreparedCall`s (target, value 0, function, arguments and a
human description). `send` sends them in order with a Transactor; `calldata_lines` and
`safe_batch` print them for a multisig (a Safe's transaction builder imports the JSON), so
the same code decides what to call whether a hot key sends it or five owners sign it.

Amounts are NMR wei; multipliers hundredths; clip basis points; durations seconds (the
contract's units). `parse_*` turn user text ("2x", "25%", "7d", "12.5") into those units.
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from eth_utils import to_checksum_address

from tournament.admin.connection import ROLE_NAMES, TournamentChain, checked_address, role_id, role_name
from tournament.chain.calls import CHANGE_APPROVAL_SELECTOR
from tournament.chain.calls import simulate as simulate_call
from tournament.chain.client import TransactionReverted, Transactor
from tournament.chain.transactor import Receipt
from tournament.protocol import units

log = logging.getLogger(__name__)

MAX_UINT256 = 2**256 - 1
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


# ------------------------------------------------------------------ units

def parse_nmr(text: str, what: str = "amount") -> int:
    """'12.5' NMR -> wei, exactly (tournament.protocol.units.parse_nmr), and more than 0."""
    try:
        wei = units.parse_nmr(text)
    except units.NmrAmountError as error:
        raise ValueError(f"{what}: {error}") from None
    if wei <= 0:
        raise ValueError(f"{what} must be more than 0 NMR, got {text!r}")
    return wei


def format_nmr(wei: int) -> str:
    """'12.5 NMR' (tournament.protocol.units.format_nmr with the unit)."""
    return units.format_nmr(wei, unit=True)


def parse_duration(text: str, what: str = "duration") -> int:
    """'7d', '12h', '30m', '45s', '2w' or plain seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", str(text))
    if not match:
        raise ValueError(f"{what} {text!r}: use a number with a unit, like 7d, 12h, 30m or 45s")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]


def parse_multiplier(text: str, what: str = "multiplier") -> int:
    """'2x' or '0.5x' -> hundredths (200, 50); a plain integer is taken as hundredths."""
    raw = str(text).strip().lower()
    try:
        if raw.endswith("x"):
            value = Decimal(raw[:-1]) * 100
        else:
            value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{what} {text!r}: write 2x, 0.5x or hundredths like 200") from None
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"{what} {text!r}: must be a whole, non-negative number of hundredths")
    return int(value)


def parse_bps(text: str, what: str = "clip") -> int:
    """'25%' -> 2500 basis points; a plain integer is taken as basis points."""
    raw = str(text).strip()
    try:
        value = Decimal(raw[:-1]) * 100 if raw.endswith("%") else Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{what} {text!r}: write 25% or basis points like 2500") from None
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"{what} {text!r}: must be a whole, non-negative number of basis points")
    return int(value)


def config_field_kind(name: str) -> str:
    """How a Config field is written by users: multiplier, bps, duration, nmr or raw."""
    if "Mult" in name:
        return "multiplier"
    if name.endswith("Bps"):
        return "bps"
    if name.endswith(("Period", "Timeout", "Delay")):
        return "duration"
    if name in ("stakeThreshold", "minStake"):
        return "nmr"
    return "raw"


def parse_config_value(name: str, text: str) -> int:
    kind = config_field_kind(name)
    if kind == "multiplier":
        return parse_multiplier(text, name)
    if kind == "bps":
        return parse_bps(text, name)
    if kind == "duration":
        return parse_duration(text, name)
    if kind == "nmr":
        return parse_nmr(text, name)
    try:
        return int(str(text), 0)
    except ValueError:
        raise ValueError(f"{name} {text!r}: expected an integer") from None


def format_config_value(name: str, value: int) -> str:
    kind = config_field_kind(name)
    if kind == "multiplier":
        return f"{value / 100:g}x"
    if kind == "bps":
        return f"{value / 100:g}%"
    if kind == "duration":
        for unit, seconds in (("d", 86_400), ("h", 3600), ("m", 60)):
            if value and value % seconds == 0:
                return f"{value // seconds}{unit}"
        return f"{value}s"
    if kind == "nmr":
        return format_nmr(value)
    return str(value)


# ------------------------------------------------------------------ calls

@dataclass
class PreparedCall:
    """One contract call: what a hot key sends, or what a multisig signs."""

    fn: Any  # a web3 ContractFunction with its arguments bound
    description: str
    after: Optional[Callable[[Receipt], str]] = field(default=None, repr=False)  # a line from the receipt

    @property
    def to(self) -> str:
        return to_checksum_address(self.fn.address)

    @property
    def data(self) -> str:
        return self.fn._encode_transaction_data()

    @property
    def signature(self) -> str:
        return f"{self.fn.abi['name']}({','.join(_abi_type(i) for i in self.fn.abi['inputs'])})"

    def arguments(self) -> dict[str, str]:
        return {i["name"] or f"arg{n}": _json_value(v) for n, (i, v) in enumerate(zip(self.fn.abi["inputs"], self.fn.args))}


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


def _json_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(_json_value(v)) for v in value) + "]"
    return str(value)


def simulate(chain: TournamentChain, calls: Sequence[PreparedCall], sender: str) -> None:
    """eth_call each call from `sender` (e.g. the multisig) so a revert shows before anyone signs.

    Calls that depend on an earlier one of the batch (fundRewards after approve) can only be
    checked once the earlier one is mined, so only the first call is simulated when later
    ones follow an approval."""
    for call in calls:
        try:
            simulate_call(call.fn, sender, f"simulating {call.description}")
        except TransactionReverted as exc:
            error = exc.error
            for short in ROLE_NAMES:  # AccessControlUnauthorizedAccount(neededRole=0x..): name the role
                error = error.replace("0x" + role_id(short).hex(), role_name(role_id(short)))
            raise TransactionReverted(f"{call.description} (simulated from {sender})", error) from exc
        if call.fn.abi["name"] in ("approve", "changeApproval"):
            break


def send(tx: Transactor, calls: Sequence[PreparedCall]) -> list[str]:
    """Sends the calls in order; returns one line per mined transaction."""
    lines = []
    for call in calls:
        receipt = tx.transact(call.fn, call.description)
        line = f"{call.description}: tx 0x{bytes(receipt['transactionHash']).hex()} (block {receipt['blockNumber']})"
        if call.after is not None:
            line += f"; {call.after(receipt)}"
        lines.append(line)
    return lines


def calldata_lines(calls: Sequence[PreparedCall]) -> list[str]:
    """Target, value and calldata of each call, for pasting into a multisig."""
    lines = []
    for n, call in enumerate(calls, 1):
        if len(calls) > 1:
            lines.append(f"# transaction {n} of {len(calls)}: {call.description}")
        else:
            lines.append(f"# {call.description}")
        lines += [f"to:    {call.to}", "value: 0", f"data:  {call.data}"]
    return lines


def safe_batch(calls: Sequence[PreparedCall], chain_id: int, name: str, safe_address: str = "") -> dict:
    """A Safe transaction-builder batch (its JSON import format) of the calls."""
    return {
        "version": "1.0",
        "chainId": str(chain_id),
        "createdAt": int(time.time() * 1000),
        "meta": {"name": name, "description": "; ".join(c.description for c in calls),
                 "txBuilderVersion": "1.16.5", "createdFromSafeAddress": safe_address,
                 "createdFromOwnerAddress": ""},
        "transactions": [{"to": c.to, "value": "0", "data": c.data,
                          "contractMethod": None, "contractInputsValues": None} for c in calls],
    }


# ------------------------------------------------------------------ admin actions

def set_signers(chain: TournamentChain, signers: Sequence[str], threshold: int) -> list[PreparedCall]:
    addresses = [checked_address(s, "signer") for s in signers]
    if not addresses:
        raise ValueError("give at least one signer address")
    repeated = sorted({a for a in addresses if addresses.count(a) > 1})
    if repeated:
        raise ValueError(f"signer {repeated[0]} is listed twice; each signer counts once")
    if not 1 <= threshold <= len(addresses):
        raise ValueError(f"--threshold {threshold} must be between 1 and the number of signers ({len(addresses)})")
    if threshold == 1 and len(addresses) > 1:
        log.warning("threshold 1 of %d: any single signer can post results", len(addresses))

    def after(receipt: Receipt) -> str:
        return f"signer set version {chain.reader().signer_set().version}: {threshold} of {len(addresses)}"
    return [PreparedCall(chain.calls.set_signers(addresses, threshold),
                         f"set the oracle signers to {threshold} of {len(addresses)} ({', '.join(addresses)})", after)]


def grant_role(chain: TournamentChain, role: str, account: str) -> list[PreparedCall]:
    address = checked_address(account)
    return [PreparedCall(chain.calls.grant_role(role_id(role), address),
                         f"grant {ROLE_NAMES[role.lower()]} to {address}")]


def revoke_role(chain: TournamentChain, role: str, account: str) -> list[PreparedCall]:
    address = checked_address(account)
    return [PreparedCall(chain.calls.revoke_role(role_id(role), address),
                         f"revoke {ROLE_NAMES[role.lower()]} from {address}")]


def current_config(chain: TournamentChain) -> dict[str, int]:
    """{abiName: value} of the configuration, in the struct's order."""
    return chain.reader().config_values()


def set_config(chain: TournamentChain, changes: dict[str, int]) -> tuple[list[PreparedCall], list[str]]:
    """The setConfig call with `changes` applied to the current configuration; and a line per change."""
    current = current_config(chain)
    unknown = sorted(set(changes) - set(current))
    if unknown:
        raise ValueError(f"unknown configuration field {unknown[0]!r}; the contract has {', '.join(current)}")
    new = {**current, **changes}
    diff = [f"{name}: {format_config_value(name, current[name])} -> {format_config_value(name, new[name])}"
            for name in current if new[name] != current[name]]
    if not diff:
        return [], []
    fn = chain.calls.set_config([new[name] for name in current])
    return [PreparedCall(fn, "set the configuration (" + "; ".join(diff) + ")")], diff


def has_change_approval(chain: TournamentChain) -> bool:
    """Whether the token has the legacy NMR's changeApproval (its selector is in the dispatcher)."""
    return CHANGE_APPROVAL_SELECTOR in chain.reader().code(chain.nmr.address)


def approval_calls(chain: TournamentChain, owner: Optional[str], amount_wei: int) -> list[PreparedCall]:
    """Calls that leave the tournament an allowance of at least `amount_wei` from `owner`.

    The legacy mainnet NMR refuses `approve` from a non-zero allowance to another non-zero
    one, so: enough allowance -> nothing; zero -> approve; too little -> changeApproval where
    the token has it, else approve(0) then approve. Without a known `owner` (a multisig whose
    allowance was not read) the safe sequence approve(0), approve(amount) is used.
    """
    spender = chain.tournament.address
    if owner is None:
        return [PreparedCall(chain.calls.approve_for(spender, 0), "reset the tournament's NMR allowance to 0"),
                PreparedCall(chain.calls.approve_for(spender, amount_wei),
                             f"approve {format_nmr(amount_wei)} for the tournament")]
    allowance = chain.reader().allowance_wei(owner, spender)
    if allowance >= amount_wei:
        return []
    if allowance == 0:
        return [PreparedCall(chain.calls.approve_for(spender, amount_wei),
                             f"approve {format_nmr(amount_wei)} for the tournament")]
    if has_change_approval(chain):
        return [PreparedCall(chain.calls.change_approval(spender, allowance, amount_wei),
                             f"change the tournament's NMR allowance from {format_nmr(allowance)} to "
                             f"{format_nmr(amount_wei)}")]
    return [PreparedCall(chain.calls.approve_for(spender, 0),
                         f"reset the tournament's NMR allowance ({format_nmr(allowance)}) to 0 first"),
            PreparedCall(chain.calls.approve_for(spender, amount_wei),
                         f"approve {format_nmr(amount_wei)} for the tournament")]


def fund_rewards(chain: TournamentChain, funder: Optional[str], amount_wei: int) -> list[PreparedCall]:
    if funder is not None:
        balance = chain.reader().token_balance_wei(funder)
        if balance < amount_wei:
            raise ValueError(f"{funder} holds {format_nmr(balance)}, less than the {format_nmr(amount_wei)} to fund")

    def after(receipt: Receipt) -> str:
        pool = chain.reader().reward_pool_wei()
        return f"reward pool now {format_nmr(pool)}"
    return approval_calls(chain, funder, amount_wei) + [
        PreparedCall(chain.calls.fund_rewards(amount_wei),
                     f"fund the reward pool with {format_nmr(amount_wei)}", after)]


def withdraw_rewards(chain: TournamentChain, amount_wei: int, to: str) -> list[PreparedCall]:
    address = checked_address(to, "--to")
    pool = chain.reader().reward_pool_wei()
    if amount_wei > pool:
        raise ValueError(f"the unreserved reward pool holds {format_nmr(pool)}, less than {format_nmr(amount_wei)}")

    def after(receipt: Receipt) -> str:
        left = chain.reader().reward_pool_wei()
        return f"reward pool now {format_nmr(left)}"
    return [PreparedCall(chain.calls.withdraw_rewards(amount_wei, address),
                         f"withdraw {format_nmr(amount_wei)} of the reward pool to {address}", after)]


def unpause(chain: TournamentChain) -> list[PreparedCall]:
    return [PreparedCall(chain.calls.unpause(), "unpause the tournament")]


def pause(chain: TournamentChain) -> list[PreparedCall]:
    return [PreparedCall(chain.calls.pause(), "pause the tournament")]


def recover_surplus(chain: TournamentChain, token: str, to: str) -> list[PreparedCall]:
    token_address = checked_address(token, "token")
    address = checked_address(to, "--to")
    return [PreparedCall(chain.calls.recover_surplus(token_address, address),
                         f"recover the surplus of token {token_address} to {address}")]


def veto(chain: TournamentChain, round_id: int, reason: str) -> list[PreparedCall]:
    reason = reason.strip()
    if not reason:
        raise ValueError("--reason must say why the results are wrong (it is published on-chain)")
    return [PreparedCall(chain.calls.veto(int(round_id), reason),
                         f"veto the proposed results of round {round_id} ({reason})")]


def calls_json(calls: Sequence[PreparedCall], chain_id: int, name: str, safe_address: str = "") -> str:
    return json.dumps(safe_batch(calls, chain_id, name, safe_address), indent=2)
