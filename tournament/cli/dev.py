"""`tournament dev ...`: conveniences for a local chain (anvil or Hardhat's node) only.

`dev fund ADDRESS [--nmr N] [--eth N]` gives an address ether (the node's set-balance call)
and NMR (a transfer from anvil's first key, which holds the NMR supply in local deployments);
`dev advance 7d` moves chain time forward and mines a block. Both refuse, in one line, on any
chain that is not a local dev node: they would not work there, and must not pretend to.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click
from web3 import Web3
from web3.types import RPCEndpoint

from tournament.cli.role_options import DEFAULT_RPC, chain_options, open_chain

LOCAL_CLIENTS = {"anvil": "anvil", "hardhat": "hardhat"}


def _local_client(w3: Web3, rpc: str) -> str:
    """'anvil' or 'hardhat', from web3_clientVersion; a one-line error otherwise."""
    from tournament.chain.client import with_retries

    version = str(with_retries(lambda: w3.provider.make_request(RPCEndpoint("web3_clientVersion"), []), "asking the node's "
                               "client version").get("result", ""))
    lowered = version.lower()
    for marker, name in LOCAL_CLIENTS.items():
        if marker in lowered:
            return name
    raise click.ClickException(f"the node at {rpc} is {version or 'an unknown client'}, not a local anvil or Hardhat "
                               "node: dev commands only work on a local chain")


@click.group("dev")
def dev() -> None:
    """Local chain helpers: fund an address, move time (anvil or Hardhat only)."""


@dev.command("fund")
@click.argument("address")
@click.option("--nmr", default="1000", show_default=True, help="NMR to send from anvil's key 0 (0 for none).")
@click.option("--eth", default="10", show_default=True, help="Ether balance to set for gas (0 to leave it).")
@chain_options
def fund(address: str, nmr: str, eth: str, rpc: str, deployments: Optional[Path]) -> None:
    """Give ADDRESS ether for gas and NMR from the local deployment's treasury (anvil key 0)."""
    from decimal import Decimal, InvalidOperation

    from tournament.admin.calls import format_nmr, parse_nmr
    from tournament.admin.connection import checked_address
    from tournament.chain.calls import Calls
    from tournament.chain.keys import anvil_test_accounts
    from tournament.chain.reader import ChainReader

    target = checked_address(address)
    try:
        eth_wei = int(Decimal(eth) * 10**18)
    except InvalidOperation:
        raise click.BadParameter(f"{eth!r} is not a number of ether", param_hint="--eth") from None
    nmr_wei = 0 if nmr.strip() in ("0", "0.0") else parse_nmr(nmr, "--nmr")
    chain = open_chain(rpc, deployments)
    client = _local_client(chain.w3, rpc)
    if eth_wei > 0:
        method = "anvil_setBalance" if client == "anvil" else "hardhat_setBalance"
        chain.w3.provider.make_request(RPCEndpoint(method), [target, hex(eth_wei)])
        click.echo(f"{target}: ether balance set to {Decimal(eth_wei) / 10**18:f} ETH")
    if nmr_wei > 0:
        treasury = anvil_test_accounts(1)[0]
        held = ChainReader(chain.w3, chain.deployment).token_balance_wei(treasury.address)
        if held < nmr_wei:
            raise click.ClickException(f"anvil's key 0 ({treasury.address}) holds {format_nmr(held)}, less than "
                                       f"{format_nmr(nmr_wei)}; is this a local deployment made with that key?")
        receipt = chain.transactor(treasury).transact(Calls(chain.w3, chain.deployment).token_call("transfer", target,
                                                                                                  nmr_wei),
                                                      f"sending {format_nmr(nmr_wei)} to {target}")
        balance = ChainReader(chain.w3, chain.deployment).token_balance_wei(target)
        click.echo(f"{target}: sent {format_nmr(nmr_wei)} (tx 0x{bytes(receipt['transactionHash']).hex()}); "
                   f"it holds {format_nmr(balance)}")


@dev.command("advance")
@click.argument("duration")
@click.option("--rpc", default=DEFAULT_RPC, show_default=True, envvar="TOURNAMENT_RPC",
              help="JSON-RPC URL of the chain (env TOURNAMENT_RPC).")
def advance(duration: str, rpc: str) -> None:
    """Move chain time forward by DURATION (7d, 12h, 30m, 45s) and mine a block."""
    from tournament.admin.calls import parse_duration
    from tournament.chain.client import connect
    from tournament.chain.devchain import increase_time
    from tournament.keeper.refunds import utc

    try:
        seconds = parse_duration(duration, "DURATION")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DURATION") from None
    if not str(rpc).startswith(("http://", "https://")):
        raise click.BadParameter(f"{rpc!r} must start with http:// or https://", param_hint="--rpc")
    w3 = connect(rpc)
    _local_client(w3, rpc)
    now = increase_time(w3, seconds)
    click.echo(f"chain time is now {utc(now)} (+{seconds}s)")
