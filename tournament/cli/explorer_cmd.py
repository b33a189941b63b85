"""`tournament serve explorer`: the auditor's explorer pages and the staking page, one site.

A click command that tournament/cli/serve.py adds to the `serve` group; the Flask app
(tournament.auditor.explorer.app) is imported only when the command runs. Every mistake (an
RPC that does not answer or is not a URL, no deployment for that chain, no contracts at the
deployment's addresses, a port in use) ends in one line saying what to do.
"""
from __future__ import annotations

import socket

import click


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1" if host in ("0.0.0.0", "") else host, port)) == 0


@click.command("explorer")
@click.option("--rpc", "rpc_url", default="http://127.0.0.1:8545", show_default=True, envvar="TOURNAMENT_RPC",
              help="JSON-RPC URL of the chain (the local anvil or any RPC).")
@click.option("--artifacts", "artifacts", default=None,
              help="Published artifacts: an operator work folder (rounds/<id>/artifacts), a folder of "
                   "<roundId>/ folders, or an http(s) base URL. Without it rounds show no audit of scores.")
@click.option("--deployments", "deployments_dir", default=None, envvar="TOURNAMENT_DEPLOYMENTS",
              help="Folder with <chainId>.json deployment files (default: ./deployments); verification "
                   "files in <chainId>/ are listed on the contract page.")
@click.option("--api", "submissions_url", default=None, envvar="TOURNAMENT_API",
              help="Submission API base URL, for uploads from the staking page (/stake).")
@click.option("--data", "data_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Data folder (`tournament data generate`) for the staking page's validation diagnostics.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8600, show_default=True, type=click.IntRange(1, 65535))
@click.option("--cache", default=None, metavar="DIR|off",
              help="Local event cache (SQLite) shared with the participant client. Default: "
                   "$TOURNAMENT_EVENT_CACHE, else ~/.cache/tournament/; 'off' disables it.")
def explorer(rpc_url: str, artifacts: str | None, deployments_dir: str | None, submissions_url: str | None,
             data_dir: str | None, host: str, port: int, cache: str | None) -> None:
    """Serve the explorer (rounds, audits, contract, transactions, addresses, search) and the
    staking page (/stake) on a production WSGI server (waitress)."""
    import waitress

    from tournament.auditor.explorer.app import create_app
    from tournament.chain.errors import ChainError

    if _port_taken(host, port):
        raise click.ClickException(f"port {port} on {host} is already in use: stop what runs there or pass --port")
    try:
        from tournament.chain.event_cache import cache_from_option
        app = create_app(rpc_url, artifacts, deployments_dir, submissions_url=submissions_url,
                         event_cache=cache_from_option(cache), data_dir=data_dir)
    except (ChainError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"explorer on http://{host}:{port}/ and staking on http://{host}:{port}/stake/ "
               f"(chain {rpc_url}); Ctrl-C stops it")
    try:
        waitress.serve(app, host=host, port=port, threads=8, channel_timeout=30, ident="tournament-explorer")
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


if __name__ == "__main__":  # pragma: no cover
    explorer()
