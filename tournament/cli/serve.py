"""`tournament serve`: the operator's web services, each one process.

`serve submissions` runs the submission API (tournament.operator.submission_service.app) that receives signed
prediction uploads and hands the files to the operator's `collect` step after close.
The read-only explorer (`serve explorer`) joins this group in its own function below.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click


@click.group("serve")
def serve() -> None:
    """Run the operator's web services."""


@serve.command("submissions")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the uploaded files (content-addressed) and the SQLite index.")
@click.option("--rpc", default="http://127.0.0.1:8545", show_default=True, envvar="TOURNAMENT_RPC",
              help="JSON-RPC URL of the chain (env TOURNAMENT_RPC).")
@click.option("--deployments", type=click.Path(file_okay=False, path_type=Path), envvar="TOURNAMENT_DEPLOYMENTS",
              help="Directory with <chainId>.json deployment files (env TOURNAMENT_DEPLOYMENTS).")
@click.option("--rounds-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("tournament-data"),
              show_default=True, help="The operator's work directory, where rounds/<id>/live_ids.csv is published.")
@click.option("--max-upload-mb", default=20.0, show_default=True, type=float, help="Largest upload accepted.")
@click.option("--rate-per-minute", default=30.0, show_default=True, type=float,
              help="Uploads per minute per signing address (sustained).")
@click.option("--rate-burst", default=10, show_default=True, type=int, help="Uploads per address at once.")
def submissions(host: str, port: int, data_dir: Path, rpc: str, deployments: Optional[Path], rounds_dir: Path,
                max_upload_mb: float, rate_per_minute: float, rate_burst: int) -> None:
    """Receive signed prediction uploads; serve them to `collect` after each round closes."""
    from tournament.chain.contracts import Deployment
    from tournament.chain.errors import ChainError
    from tournament.chain.rpc import connect
    from tournament.operator.submission_service.app import ApiSettings, create_app
    from tournament.operator.submission_service.app import serve as run

    try:
        w3 = connect(rpc)
        deployment = Deployment.for_rpc(w3, deployments)
    except ChainError as exc:
        raise click.ClickException(str(exc)) from None
    app = create_app(ApiSettings(w3, deployment, data_dir, rounds_dir,
                                 max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                                 rate_per_minute=rate_per_minute, rate_burst=rate_burst))
    click.echo(f"submission API for tournament {deployment.tournament} (chain {deployment.chain_id}) "
               f"on http://{host}:{port}; files in {data_dir}; live ids from {rounds_dir}")
    run(app, host, port)


# ---- `serve explorer` (read-only explorer pages) lives in tournament/cli/explorer_cmd.py.
from tournament.cli.explorer_cmd import explorer  # noqa: E402  (click only; the app loads on use)

serve.add_command(explorer)
