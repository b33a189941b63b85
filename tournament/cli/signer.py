"""`tournament signer serve`: run one co-signer (one key per process) over HTTP.

The key comes from exactly one of: `--keystore PATH` with `--password-env VAR` or
`--password-file PATH`; `--key-env VAR` (a hex key, for tests and dev chains); or
`--sign-command "CMD"` (an external signer: digest hex on stdin, signature hex on stdout).
Failures to start exit 1 with one line. See docs/SIGNER.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click


@click.group("signer")
def signer() -> None:
    """Independent co-signer: recompute each round, sign only what it computed itself."""


@signer.command("serve")
@click.option("--rpc", required=True, envvar="TOURNAMENT_RPC", help="JSON-RPC URL of the chain (env TOURNAMENT_RPC).")
@click.option("--deployments", type=click.Path(file_okay=False, path_type=Path), envvar="TOURNAMENT_DEPLOYMENTS",
              help="Directory with <chainId>.json deployment files (env TOURNAMENT_DEPLOYMENTS).")
@click.option("--submissions-url", required=True,
              help="The submission service (files at /v1/rounds/<r>/models/<m>/submission?hash=).")
@click.option("--targets-source", required=True, help="The targets source: http(s) URL, published folder or file.")
@click.option("--live-ids-url", default=None,
              help="Where the round's live ids are published ({round} is replaced); "
                   "default: <submissions-url>/v1/rounds/{round}/live_ids.")
@click.option("--receipts-url", default=None,
              help="Where the round's upload receipts are listed ({round} is replaced); "
                   "default: <submissions-url>/v1/rounds/{round}/receipts.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", required=True, type=int, help="Port to listen on.")
@click.option("--confirmations", default=2, show_default=True, type=int,
              help="Read the chain this many blocks behind the head (reorg safety).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("signer-state"),
              show_default=True, help="What this signer signed (SQLite) and its decision log.")
@click.option("--keystore", type=click.Path(dir_okay=False, path_type=Path), help="Encrypted keystore of the signer key.")
@click.option("--password-env", help="Environment variable holding the keystore's password.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path), help="File holding the keystore's password.")
@click.option("--key-env", help="Environment variable holding a hex private key (tests, dev chains).")
@click.option("--sign-command", help='External signer, e.g. "kms-sign --key k1": digest hex in, signature hex out.')
@click.option("--signer-address", help="The address the key must have (required sense-check for --sign-command).")
@click.option("--threads", default=4, show_default=True, type=int, help="Waitress worker threads.")
def serve(rpc: str, deployments: Optional[Path], submissions_url: str, targets_source: str,
          live_ids_url: Optional[str], receipts_url: Optional[str], host: str, port: int, confirmations: int,
          state_dir: Path, keystore: Optional[Path], password_env: Optional[str], password_file: Optional[Path],
          key_env: Optional[str], sign_command: Optional[str], signer_address: Optional[str], threads: int) -> None:
    """Serve POST /v1/sign, GET /health and GET /metrics for one signer key."""
    from tournament.chain.client import ChainError, Deployment, connect
    from tournament.chain.keys import KeyLoadError, load_signer
    from tournament.chain.reader import ChainReader
    from tournament.protocol.signing import SigningError
    from tournament.signer.app import create_app
    from tournament.signer.app import serve as run
    from tournament.signer.chain import Web3RoundReader
    from tournament.signer.gather import Sources
    from tournament.signer.service import SignerService

    try:
        key = load_signer(keystore=keystore, password_env=password_env, password_file=password_file,
                          key_env=key_env, sign_command=sign_command, signer_address=signer_address)
        w3 = connect(rpc)
        deployment = Deployment.for_rpc(w3, deployments)
        chain = Web3RoundReader(w3, deployment, confirmations)
        domain = chain.domain()
        signer_set = ChainReader(w3, deployment, confirmations=confirmations).signer_set()
        signers, threshold, version = signer_set.signers, signer_set.threshold, signer_set.version
    except (KeyLoadError, ChainError, SigningError, OSError) as error:
        raise click.ClickException(str(error)) from None
    if int(key.address, 16) not in {int(a, 16) for a in signers}:
        click.echo(f"warning: {key.address} is not in the current signer set (version {version}); "
                   "requests will be refused until the admin adds it", err=True)
    sources = Sources(submissions=submissions_url, targets=targets_source, live_ids=live_ids_url,
                      receipts=receipts_url)
    service = SignerService(key, chain, sources, state_dir)
    click.echo(f"co-signer {key.address} for tournament {domain.verifying_contract} (chain {domain.chain_id}, "
               f"{threshold}-of-{len(signers)}, set version {version}) on http://{host}:{port}; "
               f"state and decision log in {state_dir}")
    run(create_app(service), host, port, threads)
