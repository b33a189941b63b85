"""One checked connection to a deployed tournament, shared by the admin, guardian, keeper and dev commands.

`open_tournament` connects to the RPC, loads the deployment file of the RPC's chain id and
checks that the tournament and the token have code there, so a wrong `--rpc` or
`--deployments` (or a restarted local chain) is one clear error instead of an undecodable
empty return later. Role names map to their AccessControl ids here, once. Reads go through
`reader()` (a ChainReader pinned at the head when called) and call builders through `calls`
(tournament.chain.calls.Calls): no web3 call is made here.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from eth_account.signers.local import LocalAccount
from eth_utils import is_checksum_address, is_checksum_formatted_address, is_hex_address, keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract

from tournament.chain.calls import Calls
from tournament.chain.client import ChainError, Deployment, Transactor, connect, nmr_contract, tournament_contract
from tournament.chain.reader import ChainReader, chain_time
from tournament.chain.rpc import chain_id as read_chain_id

log = logging.getLogger(__name__)

# Short names the commands take -> the contract's role constant names.
ROLE_NAMES = {"admin": "DEFAULT_ADMIN_ROLE", "operator": "OPERATOR_ROLE", "guardian": "GUARDIAN_ROLE",
              "receipt": "RECEIPT_ROLE"}


def no_tournament_message(address: Optional[str], chain_id: Optional[int]) -> str:
    """What to say when the deployment's address has no contract on the RPC."""
    where = f"at {address}" if address else "at the deployment's address"
    chain = f" (chain id {chain_id})" if chain_id is not None else ""
    return (f"no tournament {where} on this RPC{chain}: wrong --rpc or --deployments? "
            "(a restarted local chain forgets its contracts: deploy again)")


def role_id(name: str) -> bytes:
    """The AccessControl id of a role given by short name (admin, operator, guardian, receipt)."""
    key = name.strip().lower()
    if key not in ROLE_NAMES:
        raise ValueError(f"unknown role {name!r}; choose one of {', '.join(ROLE_NAMES)}")
    constant = ROLE_NAMES[key]
    # OpenZeppelin: DEFAULT_ADMIN_ROLE is 0x00; every other role is keccak256 of its name.
    return bytes(32) if constant == "DEFAULT_ADMIN_ROLE" else keccak(text=constant)


def role_name(role: bytes) -> str:
    for short, constant in ROLE_NAMES.items():
        if role_id(short) == bytes(role):
            return constant
    return "0x" + bytes(role).hex()


def checked_address(text: str, what: str = "address") -> str:
    """A checksummed address from user input; ValueError with the reason otherwise."""
    value = str(text).strip()
    if not is_hex_address(value):
        raise ValueError(f"{what} {text!r} is not an Ethereum address (0x followed by 40 hex digits)")
    if is_checksum_formatted_address(value) and not is_checksum_address(value):
        raise ValueError(f"{what} {text!r} has a wrong checksum (its mixed case does not match); "
                         "copy it again or write it in lower case")
    address = to_checksum_address(value)
    if int(address, 16) == 0:
        raise ValueError(f"{what} is the zero address")
    return address


@dataclass
class TournamentChain:
    """A connection to one deployed tournament."""

    w3: Web3
    deployment: Deployment
    tournament: Contract
    nmr: Contract
    chain_id: int
    rpc_url: str

    def reader(self) -> ChainReader:
        """A ChainReader pinned at the head now (call again after a transaction to see its effect)."""
        return ChainReader(self.w3, self.deployment, _contracts=(self.tournament, self.nmr))

    @functools.cached_property
    def calls(self) -> Calls:
        return Calls(self.w3, self.deployment)

    def now(self) -> int:
        return chain_time(self.w3)

    def transactor(self, account: LocalAccount, confirmations: int = 0, receipt_timeout_s: float = 120.0) -> Transactor:
        return Transactor(self.w3, account, confirmations=confirmations, receipt_timeout_s=receipt_timeout_s)

    def has_role(self, role: str, address: str) -> bool:
        return self.reader().has_role(role_id(role), address)

    def require_role(self, role: str, address: str, action: str) -> None:
        """Fails before sending when `address` lacks `role` (the contract would revert anyway)."""
        if not self.has_role(role, address):
            raise ChainError(f"{address} does not hold {ROLE_NAMES[role]} on the tournament at "
                             f"{self.tournament.address} (chain id {self.chain_id}); {action} needs the "
                             f"{role}'s key")

    def paused(self) -> bool:
        return self.reader().paused()


def open_tournament(rpc_url: str, deployments_dir: Optional[Path] = None) -> TournamentChain:
    """Connects and checks that the deployment's contracts exist at that RPC."""
    if not str(rpc_url).startswith(("http://", "https://")):
        raise ValueError(f"RPC URL {rpc_url!r} must start with http:// or https://, e.g. http://127.0.0.1:8545")
    w3 = connect(rpc_url)
    chain_id = read_chain_id(w3)
    # chain id + genesis pick the file; code at both addresses and the tournament's token are checked
    deployment = Deployment.for_rpc(w3, deployments_dir)
    return TournamentChain(w3, deployment, tournament_contract(w3, deployment), nmr_contract(w3, deployment),
                           chain_id, rpc_url)
