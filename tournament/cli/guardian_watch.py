"""`tournament guardian watch`: the watchtower process (one process, one guardian key).

A standalone click command: the `guardian` group adds it with
`guardian.add_command(watch)` (from tournament.cli.guardian_watch import watch). Key: a
keystore (`--keystore`, password from env GUARDIAN_KEYSTORE_PASSWORD or a hidden prompt), or
env GUARDIAN_KEY (hex; another variable with `--key-env`), or `--anvil-keys` on a local chain (anvil account 2). Events are JSON
lines on stdout; a bad option or key is one `Error: ...` line and exit 1.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DEFAULT_RPC = "http://127.0.0.1:8545"
ANVIL_GUARDIAN_INDEX = 2


def _guardian_account(keystore: Optional[str], key_env: str, anvil_keys: bool) -> LocalAccount:
    from tournament.chain.keys import KeyLoadError, anvil_test_accounts, key_from_env, load_keystore

    if anvil_keys:
        return anvil_test_accounts(10)[ANVIL_GUARDIAN_INDEX]
    if keystore:
        return load_keystore(keystore, password_env="GUARDIAN_KEYSTORE_PASSWORD"
                             if os.environ.get("GUARDIAN_KEYSTORE_PASSWORD") else None,
                             prompt=lambda q: click.prompt(q, hide_input=True))
    if os.environ.get(key_env):
        return key_from_env(key_env)
    raise KeyLoadError("no guardian key: pass --keystore PATH (password in env GUARDIAN_KEYSTORE_PASSWORD or asked) "
                       f"or set env {key_env}")


def _log_json_lines(verbose: bool) -> None:
    """The watchtower's events are JSON lines on stdout; other library logs stay on stderr."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tournament.guardian.watch")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.command("watch")
@click.option("--rpc", default=lambda: os.environ.get("TOURNAMENT_RPC", DEFAULT_RPC), show_default=DEFAULT_RPC,
              help="JSON-RPC URL of the chain (env TOURNAMENT_RPC).")
@click.option("--deployments", default=None, type=click.Path(file_okay=False),
              help="Folder with <chainId>.json (default: ./deployments, env TOURNAMENT_DEPLOYMENTS).")
@click.option("--keystore", default=None, type=click.Path(dir_okay=False, exists=True),
              help="Guardian keystore (password: env GUARDIAN_KEYSTORE_PASSWORD or prompt); default env GUARDIAN_KEY.")
@click.option("--key-env", default="GUARDIAN_KEY", show_default=True,
              help="Environment variable holding the guardian's hex key (when no --keystore).")
@click.option("--anvil-keys", is_flag=True, help="Local chain only: anvil's public test key 2 as the guardian.")
@click.option("--artifacts", required=True,
              help="Where rounds' artifacts are published: a folder or URL holding rounds/<id>/artifacts or <id>/ "
                   "(or containing {round}).")
@click.option("--targets-source", default=None,
              help="Targets source (URL or folder); the artifacts' targets must be its bytes. Unchecked if omitted.")
@click.option("--receipts", "receipts_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Receipts folder: participants' receipts (*.json), and where POST /v1/receipts stores them "
                   "(default: STATE/receipts).")
@click.option("--state", "state_dir", default="watchtower-state", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Progress (scan cursor, decisions): an optimisation, the chain stays the truth.")
@click.option("--listen", default=None, help="HOST:PORT for /health, /metrics and POST /v1/receipts.")
@click.option("--notify", multiple=True, help="Apprise URL for alerts (repeatable), e.g. json://host:port/hook.")
@click.option("--confirmations", default=0, show_default=True, type=click.IntRange(0),
              help="Read proposals this many blocks behind the head; also waited after the veto.")
@click.option("--warn-before", default=3600, show_default=True, type=click.IntRange(0),
              help="Warn when a window has fewer seconds left than this and its audit has not finished.")
@click.option("--interval", default=30.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds between passes.")
@click.option("--once", is_flag=True, help="One pass, then exit (cron, tests).")
@click.option("-v", "--verbose", is_flag=True, help="Library logs at INFO too.")
def watch(rpc: str, deployments: Optional[str], keystore: Optional[str], key_env: str, anvil_keys: bool, artifacts: str,
          targets_source: Optional[str], receipts_dir: Optional[Path], state_dir: Path, listen: Optional[str],
          notify: tuple, confirmations: int, warn_before: int, interval: float, once: bool, verbose: bool) -> None:
    """Audit every results proposal inside its challenge window; veto the wrong ones; alert."""
    from tournament.chain.client import ChainError, connect, load_contracts
    from tournament.chain.keys import KeyLoadError
    from tournament.guardian.watch import AlertSink, WatchError, WatchSettings, Watchtower, serve_http

    _log_json_lines(verbose)
    try:
        account = _guardian_account(keystore, key_env, anvil_keys)
        w3 = connect(rpc)
        deployment, _, _ = load_contracts(w3, Path(deployments) if deployments else None)
        settings = WatchSettings(artifacts=artifacts, targets_source=targets_source, receipts_dir=receipts_dir,
                                 state_dir=state_dir, confirmations=confirmations, warn_before_s=warn_before,
                                 interval_s=interval)
        tower = Watchtower(w3, deployment, account, settings, alerts=AlertSink(notify))
        tower.check_key()
        server = serve_http(tower, listen) if listen else None
    except (ChainError, KeyLoadError, WatchError, OSError) as error:
        raise click.ClickException(str(error)) from None
    if server is not None:
        click.echo(f"watchtower listening on http://{server.host}:{server.port} (/health, /metrics, POST /v1/receipts)",
                   err=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        tower.run(stop, once=once)
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":  # pragma: no cover  (until the guardian group adds it: python -m ...)
    watch()
