"""`tournament targets ...`: the targets source, separate from the operator.

`targets publish --round N FILE --dir DIR` puts a round's targets into the published folder
(write-once), `targets serve --dir DIR --port N` serves that folder over HTTP (waitress),
`targets fetch --round N --source URL_OR_DIR` reads them back the way signers do.
Failures exit 1 with one line.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group("targets")
def targets() -> None:
    """Publish and serve each round's targets (the 'market data' source signers read)."""


@targets.command("publish")
@click.option("--round", "round_id", required=True, type=int, help="Round id.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The published folder (<dir>/<round>/targets.csv).")
def publish(round_id: int, file: Path, directory: Path) -> None:
    """Publish FILE (id,target; CSV or Parquet) as the targets of a round; never replaces other bytes."""
    from eth_hash.auto import keccak

    from tournament.targets.store import TargetsError, TargetsStore

    raw = file.read_bytes()
    try:
        path, written = TargetsStore(directory).publish(round_id, raw)
    except (TargetsError, OSError) as error:
        raise click.ClickException(str(error)) from None
    state = "published" if written else "already published (same bytes)"
    click.echo(f"round {round_id}: targets {state} at {path} (keccak256 0x{keccak(raw).hex()})")


@targets.command("serve")
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The published folder.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8600, show_default=True, type=int, help="Port to listen on.")
@click.option("--threads", default=4, show_default=True, type=int, help="Waitress worker threads.")
def serve(directory: Path, host: str, port: int, threads: int) -> None:
    """Serve GET /v1/rounds/<round>/targets from the published folder (404 until published)."""
    import waitress

    from tournament.targets.app import create_app

    directory.mkdir(parents=True, exist_ok=True)
    click.echo(f"targets source on http://{host}:{port}/v1/rounds/<round>/targets from {directory}")
    waitress.serve(create_app(directory), host=host, port=port, threads=threads, ident="tournament-targets")


@targets.command("fetch")
@click.option("--round", "round_id", required=True, type=int, help="Round id.")
@click.option("--source", required=True, help="http(s) URL of a targets source, a published folder or a file.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the bytes here (default: standard output).")
def fetch(round_id: int, source: str, output: Path | None) -> None:
    """Read a round's published targets, exactly as signers and the watchtower do."""
    from tournament.targets.client import TargetsSourceError, fetch_targets

    try:
        raw = fetch_targets(source, round_id)
    except TargetsSourceError as error:
        raise click.ClickException(str(error)) from None
    if output is None:
        sys.stdout.buffer.write(raw)
    else:
        output.write_bytes(raw)
        click.echo(f"round {round_id}: {len(raw)} bytes of targets written to {output}")
