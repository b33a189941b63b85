"""`tournament data`: generate the synthetic dataset and run the example model.

`data generate --out DIR` writes the participant's data folder (train, validation, live
features, live ids); it never writes the live targets there. The operator of a local
tournament gets them with `--targets-out OPERATOR_DIR` (another folder), as live_targets.parquet
and targets.csv (`id,target`, what `tournament operator score --targets` reads).
"""
from __future__ import annotations

from pathlib import Path

import click


@click.group("data")
def data() -> None:
    """Synthetic tournament data and the example model."""


@data.command("generate")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the Parquet files into.")
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same data).")
@click.option("--eras", default=120, show_default=True, help="Number of eras (last one is live).")
@click.option("--ids", default=1000, show_default=True, help="Ids per era.")
@click.option("--features", default=40, show_default=True, help="Number of features.")
@click.option("--targets-out", "targets_dir", type=click.Path(file_okay=False, path_type=Path),
              help="OPERATOR ONLY: a separate folder for the live targets (never the participant's --out).")
def generate(out_dir: Path, seed: int, eras: int, ids: int, features: int, targets_dir: Path | None) -> None:
    """Write train, validation, live (Parquet) and live_ids.csv; live targets only with --targets-out."""
    from tournament.data import synthetic as dataset

    try:
        ds = dataset.generate(seed=seed, n_eras=eras, n_ids=ids, n_features=features)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if targets_dir is not None and targets_dir.resolve() == out_dir.resolve():
        raise click.UsageError("--targets-out must be another folder than --out: "
                               "the participant's data folder never holds targets")
    paths = dataset.write_dataset(ds, out_dir, targets_dir)
    click.echo(f"train {len(ds.train):,} rows, validation {len(ds.validation):,} rows, "
               f"live {len(ds.live):,} ids, {len(ds.feature_names)} features")
    for key, path in paths.items():
        click.echo(f"  {key:16s} {path}")
    if targets_dir is None:
        click.echo("live targets not written (give --targets-out OPERATOR_DIR to keep them for the operator)")


@data.command("example-model")
@click.option("--data", "data_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory written by `tournament data generate`.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Predictions file to write (.csv or .parquet).")
@click.option("--alpha", default=1e3, show_default=True, help="Ridge penalty.")
def example_model(data_dir: Path, out_path: Path, alpha: float) -> None:
    """Fit ridge on train, report validation CORR, write live predictions."""
    from tournament.data import example_model as em
    from tournament.data import synthetic as dataset

    try:
        train = dataset.read_split(data_dir, "train")
        validation = dataset.read_split(data_dir, "validation")
        live = dataset.read_split(data_dir, "live")
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{data_dir}: cannot read the dataset ({exc}); "
                                   "run `tournament data generate` first") from None
    model = em.fit_ridge(train, dataset.feature_names(train), alpha=alpha)
    report = em.validation_report(model, validation)
    click.echo(f"validation over {int(report['eras'])} eras: corr mean {report['corr_mean']:+.4f} "
               f"std {report['corr_std']:.4f} sharpe {report['corr_sharpe']:+.2f}; "
               f"feature-neutral corr {report['fnc_mean']:+.4f}; "
               f"max feature exposure {report['max_feature_exposure']:.3f}")
    em.write_predictions(em.live_predictions(model, live), out_path)
    click.echo(f"wrote {len(live):,} live predictions to {out_path}")
