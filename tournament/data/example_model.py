"""The example model: ridge regression on the synthetic features, numpy only.

It shows participants the whole loop - fit on train, check per-era CORR on validation with
the tournament's own scoring, predict the live era and write `id,prediction` with values in
(0, 1) (tie-kept ranks, so the file always passes validation). Pure functions plus one
writer at the edge.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tournament.protocol import scoring

log = logging.getLogger(__name__)

DEFAULT_RIDGE_ALPHA = 1e3


@dataclass(frozen=True)
class RidgeModel:
    features: list[str]
    weights: np.ndarray
    intercept: float

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.features].to_numpy(np.float64) @ self.weights + self.intercept


def fit_ridge(frame: pd.DataFrame, features: list[str], alpha: float = DEFAULT_RIDGE_ALPHA,
              ) -> RidgeModel:
    """Closed-form ridge on centred features and target: (X'X + alpha I) w = X'y."""
    x = frame[features].to_numpy(np.float64)
    y = frame["target"].to_numpy(np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean()
    xc = x - x_mean
    gram = xc.T @ xc + alpha * np.eye(len(features))
    w = np.linalg.solve(gram, xc.T @ (y - y_mean))
    return RidgeModel(list(features), w, float(y_mean - x_mean @ w))


def validation_report(model: RidgeModel, frame: pd.DataFrame) -> dict[str, float]:
    """Per-era CORR mean/std/sharpe, feature-neutral CORR and max feature exposure."""
    preds = model.predict(frame)
    _, era_corrs = scoring.per_era_corr(preds, frame["target"].to_numpy(np.float64),
                                        frame["era"].to_numpy())
    stats = scoring.era_stats(era_corrs)
    feats = frame[model.features].to_numpy(np.float64)
    fnc = []
    exposure = []
    for _, rows in frame.groupby("era").indices.items():
        fnc.append(scoring.feature_neutral_corr(preds[rows], feats[rows],
                                                frame["target"].to_numpy(np.float64)[rows])[0])
        exposure.append(scoring.max_feature_exposure(preds[rows], feats[rows])[0])
    return {"eras": float(era_corrs.shape[0]), "corr_mean": float(stats["mean"][0]),
            "corr_std": float(stats["std"][0]), "corr_sharpe": float(stats["sharpe"][0]),
            "fnc_mean": float(np.mean(fnc)), "max_feature_exposure": float(np.mean(exposure))}


def live_predictions(model: RidgeModel, live: pd.DataFrame) -> pd.DataFrame:
    """Predictions for the live era as tie-kept ranks in (0, 1), one row per live id."""
    ranked = scoring.rank_tie_kept(model.predict(live))
    return pd.DataFrame({"id": live.index.astype(str), "prediction": ranked})


def write_predictions(predictions: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        predictions.to_parquet(path, index=False)
    else:
        predictions.to_csv(path, index=False)  # shortest round-trip repr of each float
    return path
