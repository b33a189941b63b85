"""`tournament serve explorer`: the read-only block-explorer pages of the tournament.

A click command that tournament/cli/serve.py adds to the `serve` group; the Flask app
(tournament.auditor.explorer.app) is imported only when the command runs.
"""
from __future__ import annotations

import click


@click.command("explorer")
@click.option("--rpc", "rpc_url", default="http://127.0.0.1:8545", show_default=True, envvar="TOURNAMENT_RPC",
              help="JSON-RPC URL of the chain (the local anvil or any RPC).")
@click.option("--artifacts", "artifacts", default=None,
              help="Published artifacts: an operator work folder (rounds/<id>/artifacts), a folder of "
                   "<roundId>/ folders, or an http(s) base URL. Without it rounds show no audit of scores.")
@click.option("--deployments", "deployments_dir", default=None, envvar="TOURNAMENT_DEPLOYMENTS",
              help="Folder with <chainId>.json deployment files (default: ./deployments).")
@click.option("--api", "submissions_url", default=None, envvar="TOURNAMENT_API",
              help="Submission API base URL, for uploads from the staking page (/stake).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8600, show_default=True, type=int)
def explorer(rpc_url: str, artifacts: str | None, deployments_dir: str | None, submissions_url: str | None,
             host: str, port: int) -> None:
    """Serve the explorer (rounds, stakes, models, transactions, addresses, audit verdicts) and the
    staking page (/stake) on a production WSGI server (waitress)."""
    import waitress

    from tournament.auditor.explorer.app import create_app
    from tournament.chain.errors import ChainError

    try:
        app = create_app(rpc_url, artifacts, deployments_dir, submissions_url=submissions_url)
    except ChainError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"explorer on http://{host}:{port}/ and staking on http://{host}:{port}/stake/ "
               f"(chain {rpc_url}); Ctrl-C stops it")
    waitress.serve(app, host=host, port=port, threads=8, channel_timeout=30, ident="tournament-explorer")


if __name__ == "__main__":  # pragma: no cover
    explorer()
