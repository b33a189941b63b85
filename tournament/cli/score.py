"""`tournament score`: CORR and MMC of many prediction files against the round's targets."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from tournament.protocol.submissions import ValidationResult


@click.command("score")
@click.option("--predictions", "prediction_paths", required=True, multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="A predictions file; repeat the option, or pass a shell glob after it.")
@click.argument("more_predictions", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--targets", "targets_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Targets table id,target (CSV or Parquet).")
@click.option("--stakes", "stakes_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Stakes table model,stake in NMR (equal weights without it).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Scores CSV to write.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars (default: on for more than 200 files).")
def score(prediction_paths: tuple[Path, ...], more_predictions: tuple[Path, ...],
          targets_path: Path, stakes_path: Path | None, out_path: Path,
          progress: bool | None) -> None:
    """Validate and score every file; one row per model (the file's stem) in --out."""
    from tournament.data.synthetic import read_targets
    from tournament.protocol.submissions import score_submissions

    paths = list(prediction_paths) + list(more_predictions)
    models = [p.stem for p in paths]
    if len(set(models)) != len(models):
        dup = next(m for i, m in enumerate(models) if m in models[:i])  # the first repeated name
        raise click.UsageError(f"two prediction files are both named {dup!r}; a model's name "
                               "is its file's stem, so stems must be unique")
    try:
        targets = read_targets(targets_path)
        stakes = load_stakes(stakes_path) if stakes_path else None
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    show = progress if progress is not None else len(paths) > 200
    try:
        raws = {model: _read(path) for model, path in zip(models, paths)}
        table = score_submissions(raws, targets, stakes, progress=show,
                                  file_names={m: p.name for m, p in zip(models, paths)})
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_path, index=False)
    valid = int((table.status == "SCORED").sum())
    click.echo(f"scored {valid} of {len(table)} models ({len(table) - valid} invalid) -> {out_path}")


def _read(path: Path) -> bytes | ValidationResult:
    """Raw bytes, or the invalid result for a missing or oversized file (not read whole)."""
    from tournament.protocol.submissions import MAX_SUBMISSION_BYTES, validate_file

    try:
        if path.stat().st_size <= MAX_SUBMISSION_BYTES:
            return path.read_bytes()
    except OSError:
        pass
    return validate_file(path, [])


def load_stakes(path: Path) -> dict[str, float]:
    """Stakes table `model,stake` (NMR) -> {model: stake}; weights only need proportions."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(path, dtype={"model": str})
    if list(frame.columns[:2]) != ["model", "stake"]:
        raise ValueError(f"{path.name}: columns are {list(frame.columns)}; stakes are model,stake")
    stake = pd.to_numeric(frame["stake"], errors="coerce")
    bad = frame[~np.isfinite(stake) | (stake < 0)]
    if len(bad):
        raise ValueError(f"{path.name}: stake of {bad.iloc[0]['model']!r} is "
                         f"{bad.iloc[0]['stake']!r}; stakes must be non-negative numbers")
    if frame["model"].duplicated().any():
        raise ValueError(f"{path.name}: model {frame['model'][frame['model'].duplicated()].iloc[0]!r} "
                         "is listed twice")
    return dict(zip(frame["model"], stake.astype(float)))
