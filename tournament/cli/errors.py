"""The one way the command line turns an error into a message and an exit code.

Every group runs inside `tournament.cli.main`, whose group calls `report` for any exception a
command lets escape. A user's mistake, an unreachable or wrong chain, a contract that refuses
a call: one line on stderr, `Error: <what was wrong and what to do>`, and exit 1. Usage errors
(a bad option or argument) stay click's, exit 2. `tournament -v ...` re-raises instead, so the
traceback shows. An exception nobody expected is still one line, which names its type and
asks for `-v`: a traceback is for developers, not for the person at the terminal.

Commands that know which contract they talk to call `remember_contract`, so a call to an
address without code (web3's BadFunctionCallOutput) can name the address and the chain.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Optional

import click

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "EXIT_INTERRUPTED", "describe", "remember_contract", "report"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
MAX_MESSAGE_CHARS = 600


@dataclass
class _Contract:
    address: str
    chain_id: Optional[int]


_last_contract: Optional[_Contract] = None


def remember_contract(address: str, chain_id: Optional[int]) -> None:
    """Record the tournament the command is talking to (for the BadFunctionCallOutput message)."""
    global _last_contract
    _last_contract = _Contract(address, chain_id)


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    if len(line) > MAX_MESSAGE_CHARS:
        line = line[:MAX_MESSAGE_CHARS - 3] + "..."
    return line


def _os_error(exc: OSError) -> str:
    name = exc.filename
    reason = exc.strerror or str(exc)
    if name is None:
        return str(exc) if str(exc) else reason
    hints: dict[Optional[int], str] = {errno.ENOENT: "check the path", errno.EACCES: "check its permissions",
            errno.EISDIR: "a file was expected", errno.ENOTDIR: "a folder was expected"}
    hint = hints.get(exc.errno, "")
    return f"{os.fspath(name)}: {reason.lower() if reason else 'cannot be used'}" + (f"; {hint}" if hint else "")


def describe(exc: BaseException) -> Optional[str]:
    """The one-line message for a known error type, or None for an unexpected one."""
    import requests

    try:
        from web3.exceptions import BadFunctionCallOutput, Web3Exception
    except ImportError:  # pragma: no cover - web3 is a dependency, but keep errors importable without it
        BadFunctionCallOutput = Web3Exception = ()  # type: ignore[assignment, misc]

    if isinstance(exc, BadFunctionCallOutput):
        from tournament.admin.connection import no_tournament_message
        known = _last_contract
        return no_tournament_message(known.address if known else None, known.chain_id if known else None)
    if isinstance(exc, requests.exceptions.MissingSchema) or isinstance(exc, requests.exceptions.InvalidSchema):
        return f"{exc}; an RPC URL starts with http:// or https://, e.g. --rpc http://127.0.0.1:8545"
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        url = getattr(getattr(exc, "request", None), "url", None)
        where = f" {url}" if url else ""
        return (f"cannot reach the RPC{where} ({type(exc).__name__}); is the node running and is --rpc "
                "(or TOURNAMENT_RPC) right?")
    if isinstance(exc, requests.RequestException):
        return f"HTTP request failed: {exc}"
    # ChainError (TransactionReverted, NonceUsed), KeyLoadError, ResultsError, ArtifactsError,
    # SigningError and the other library errors all subclass RuntimeError or ValueError and
    # carry a message written for the user.
    if isinstance(exc, OSError):
        return _os_error(exc)
    if isinstance(exc, Web3Exception):
        return f"the node or web3 refused: {exc}"
    if isinstance(exc, (ValueError, RuntimeError, LookupError, TypeError)) and not isinstance(
            exc, (NotImplementedError, RecursionError)):
        if type(exc) in (KeyError, IndexError, TypeError):  # bare lookups and type slips are bugs
            return None
        return str(exc) or type(exc).__name__
    return None


def report(exc: BaseException, verbose: bool) -> None:
    """Print `exc` as one line and exit; re-raise with `verbose` (traceback) or for click's own exits."""
    if isinstance(exc, (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit)):
        raise exc
    if verbose:
        raise exc
    if isinstance(exc, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    message = describe(exc)
    if message is None:
        message = (f"unexpected {type(exc).__name__}: {exc} (rerun with `tournament -v ...` for the traceback "
                   "and report it)")
    click.echo(f"Error: {_one_line(message)}", err=True)
    raise SystemExit(EXIT_ERROR)
