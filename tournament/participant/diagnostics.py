"""Diagnostics of a participant's own validation predictions, as Numerai shows them.

Given predictions joined to the validation set (id, era, target, features), computes per era:
CORR (numerai_corr), MMC against a meta-model proxy (numerai-tools' correlation_contribution;
the proxy is the example model's predictions unless the participant gives another), the
feature-neutral CORR (FNC), the feature exposure (per-feature Pearson correlations: their
largest absolute value and their root mean square) and the rank correlation with the example
model; then the summary: mean, std (ddof=0, like numerai-tools' sharpe_ratio), Sharpe and the
maximum drawdown of the cumulative per-era CORR. `neutralize` is numerai-tools' neutralize
applied within each era, with a proportion, and `to_submission` maps the result back into
(0, 1) by tie-kept rank per era so it is a valid predictions file.

Every score is computed with tournament.protocol.scoring (the round's own code), which
tests/participant/test_diagnostics.py checks against numerai-tools. Pure: no I/O.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from tournament.protocol import scoring

__all__ = ["DiagnosticsError", "Diagnostics", "EraRow", "align", "diagnose", "era_exposures", "max_drawdown",
           "neutralize", "neutralize_by_era", "summary", "to_submission"]

MIN_IDS_PER_ERA = 10


class DiagnosticsError(ValueError):
    """Predictions that cannot be diagnosed against the given data (the message says why)."""


@dataclass(frozen=True)
class EraRow:
    """One era's numbers."""

    era: str
    ids: int
    corr: float
    mmc: float
    fnc: float
    max_exposure: float          # largest |Pearson(pred, feature)|
    rms_exposure: float          # sqrt(mean(Pearson(pred, feature)^2))
    corr_with_example: float     # Pearson of tie-kept ranks (Spearman) with the example model
    cumulative_corr: float


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float
    sharpe: float


@dataclass(frozen=True)
class Diagnostics:
    """The whole report; `as_dict` is what `--json` prints."""

    eras: int
    ids: int
    corr: Summary
    mmc: Summary
    fnc: Summary
    max_drawdown: float
    max_feature_exposure: float      # mean over eras of the per-era max
    rms_feature_exposure: float      # mean over eras of the per-era RMS
    corr_with_example: float         # mean over eras
    meta_model: str                  # what the MMC was measured against
    worst_feature: str               # the feature with the largest mean |correlation|
    per_era: tuple[EraRow, ...] = field(default=())

    def as_dict(self) -> dict:
        out = asdict(self)
        out["per_era"] = [asdict(r) for r in self.per_era]
        return out


# --------------------------------------------------------------------------- small pure pieces
def summary(values: Sequence[float]) -> Summary:
    """Mean, std (ddof=0, as numerai-tools' sharpe_ratio) and Sharpe (NaN when std is 0)."""
    a = np.asarray(values, dtype=np.float64)
    stats = scoring.era_stats(a[:, None])
    return Summary(float(stats["mean"][0]), float(stats["std"][0]), float(stats["sharpe"][0]))


def max_drawdown(era_corrs: Sequence[float]) -> float:
    """Largest fall of the cumulative per-era CORR from its running peak (>= 0).

    Numerai's definition: (cumsum.expanding().max() - cumsum).max(); the peak is taken over
    the cumulative values themselves, so a first era below 0 is not a drawdown by itself.
    """
    cumulative = np.cumsum(np.asarray(era_corrs, dtype=np.float64))
    if cumulative.size == 0:
        return 0.0
    return float(np.max(np.maximum.accumulate(cumulative) - cumulative))


def era_exposures(preds: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Pearson correlation of the predictions with every feature (one era); NaN for a constant feature."""
    p = np.asarray(preds, dtype=np.float64)
    f = np.asarray(features, dtype=np.float64)
    pc = p - p.mean()
    fc = f - f.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (fc.T @ pc) / (np.sqrt((fc * fc).sum(axis=0)) * np.sqrt(pc @ pc))


def _rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = scoring.rank_tie_kept(a), scoring.rank_tie_kept(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def neutralize(values: np.ndarray, features: np.ndarray, proportion: float = 1.0) -> np.ndarray:
    """numerai-tools' neutralize of one column (one era): subtract `proportion` of its least-squares
    projection on the features plus a constant."""
    if not 0.0 <= proportion <= 1.0:
        raise DiagnosticsError(f"proportion {proportion} is outside [0, 1]")
    v = np.asarray(values, dtype=np.float64)
    exog = np.hstack((np.asarray(features, dtype=np.float64), np.ones((v.shape[0], 1))))
    beta = np.linalg.lstsq(exog, v, rcond=1e-6)[0]
    return v - proportion * exog.dot(beta)


def neutralize_by_era(values: np.ndarray, features: np.ndarray, eras: np.ndarray,
                      proportion: float = 1.0) -> np.ndarray:
    """`neutralize` within each era (the features' relation to the target changes by era)."""
    out = np.empty(len(values), dtype=np.float64)
    for _, rows in pd.Series(np.asarray(eras)).groupby(np.asarray(eras)).indices.items():
        out[rows] = neutralize(np.asarray(values)[rows], np.asarray(features)[rows], proportion)
    return out


def to_submission(values: np.ndarray, eras: np.ndarray) -> np.ndarray:
    """Tie-kept ranks within each era: values in (0, 1), a valid predictions column."""
    out = np.empty(len(values), dtype=np.float64)
    for _, rows in pd.Series(np.asarray(eras)).groupby(np.asarray(eras)).indices.items():
        out[rows] = scoring.rank_tie_kept(np.asarray(values, dtype=np.float64)[rows])
    return out


# --------------------------------------------------------------------------- joining
def align(predictions: pd.DataFrame, data: pd.DataFrame, feature_names: Sequence[str], *,
          name: str = "predictions") -> pd.DataFrame:
    """Predictions (index id; `prediction`, optional `era`) joined to the data (index id; era,
    target, features) -> one frame with prediction, era, target and the features, in data order.

    The era comes from the predictions when they carry one (it must agree with the data's),
    else from the data. Every prediction id must be in the data; eras with fewer than
    MIN_IDS_PER_ERA ids are dropped (a correlation over a handful of ids means nothing).
    """
    if "prediction" not in predictions.columns:
        raise DiagnosticsError(f"{name}: no prediction column; the file needs id,prediction")
    values = pd.to_numeric(predictions["prediction"], errors="coerce")
    if values.isna().any() or not np.isfinite(values.to_numpy(np.float64)).all():
        raise DiagnosticsError(f"{name}: {int(values.isna().sum())} predictions are not finite numbers")
    if predictions.index.duplicated().any():
        raise DiagnosticsError(f"{name}: id {predictions.index[predictions.index.duplicated()][0]} appears twice")
    missing = predictions.index.difference(data.index)
    if len(missing):
        raise DiagnosticsError(f"{name}: {len(missing)} of {len(predictions)} ids are not in the validation data "
                               f"(e.g. {missing[0]}); diagnose validation predictions against the same data folder")
    for column in ("era", "target"):
        if column not in data.columns:
            raise DiagnosticsError(f"the validation data has no {column} column")
    joined = data.loc[data.index.intersection(predictions.index), ["era", "target", *feature_names]].copy()
    joined["era"] = joined["era"].astype(str)
    if "era" in predictions.columns:
        given = predictions.loc[joined.index, "era"].astype(str)
        wrong = given != joined["era"]
        if wrong.any():
            first = wrong[wrong].index[0]
            raise DiagnosticsError(f"{name}: id {first} is in era {given[first]} but the data has era "
                                   f"{joined.loc[first, 'era']}; {int(wrong.sum())} ids disagree")
    joined["prediction"] = values.loc[joined.index].to_numpy(np.float64)
    sizes = joined.groupby("era")["prediction"].transform("size")
    joined = joined[sizes >= MIN_IDS_PER_ERA]
    if joined.empty:
        raise DiagnosticsError(f"{name}: no era has {MIN_IDS_PER_ERA} or more predicted ids")
    if not np.isfinite(joined["target"].to_numpy(np.float64)).all():
        raise DiagnosticsError("the validation data has targets that are not finite numbers")
    return joined


# --------------------------------------------------------------------------- the report
def diagnose(joined: pd.DataFrame, feature_names: Sequence[str], example: np.ndarray,
             meta_model: Optional[np.ndarray] = None, *, meta_model_name: str = "example model") -> Diagnostics:
    """The report for aligned predictions (`align`'s frame); `example` and `meta_model` are
    aligned to its rows. Without `meta_model` the example model is the meta-model proxy."""
    meta = np.asarray(example if meta_model is None else meta_model, dtype=np.float64)
    example = np.asarray(example, dtype=np.float64)
    if meta.shape[0] != len(joined) or example.shape[0] != len(joined):
        raise DiagnosticsError("the example and meta-model predictions must cover every predicted id")
    preds = joined["prediction"].to_numpy(np.float64)
    targets = joined["target"].to_numpy(np.float64)
    features = joined[list(feature_names)].to_numpy(np.float64)
    rows: list[EraRow] = []
    exposures = []
    cumulative = 0.0
    for era, index in sorted(joined.groupby("era").indices.items()):
        p, t, f = preds[index], targets[index], features[index]
        if np.all(p == p[0]):
            raise DiagnosticsError(f"era {era}: every prediction is equal; nothing to correlate")
        corr = float(scoring.numerai_corr_matrix(p, t)[0])
        mmc = float(scoring.mmc_matrix(p, meta[index], t)[0])
        fnc = float(scoring.feature_neutral_corr(p, f, t)[0])
        exposure = era_exposures(p, f)
        exposures.append(exposure)
        cumulative += corr
        rows.append(EraRow(str(era), len(index), corr, mmc, fnc, float(np.nanmax(np.abs(exposure))),
                           float(np.sqrt(np.nanmean(exposure ** 2))), _rank_corr(p, example[index]), cumulative))
    corrs = [r.corr for r in rows]
    mean_abs = np.nanmean(np.abs(np.vstack(exposures)), axis=0)
    return Diagnostics(
        eras=len(rows), ids=len(joined), corr=summary(corrs), mmc=summary([r.mmc for r in rows]),
        fnc=summary([r.fnc for r in rows]), max_drawdown=max_drawdown(corrs),
        max_feature_exposure=float(np.mean([r.max_exposure for r in rows])),
        rms_feature_exposure=float(np.mean([r.rms_exposure for r in rows])),
        corr_with_example=float(np.mean([r.corr_with_example for r in rows])),
        meta_model=meta_model_name, worst_feature=str(list(feature_names)[int(np.nanargmax(mean_abs))]),
        per_era=tuple(rows))
