"""Validation diagnostics of a predictions FILE against a data folder: the reading, joining and
charting around tournament.participant.diagnostics, shared by `tournament participant diagnostics`
and the staking page's POST /stake/api/diagnostics so both compute the same numbers and say the
same words. Every mistake is a DiagnosticsError whose message is one line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from tournament.participant import charts
from tournament.participant.diagnostics import Diagnostics, DiagnosticsError, align, diagnose

__all__ = ["diagnose_file", "read_data", "read_table"]


def read_table(path: Path, what: str, label: Optional[str] = None) -> Any:
    """An id-indexed table; `label` names the file in messages (default: the path)."""
    from tournament.data.synthetic import read_id_table
    try:
        return read_id_table(path)
    except (OSError, ValueError) as exc:
        raise DiagnosticsError(f"{label or path}: cannot read the {what} ({exc})") from None


def read_data(data_dir: Path, split: str) -> tuple[Any, list[str]]:
    """One split of a `tournament data generate` folder and its feature names."""
    from tournament.data import synthetic as dataset
    try:
        frame = dataset.read_split(data_dir, split)
    except (OSError, ValueError) as exc:
        raise DiagnosticsError(f"{data_dir}: cannot read {dataset.FILES[split]} ({type(exc).__name__}); "
                               "give the folder written by `tournament data generate`") from None
    frame.index = frame.index.astype(str)
    return frame, dataset.feature_names(frame)


def prediction_column(frame: Any, label: str) -> Any:
    for name in ("prediction", "meta_model"):
        if name in frame.columns:
            return frame[name]
    raise DiagnosticsError(f"{label}: no prediction (or meta_model) column")


def diagnose_file(path: Path, data_dir: Path, *, label: Optional[str] = None,
                  meta_model: Optional[Path] = None) -> tuple[Diagnostics, str]:
    """(report, SVG chart) of the validation predictions in `path`; MMC against the example model
    fitted on the folder's train split, or against the id,prediction file `meta_model`."""
    from tournament.data import example_model as em

    name = label or str(path)
    predictions = read_table(path, "predictions", name)
    validation, features = read_data(data_dir, "validation")
    train, _ = read_data(data_dir, "train")
    joined = align(predictions, validation, features, name=Path(name).name)
    example = em.fit_ridge(train, features).predict(joined)
    meta, meta_name = None, "example model"
    if meta_model is not None:
        meta_frame = read_table(meta_model, "meta model")
        column = prediction_column(meta_frame, str(meta_model))
        missing = joined.index.difference(meta_frame.index)
        if len(missing):
            raise DiagnosticsError(f"{meta_model.name}: {len(missing)} of your ids have no meta-model value "
                                   f"(e.g. {missing[0]})")
        meta, meta_name = column.loc[joined.index].astype(float).to_numpy(), meta_model.name
    report = diagnose(joined, features, example, meta, meta_model_name=meta_name)
    rows = report.per_era
    svg = charts.era_chart(
        [r.era for r in rows], {"cumulative CORR": [r.cumulative_corr for r in rows],
                                "cumulative MMC": list(np.cumsum([r.mmc for r in rows]))},
        ("CORR per era", [r.corr for r in rows]), title=f"{Path(name).name}: validation diagnostics")
    return report, svg
