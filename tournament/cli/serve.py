"""`tournament serve`: the operator's web services, each one process.

`serve submissions` runs the submission API (tournament.operator.submission_service.app) that receives signed
prediction uploads and hands the files to the operator's `collect` step after close, on waitress
(read timeouts, a connection cap, a body cap, and a trusted-proxy setting for client addresses).
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
@click.option("--max-uploads-per-model", default=10, show_default=True, type=click.IntRange(min=1),
              help="Files kept per (round, model); older ones are dropped (never the latest or the committed one).")
@click.option("--trusted-proxy", default=None, metavar="IP",
              help="The reverse proxy in front of the API: X-Forwarded-For is honoured from this peer only, "
                   "so limits apply per real client address.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(min=1), help="Request handler threads.")
@click.option("--connection-limit", default=4000, show_default=True, type=click.IntRange(min=1),
              help="Open connections at once (slow clients hold a socket, not a thread).")
@click.option("--channel-timeout", default=30, show_default=True, type=click.IntRange(min=1),
              help="Seconds a connection may stay silent while sending headers or body before it is closed.")
@click.option("--receipt-keystore", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Keystore of the RECEIPT_ROLE key that signs an UploadReceipt for every accepted upload "
                   "(password from --receipt-password-env or a prompt).")
@click.option("--receipt-password-env", default=None, metavar="VAR",
              help="Environment variable holding the receipt keystore's password.")
@click.option("--receipt-key-env", default=None, metavar="VAR",
              help="Or: an environment variable holding the receipt key (tests, local chains).")
def submissions(host: str, port: int, data_dir: Path, rpc: str, deployments: Optional[Path], rounds_dir: Path,
                max_upload_mb: float, rate_per_minute: float, rate_burst: int, max_uploads_per_model: int,
                trusted_proxy: Optional[str], threads: int, connection_limit: int, channel_timeout: int,
                receipt_keystore: Optional[Path], receipt_password_env: Optional[str],
                receipt_key_env: Optional[str]) -> None:
    """Receive signed prediction uploads; serve them to `collect` after each round closes.

    With a receipt key (RECEIPT_ROLE) every accepted upload is answered with a signed UploadReceipt
    (protocol v2), which lets its owner prove a withheld file; without one the service warns."""
    from tournament.chain.contracts import Deployment
    from tournament.chain.errors import ChainError
    from tournament.chain.keys import KeyLoadError, load_account
    from tournament.chain.reader import ChainReader
    from tournament.chain.rpc import connect
    from tournament.operator.submission_service.app import ApiSettings, ServerSettings, create_app
    from tournament.operator.submission_service.app import serve as run

    receipt_key = None
    try:
        if receipt_keystore is not None or receipt_key_env is not None:
            receipt_key = load_account(keystore=receipt_keystore, password_env=receipt_password_env,
                                       key_env=receipt_key_env, prompt=lambda text: click.prompt(text, hide_input=True))
        w3 = connect(rpc)
        deployment = Deployment.for_rpc(w3, deployments)
        if receipt_key is not None and not ChainReader(w3, deployment).has_role("RECEIPT_ROLE", receipt_key.address):
            raise click.ClickException(f"{receipt_key.address} does not hold RECEIPT_ROLE: its receipts would not "
                                       "count; ask the admin (`tournament admin grant-role receipt ADDRESS`)")
    except (ChainError, KeyLoadError) as exc:
        raise click.ClickException(str(exc)) from None
    if receipt_key is None:
        click.echo("warning: no receipt key (--receipt-keystore or --receipt-key-env): uploads get no signed "
                   "receipt, so participants cannot prove a withheld file", err=True)
    max_upload_bytes = int(max_upload_mb * 1024 * 1024)
    try:
        app = create_app(ApiSettings(w3, deployment, data_dir, rounds_dir, max_upload_bytes=max_upload_bytes,
                                     rate_per_minute=rate_per_minute, rate_burst=rate_burst,
                                     max_uploads_per_model=max_uploads_per_model, receipt_key=receipt_key))
    except ChainError as exc:
        raise click.ClickException(str(exc)) from None
    server = ServerSettings(threads=threads, connection_limit=connection_limit, channel_timeout_s=channel_timeout,
                            max_request_body_bytes=max_upload_bytes + 1, trusted_proxy=trusted_proxy)
    click.echo(f"submission API for tournament {deployment.tournament} (chain {deployment.chain_id}) "
               f"on http://{host}:{port} (waitress, {threads} threads, {connection_limit} connections); "
               f"files in {data_dir}; live ids from {rounds_dir}"
               + (f"; client addresses from X-Forwarded-For of {trusted_proxy}" if trusted_proxy else ""))
    run(app, host, port, server)


# ---- `serve explorer` (read-only explorer pages) lives in tournament/cli/explorer_cmd.py.
from tournament.cli.explorer_cmd import explorer  # noqa: E402  (click only; the app loads on use)

serve.add_command(explorer)
