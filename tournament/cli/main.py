"""The one command line for every user: `tournament <group> <command>`.

Each group lives in its own module under `tournament/cli/` and is imported only when used,
so `tournament validate` does not pay for web3 or the web server. To add a group, add one
line to COMMANDS: name -> "module:attribute" (a click command or group).
Library code logs; only the commands print. Errors that escape a command become one line
and an exit code in tournament.cli.errors (`tournament -v ...` shows the traceback).
"""
from __future__ import annotations

import importlib
import logging
import os
from typing import Any

import click

COMMANDS: dict[str, str] = {
    # name: "module:attribute"
    "data": "tournament.cli.data:data",
    "validate": "tournament.cli.validate:validate",
    "score": "tournament.cli.score:score",
    "operator": "tournament.cli.operator:operator",
    "participant": "tournament.cli.participant:participant",
    "serve": "tournament.cli.serve:serve",
    "audit": "tournament.cli.audit:audit",
    "demo": "tournament.cli.demo:demo",
    "signer": "tournament.cli.signer:signer",
    "targets": "tournament.cli.targets:targets",
    "admin": "tournament.cli.admin:admin",
    "guardian": "tournament.cli.guardian:guardian",
    "keeper": "tournament.cli.keeper:keeper",
    "dev": "tournament.cli.dev:dev",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module_name, attribute = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        """Runs the command; any error it lets escape becomes one line and an exit code
        (tournament.cli.errors, the one place that decides them); `-v` shows the traceback."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BaseException as exc:  # noqa: BLE001 - errors.report re-raises what it does not own
            if isinstance(exc, SystemExit):
                raise
            from tournament.cli.errors import report
            report(exc, verbose=bool(ctx.params.get("verbose")))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Numeraire staking tournament: participants, operator and auditors."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=int(os.environ.get("TOURNAMENT_LOG_LEVEL", level)),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":  # pragma: no cover
    main()
