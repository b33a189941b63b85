"""`tournament demo`: the whole tournament on a local chain (what `make demo` runs)."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True,
              help="Folder for the chain state, artifacts and summary (its demo files are replaced).")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--rounds", type=click.IntRange(2, 20), default=4, show_default=True)
@click.option("--participants", type=click.IntRange(4, 200), default=24, show_default=True)
@click.option("--models-per-participant", type=click.IntRange(1, 10), default=3, show_default=True)
@click.option("--ids", "ids_per_era", type=click.IntRange(100, 20_000), default=2_000, show_default=True,
              help="Live ids per round.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(out_dir: Path, seed: int, rounds: int, participants: int, models_per_participant: int,
         ids_per_era: int, quiet: bool) -> None:
    """Run a multi-round tournament with synthetic participants on a local anvil, audited."""
    from tournament.demo.run import DemoFailed, DemoSettings, run_demo

    settings = DemoSettings(out_dir=out_dir, seed=seed, rounds=rounds, participants=participants,
                            models_per_participant=models_per_participant, ids_per_era=ids_per_era,
                            progress=not quiet)
    try:
        run_demo(settings, echo=click.echo)
    except DemoFailed as exc:
        click.echo(f"demo FAILED: {exc}", err=True)
        sys.exit(1)
