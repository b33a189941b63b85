"""Options and plumbing shared by the role commands (admin, guardian, keeper, dev).

Every option is on the sub-command, so `tournament admin unpause --rpc URL` works (options
after the sub-command, as everywhere else). A key comes from `--keystore PATH` (password from
the environment variable named by `--password-env`, else a hidden prompt) or from a hex
private key in the environment variable named by `--key-env`; each role has its own default
variable, so one shell never mixes up the admin's and the keeper's keys.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar

import click

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from tournament.admin.connection import TournamentChain
    from tournament.chain.transactor import Transactor

DEFAULT_RPC = "http://127.0.0.1:8545"

F = TypeVar("F", bound=Callable[..., Any])


def chain_options(fn: F) -> F:
    """--rpc and --deployments."""
    fn = click.option("--deployments", type=click.Path(file_okay=False, path_type=Path), envvar="TOURNAMENT_DEPLOYMENTS",
                      help="Folder with <chainId>.json deployment files (env TOURNAMENT_DEPLOYMENTS).")(fn)
    fn = click.option("--rpc", default=DEFAULT_RPC, show_default=True, envvar="TOURNAMENT_RPC",
                      help="JSON-RPC URL of the chain (env TOURNAMENT_RPC).")(fn)
    return fn


def key_options(role: str, key_env: Optional[str] = None, password_env: Optional[str] = None) -> Callable[[F], F]:
    """--keystore, --password-env, --key-env, --confirmations, with role-specific defaults
    (<ROLE>_KEY and <ROLE>_KEYSTORE_PASSWORD unless named)."""
    upper = role.upper()
    key_env = key_env or f"{upper}_KEY"
    password_env = password_env or f"{upper}_KEYSTORE_PASSWORD"

    def decorate(fn: F) -> F:
        fn = click.option("--confirmations", default=0, show_default=True, type=click.IntRange(0, 64),
                          help="Blocks to wait after each transaction is mined.")(fn)
        fn = click.option("--key-env", default=key_env, show_default=True,
                          help="Environment variable with a hex private key, used when no keystore is given.")(fn)
        fn = click.option("--password-env", default=password_env, show_default=True,
                          help="Environment variable with the keystore password (else you are asked).")(fn)
        fn = click.option("--keystore", type=click.Path(dir_okay=False, path_type=Path),
                          help=f"Encrypted keystore with the {role}'s key.")(fn)
        return fn
    return decorate


def open_chain(rpc: str, deployments: Optional[Path]) -> TournamentChain:
    from tournament.admin.connection import open_tournament
    from tournament.cli.errors import remember_contract

    chain = open_tournament(rpc, deployments)
    remember_contract(chain.tournament.address, chain.chain_id)
    return chain


def load_key(keystore: Optional[Path], password_env: str, key_env: str, role: str) -> LocalAccount:
    """The signing account; one line saying what to pass when there is none."""
    from tournament.chain.keys import load_account

    if keystore is not None:
        return load_account(keystore=keystore,
                            password_env=password_env if os.environ.get(password_env) else None,
                            prompt=lambda question: click.prompt(question, hide_input=True))
    if not os.environ.get(key_env):
        raise click.ClickException(f"no {role} key: pass --keystore FILE, or put a hex private key in the "
                                   f"environment variable {key_env} (or name another with --key-env)")
    return load_account(key_env=key_env)


@dataclass
class Sender:
    """A connected chain and (once asked for) a transactor with the role's key."""

    chain: TournamentChain
    keystore: Optional[Path]
    password_env: str
    key_env: str
    role: str
    confirmations: int
    _tx: Optional[Transactor] = None

    def tx(self) -> Transactor:
        if self._tx is None:
            account = load_key(self.keystore, self.password_env, self.key_env, self.role)
            self._tx = self.chain.transactor(account, confirmations=self.confirmations)
        return self._tx
