"""`tournament admin ...`: the DEFAULT_ADMIN role's commands, for a hot key or a multisig.

set-signers, grant-role / revoke-role, set-config, fund-rewards, withdraw-rewards, unpause,
recover-surplus. Each sends with the admin key (--keystore or ADMIN_KEY), checking the role
first; or, with `--print-calldata`, prints the target, value 0 and the calldata of each call
(a Safe transaction-builder batch with `--json`) for a multisig to sign; `--from SAFE` then
simulates the calls from the multisig so a revert shows before anyone signs. The calls are
built by tournament.admin.calls; this module only reads options and prints.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click

from tournament.cli.role_options import Sender, chain_options, key_options, open_chain

ROLE_CHOICE = click.Choice(["operator", "guardian", "receipt", "admin"], case_sensitive=False)


def print_options(fn):
    fn = click.option("--from", "from_address", metavar="ADDRESS",
                      help="With --print-calldata: the multisig that will send; the calls are simulated from it "
                           "(and fund-rewards reads its allowance).")(fn)
    fn = click.option("--json", "as_json", is_flag=True,
                      help="With --print-calldata: a Safe transaction-builder batch (JSON) instead.")(fn)
    fn = click.option("--print-calldata", is_flag=True,
                      help="Print target, value and calldata for a multisig instead of sending.")(fn)
    return fn


def _options(fn):
    return chain_options(key_options("admin")(print_options(fn)))


def _sender(o: dict) -> Sender:
    return Sender(open_chain(o["rpc"], o["deployments"]), o["keystore"], o["password_env"], o["key_env"], "admin",
                  o["confirmations"])


def execute(sender: Sender, calls: list, o: dict, *, role: Optional[str], action: str) -> None:
    """Send `calls` with the role's key, or print them for a multisig."""
    from tournament.admin import calls as admin_calls
    from tournament.admin.connection import checked_address

    chain = sender.chain
    if not calls:
        click.echo(f"{action}: nothing to do")
        return
    if o["print_calldata"]:
        safe = ""
        if o["from_address"]:
            safe = checked_address(o["from_address"], "--from")
            if role is not None:
                chain.require_role(role, safe, action)
            admin_calls.simulate(chain, calls, safe)
        if o["as_json"]:
            click.echo(admin_calls.calls_json(calls, chain.chain_id, f"tournament {action}", safe))
        else:
            click.echo(f"# chain id {chain.chain_id}; send from the multisig{' ' + safe if safe else ''}, in order")
            click.echo("\n".join(admin_calls.calldata_lines(calls)))
        return
    if o["as_json"] or o["from_address"]:
        raise click.UsageError("--json and --from go with --print-calldata")
    tx = sender.tx()
    if role is not None:
        chain.require_role(role, tx.address, action)
    for line in admin_calls.send(tx, calls):
        click.echo(line)


@click.group("admin")
def admin() -> None:
    """The admin's commands: signers, roles, configuration, reward pool, unpause (a multisig in production)."""


@admin.command("set-signers")
@click.argument("signers", nargs=-1, required=True, metavar="ADDRESS...")
@click.option("--threshold", required=True, type=click.IntRange(1, 255), help="Signatures needed (m of n).")
@_options
def set_signers(signers: tuple[str, ...], threshold: int, **o: Any) -> None:
    """Replace the oracle signer set with ADDRESS... and THRESHOLD (bumps signerSetVersion)."""
    from tournament.admin import calls
    sender = _sender(o)
    execute(sender, calls.set_signers(sender.chain, signers, threshold), o, role="admin", action="set-signers")


def _role_change(grant: bool, role: str, address: str, force: bool, o: dict) -> None:
    from tournament.admin import calls
    from tournament.admin.connection import ROLE_NAMES, checked_address

    role = role.lower()
    sender = _sender(o)
    chain = sender.chain
    account = checked_address(address)
    holds = chain.has_role(role, account)
    if holds == grant:
        click.echo(f"{account} {'already holds' if grant else 'does not hold'} {ROLE_NAMES[role]}: nothing to do")
        return
    if not grant and role == "admin" and not force and not o["print_calldata"]:
        me = sender.tx().address
        if int(me, 16) == int(account, 16):
            raise click.ClickException(f"this would take the admin role from the key that sends it ({account}); if "
                                       "another admin exists and you mean it, add --force")
    build = calls.grant_role if grant else calls.revoke_role
    execute(sender, build(chain, role, account), o, role="admin", action=f"{'grant' if grant else 'revoke'}-role")


@admin.command("grant-role")
@click.argument("role", type=ROLE_CHOICE)
@click.argument("address")
@_options
def grant_role(role: str, address: str, **o: Any) -> None:
    """Give ROLE (operator, guardian, receipt, admin) to ADDRESS."""
    _role_change(True, role, address, False, o)


@admin.command("revoke-role")
@click.argument("role", type=ROLE_CHOICE)
@click.argument("address")
@click.option("--force", is_flag=True, help="Allow revoking the admin role from the sending key itself.")
@_options
def revoke_role(role: str, address: str, force: bool, **o: Any) -> None:
    """Take ROLE (operator, guardian, receipt, admin) from ADDRESS."""
    _role_change(False, role, address, force, o)


CONFIG_OPTIONS = [
    ("corrMultMin", "--corr-mult-min", "lowest corr multiplier (2x, 0.5x or hundredths)"),
    ("corrMultMax", "--corr-mult-max", "highest corr multiplier"),
    ("mmcMultMin", "--mmc-mult-min", "lowest mmc multiplier"),
    ("mmcMultMax", "--mmc-mult-max", "highest mmc multiplier"),
    ("clipBps", "--clip", "payout clip per stake (25% or basis points)"),
    ("challengePeriod", "--challenge-period", "challenge window (e.g. 1d)"),
    ("resultsTimeout", "--results-timeout", "refunds after resolveTime + this without results (e.g. 14d)"),
    ("settleTimeout", "--settle-timeout", "refunds of stakes unsettled this long after acceptance (e.g. 14d)"),
    ("minResolutionDelay", "--min-resolution-delay", "least time between close and resolve (e.g. 20d)"),
    ("stakeThreshold", "--stake-threshold", "NMR at risk above which payouts scale down"),
    ("minStake", "--min-stake", "smallest stake in NMR"),
]


def config_options(fn):
    fn = click.option("--set", "raw", multiple=True, metavar="FIELD=VALUE",
                      help="Any configuration field by its contract name (e.g. a field newer than these options).")(fn)
    for name, flag, text in reversed(CONFIG_OPTIONS):
        fn = click.option(flag, name, default=None, help=f"{text}; unchanged if not given.")(fn)
    return fn


@admin.command("set-config")
@config_options
@_options
def set_config(raw: tuple[str, ...], **o: Any) -> None:
    """Change the configuration that rounds opened from now on snapshot; fields not given are kept."""
    from tournament.admin import calls

    changes: dict[str, int] = {}
    for name, _flag, _text in CONFIG_OPTIONS:
        value = o.pop(name)
        if value is not None:
            changes[name] = calls.parse_config_value(name, value)
    for item in raw:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: write FIELD=VALUE", param_hint="--set")
        name, value = item.split("=", 1)
        changes[name.strip()] = calls.parse_config_value(name.strip(), value.strip())
    if not changes:
        raise click.UsageError("give at least one field to change (see --help)")
    sender = _sender(o)
    prepared, diff = calls.set_config(sender.chain, changes)
    if not prepared:
        click.echo("the configuration already has these values: nothing to do")
        return
    execute(sender, prepared, o, role="admin", action="set-config")


@admin.command("show-config")
@chain_options
def show_config(rpc: str, deployments: Optional[Path]) -> None:
    """Print the current configuration, signer set, roles' reward pool and pause flag."""
    from tournament.admin import calls
    chain = open_chain(rpc, deployments)
    for name, value in calls.current_config(chain).items():
        click.echo(f"{name}: {calls.format_config_value(name, value)}")
    from tournament.chain.reader import ChainReader
    reader = ChainReader(chain.w3, chain.deployment, _contracts=(chain.tournament, chain.nmr))
    current = reader.signer_set()
    click.echo(f"signers (version {current.version}): {current.threshold} of {len(current.signers)}: "
               f"{', '.join(current.signers)}")
    click.echo(f"reward pool: {calls.format_nmr(reader.reward_pool_wei())}")
    click.echo(f"paused: {'yes' if reader.paused() else 'no'}")


@admin.command("fund-rewards")
@click.argument("amount")
@_options
def fund_rewards(amount: str, **o: Any) -> None:
    """Add AMOUNT NMR to the reward pool (approves the tournament first when needed)."""
    from tournament.admin import calls
    amount_wei = calls.parse_nmr(amount)
    sender = _sender(o)
    if o["print_calldata"]:
        funder = o["from_address"]
        from tournament.admin.connection import checked_address
        prepared = calls.fund_rewards(sender.chain, checked_address(funder, "--from") if funder else None, amount_wei)
    else:
        prepared = calls.fund_rewards(sender.chain, sender.tx().address, amount_wei)
    # Anyone may fund; the pause blocks it (the simulation or the transactor says so).
    execute(sender, prepared, o, role=None, action="fund-rewards")


@admin.command("withdraw-rewards")
@click.argument("amount")
@click.option("--to", "to", required=True, metavar="ADDRESS", help="Where the NMR goes.")
@_options
def withdraw_rewards(amount: str, to: str, **o: Any) -> None:
    """Take AMOUNT NMR of the unreserved reward pool out to --to."""
    from tournament.admin import calls
    sender = _sender(o)
    execute(sender, calls.withdraw_rewards(sender.chain, calls.parse_nmr(amount), to), o, role="admin",
            action="withdraw-rewards")


@admin.command("unpause")
@_options
def unpause(**o: Any) -> None:
    """Resume deposits, stakes, proposals and settlement after a guardian's pause."""
    from tournament.admin import calls
    sender = _sender(o)
    if not sender.chain.paused():
        click.echo("the tournament is not paused: nothing to do")
        return
    execute(sender, calls.unpause(sender.chain), o, role="admin", action="unpause")


@admin.command("recover-surplus")
@click.argument("token")
@click.option("--to", "to", required=True, metavar="ADDRESS", help="Where the surplus goes.")
@_options
def recover_surplus(token: str, to: str, **o: Any) -> None:
    """Send tokens nobody is owed (TOKEN's balance above what the tournament accounts for) to --to."""
    from tournament.admin import calls
    sender = _sender(o)
    prepared = calls.recover_surplus(sender.chain, token, to)
    execute(sender, prepared, o, role="admin", action="recover-surplus")
