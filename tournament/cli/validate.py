"""`tournament validate`: check one predictions file against the live ids."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("validate")
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--live-ids", "live_ids_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV or Parquet table with the round's live ids in an id column.")
def validate(predictions: Path, live_ids_path: Path) -> None:
    """Exit 0 when PREDICTIONS is valid, 1 with the reason on stderr when not."""
    from tournament.data.synthetic import read_live_ids
    from tournament.protocol.submissions import validate_file

    try:
        live_ids = read_live_ids(live_ids_path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read live ids: {exc}") from None
    result = validate_file(predictions, live_ids)
    if not result.valid:
        click.echo(result.message, err=True)
        sys.exit(1)
    click.echo(f"{result.name}: valid, {len(live_ids):,} predictions; "
               f"submission hash 0x{result.submission_hash.hex()}")
