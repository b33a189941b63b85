"""`tournament guardian ...`: the GUARDIAN role's commands.

`veto ROUND --reason TEXT` rejects a round's proposed results during its challenge window;
`pause` stops new activity (deposits, stakes, proposals, settlement) until the admin
unpauses. The key comes from --keystore or GUARDIAN_KEY (a hardware-wallet bridge in
production). The watchtower (`guardian watch`) is added to this group by its own module.
Each command can print the calldata instead (`--print-calldata`), like the admin's.
"""
from __future__ import annotations

from typing import Any

import click

from tournament.cli.admin import execute, print_options
from tournament.cli.role_options import Sender, chain_options, key_options, open_chain


def _options(fn):
    return chain_options(key_options("guardian")(print_options(fn)))


def _sender(o: dict) -> Sender:
    return Sender(open_chain(o["rpc"], o["deployments"]), o["keystore"], o["password_env"], o["key_env"],
                  "guardian", o["confirmations"])


@click.group("guardian")
def guardian() -> None:
    """The guardian's commands: veto wrong results inside the challenge window, pause."""


@guardian.command("veto")
@click.argument("round_id", metavar="ROUND", type=click.IntRange(1, None))
@click.option("--reason", required=True, help="Why the results are wrong (published on-chain).")
@_options
def veto(round_id: int, reason: str, **o: Any) -> None:
    """Veto the proposed results of ROUND (it must be Proposed); the operator re-proposes."""
    from tournament.admin import calls
    from tournament.keeper import reads
    from tournament.keeper.refunds import utc

    sender = _sender(o)
    chain = sender.chain
    phase = reads.phase(chain, round_id)
    if phase != "Proposed":
        if phase == "None":
            raise click.ClickException(f"round {round_id} was never opened on this tournament")
        raise click.ClickException(f"round {round_id} is {phase}: only Proposed results (inside their challenge "
                                   "window) can be vetoed")
    info = reads.get_round(chain, round_id)
    execute(sender, calls.veto(chain, round_id, reason), o, role="guardian", action="veto")
    if not o["print_calldata"]:
        click.echo(f"round {round_id}: attempt {info.attempt} vetoed (its window would have ended "
                   f"{utc(reads.to_wall_time(chain, info.challenge_end))}); now Resolvable, attempt {info.attempt + 1}")


@guardian.command("pause")
@_options
def pause(**o: Any) -> None:
    """Pause the tournament: no deposits, stakes, proposals or settlement until the admin unpauses.

    Withdrawals, unstaking, refunds already due and vetoes keep working; the challenge window
    and timeouts stop while paused (protocol v2)."""
    from tournament.admin import calls
    sender = _sender(o)
    if sender.chain.paused():
        click.echo("the tournament is already paused: nothing to do")
        return
    execute(sender, calls.pause(sender.chain), o, role="guardian", action="pause")


# The watchtower lives in its own module (long-running, with its own options); it joins this group.
from tournament.cli.guardian_watch import watch  # noqa: E402

guardian.add_command(watch)
