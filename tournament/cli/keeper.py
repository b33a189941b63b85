"""`tournament keeper ...`: permissionless upkeep with any key that has gas.

`keeper run` settles accepted rounds from their published leaves (checked against the
accepted root first) and refunds what is refundable, once (`--once`) or every `--interval`;
`keeper refund --round N [--model M]` refunds the stakes of one round (or one model) when the
contract allows it, and says when it will if not. The key comes from --keystore or
KEEPER_KEY. The logic lives in tournament.keeper; this module reads options and prints.
"""
from __future__ import annotations

from typing import Any, Optional

import click

from tournament.cli.role_options import Sender, chain_options, key_options, open_chain


def _sender(o: dict) -> Sender:
    return Sender(open_chain(o["rpc"], o["deployments"]), o["keystore"], o["password_env"], o["key_env"],
                  "keeper", o["confirmations"])


@click.group("keeper")
def keeper() -> None:
    """Anyone's upkeep: settle accepted rounds, refund refundable stakes."""


def refund_command(name: str = "refund", role: str = "keeper", key_env: Optional[str] = None,
                   password_env: Optional[str] = None) -> click.Command:
    """The refund command. The participant group adds the same command with its own key variables:
    `participant.add_command(refund_command("refund", "participant", "TOURNAMENT_PRIVATE_KEY",
    "TOURNAMENT_KEYSTORE_PASSWORD"))`."""

    @click.command(name)
    @click.option("--round", "round_id", required=True, type=click.IntRange(1, None), help="The round.")
    @click.option("--model", "model_id", type=click.IntRange(0, None), default=None,
                  help="Only this model's stake (default: every unsettled stake of the round).")
    @chain_options
    @key_options(role, key_env, password_env)
    def refund(round_id: int, model_id: Optional[int], **o: Any) -> None:
        """Refund stakes of a round in full when the oracle failed: no results accepted in time, or
        results accepted but a stake still unsettled settleTimeout later. Anyone may do it."""
        from tournament.keeper import refunds

        sender = Sender(open_chain(o["rpc"], o["deployments"]), o["keystore"], o["password_env"], o["key_env"],
                        role, o["confirmations"])
        models = refunds.refundable_models(sender.chain, round_id, model_id)
        if not models:
            click.echo(f"round {round_id}: every stake is already settled or refunded; nothing to do")
            return
        result = refunds.refund(sender.chain, sender.tx(), round_id, models)
        click.echo(result.summary())
        for model, amount in sorted(result.refunded.items()):
            from tournament.admin.calls import format_nmr
            click.echo(f"  model {model}: {format_nmr(amount)} back to its owner's tournament wallet")
    return refund


keeper.add_command(refund_command())


@keeper.command("run")
@click.option("--artifacts", metavar="FOLDER|URL", envvar="TOURNAMENT_ARTIFACTS",
              help="Where rounds' leaves.json are published: a folder (an operator work folder, or <round>/ "
                   "folders) or an http(s) base URL; '{round}' in it names the file exactly. Without it only "
                   "refunds are done.")
@click.option("--once", is_flag=True, help="One pass over every round, then exit (exit 1 if a round had a problem).")
@click.option("--interval", default="60s", show_default=True, metavar="DURATION",
              help="Time between passes (e.g. 30s, 5m).")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 5000),
              help="Most stakes per settle transaction (halved while a batch would not fit the block).")
@chain_options
@key_options("keeper")
def run(artifacts: Optional[str], once: bool, interval: str, batch_size: int, **o: Any) -> None:
    """Settle every Accepted round and refund every refundable stake, now and every --interval."""
    from tournament.admin.calls import parse_duration
    from tournament.keeper.runner import Keeper, PassReport

    try:
        interval_s = parse_duration(interval, "--interval")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    sender = _sender(o)
    keeper_ = Keeper(sender.chain, sender.tx(), artifacts, batch_size=batch_size)
    click.echo(f"keeper {sender.tx().address} on chain {sender.chain.chain_id}, tournament "
               f"{sender.chain.tournament.address}")

    problems = []

    def show(report: PassReport) -> None:
        for line in report.actions:
            click.echo(line)
        for line in report.problems:
            click.echo(f"warning: {line}", err=True)
        if not report.actions and not report.problems:
            click.echo("nothing to do")
        problems.extend(report.problems)

    if once:
        show(keeper_.run_once())
        if problems:
            raise SystemExit(1)
        return
    keeper_.run(interval_s, on_pass=show)
