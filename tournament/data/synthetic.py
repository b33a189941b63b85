"""A synthetic tournament dataset in Numerai's shape, deterministic from a seed.

Rows are (era, obfuscated id) pairs: ids are random hex strings ("n" + 15 hex digits),
never tickers. Each era has F features quantised to {0, 0.25, 0.5, 0.75, 1} (equal-sized
bins) and a target in the same five values (Numerai's 5/20/50/20/5 % buckets) driven by a
hidden linear mix of the features plus a lot of noise. The mix has a small part that holds
in every era and a larger part that depends on the era's regime; regimes switch like a
sticky Markov chain, and come in opposite pairs (+u, -u, +v, -v). So a linear model fitted
on many eras learns the stable part and reaches a mean era CORR of a few percent, while a
model fitted on one regime loses money in the opposite one - the situation staking is about.
Splits: train, validation and one live era whose targets are kept in a separate table,
revealed at resolution. The participant's data folder never holds the live targets:
`write_dataset` writes them only into a separate, operator-only folder when one is given
(`tournament data generate --targets-out DIR`). `generate` is pure; `write_dataset` /
`read_*` are the file edges.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

FEATURE_VALUES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
TARGET_BUCKETS = np.array([0.05, 0.20, 0.50, 0.20, 0.05])   # share of ids per target value
# Scale of the stable and regime parts of the hidden mix relative to unit noise. Chosen so
# that an honest ridge model scores ~0.02-0.03 mean era CORR (see tests/protocol/test_data.py).
STABLE_SIGNAL = 0.04
REGIME_SIGNAL = 0.06
REGIME_STAY = 0.85          # probability an era keeps the previous era's regime
N_FACTORS = 5               # hidden factors that correlate the features, like real data

FILES = {  # the participant's data folder
    "train": "train.parquet",
    "validation": "validation.parquet",
    "live": "live.parquet",
    "live_ids": "live_ids.csv",
    "features": "features.json",
}
# Operator only, never in the participant's folder: the live era's targets.
TARGET_FILES = {
    "live_targets": "live_targets.parquet",
    "live_targets_csv": "targets.csv",
}


@dataclass
class Dataset:
    """The public tables plus the hidden truth (for tests and demos only; not written)."""
    train: pd.DataFrame
    validation: pd.DataFrame
    live: pd.DataFrame              # features only: no target column
    live_targets: pd.DataFrame      # id -> target, revealed at resolution
    feature_names: list[str]
    regimes: dict[str, int] = field(default_factory=dict)   # era -> hidden regime 0..3
    stable_weights: np.ndarray | None = None


def _unique_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    ids: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        for v in rng.integers(0, 16**15, size=count - len(out), dtype=np.int64):
            s = f"n{int(v):015x}"
            if s not in ids:
                ids.add(s)
                out.append(s)
    return np.array(out, dtype=object)


def _quantise(latent: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Map each column to the five values by rank, with the given share per value."""
    n = latent.shape[0]
    edges = np.round(np.cumsum(shares)[:-1] * n).astype(int)
    ranks = np.argsort(np.argsort(latent, axis=0, kind="stable"), axis=0, kind="stable")
    return FEATURE_VALUES[np.searchsorted(edges, ranks, side="right")]


def generate(seed: int = 0, n_eras: int = 120, n_ids: int = 1000, n_features: int = 40,
             ) -> Dataset:
    """Build the whole dataset in memory. n_ids is the universe size of each era."""
    if n_eras < 3 or n_ids < 10 or n_features < 2:
        raise ValueError("need at least 3 eras, 10 ids per era and 2 features")
    rng = np.random.default_rng(seed)
    names = [f"feature_{k:04d}" for k in range(n_features)]
    stable = rng.normal(size=n_features)
    stable *= STABLE_SIGNAL / np.linalg.norm(stable)
    directions = rng.normal(size=(2, n_features))
    directions *= REGIME_SIGNAL / np.linalg.norm(directions, axis=1, keepdims=True)
    regime_mix = np.vstack([directions[0], -directions[0], directions[1], -directions[1]])
    loadings = rng.normal(scale=0.6, size=(N_FACTORS, n_features))

    eras = [f"{e:04d}" for e in range(1, n_eras + 1)]
    regime = int(rng.integers(4))
    regimes: dict[str, int] = {}
    ids = _unique_ids(rng, n_eras * n_ids)
    frames = []
    for k, era in enumerate(eras):
        if k and rng.random() > REGIME_STAY:
            regime = int(rng.integers(4))
        regimes[era] = regime
        latent = rng.normal(size=(n_ids, N_FACTORS)) @ loadings + rng.normal(size=(n_ids, n_features))
        feats = _quantise(latent, np.full(5, 0.2))
        standardised = (feats - feats.mean(axis=0)) / feats.std(axis=0)
        signal = standardised @ (stable + regime_mix[regime])
        target = _quantise((signal + rng.normal(size=n_ids))[:, None], TARGET_BUCKETS)[:, 0]
        frame = pd.DataFrame(feats.astype(np.float32), columns=names)
        frame.insert(0, "era", era)
        frame.insert(0, "id", ids[k * n_ids:(k + 1) * n_ids])
        frame["target"] = target.astype(np.float32)
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    n_train = max(1, int(round(0.6 * (n_eras - 1))))
    train_eras, valid_eras, live_era = eras[:n_train], eras[n_train:-1], eras[-1]
    train = data[data.era.isin(train_eras)].set_index("id")
    validation = data[data.era.isin(valid_eras)].set_index("id")
    live_all = data[data.era == live_era].set_index("id")
    live = live_all.drop(columns="target")
    live_targets = live_all[["target"]].copy()
    for frame, kind in ((train, "train"), (validation, "validation"), (live, "live")):
        frame.insert(1, "data_type", kind)
    log.info("generated %d eras x %d ids x %d features (seed %d)", n_eras, n_ids, n_features, seed)
    return Dataset(train, validation, live, live_targets, names, regimes, stable)


# --------------------------------------------------------------------------- file edges
class DataFolderError(ValueError):
    """A data folder that would mix the participant's files with the operator's targets."""


def write_dataset(dataset: Dataset, out_dir: str | Path, targets_dir: str | Path | None = None,
                  ) -> dict[str, Path]:
    """Write the public files (Parquet tables, live ids CSV, features list) into out_dir and,
    only when `targets_dir` is given, the live targets (Parquet and `id,target` CSV) there.

    `targets_dir` must be another folder than out_dir: the participant's folder never holds targets.
    """
    out = Path(out_dir)
    if targets_dir is not None and Path(targets_dir).resolve() == out.resolve():
        raise DataFolderError(f"{targets_dir}: the live targets go to a separate operator-only folder, "
                              "not into the participant's data folder")
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in FILES.items()}
    dataset.train.to_parquet(paths["train"])
    dataset.validation.to_parquet(paths["validation"])
    dataset.live.to_parquet(paths["live"])
    if targets_dir is not None:
        hidden = Path(targets_dir)
        hidden.mkdir(parents=True, exist_ok=True)
        paths.update({k: hidden / v for k, v in TARGET_FILES.items()})
        dataset.live_targets.to_parquet(paths["live_targets"])
        dataset.live_targets.reset_index()[["id", "target"]].to_csv(paths["live_targets_csv"], index=False)
    pd.Series(dataset.live.index, name="id").to_csv(paths["live_ids"], index=False)
    paths["features"].write_text(json.dumps({"features": dataset.feature_names}, indent=1) + "\n")
    return paths


def read_split(data_dir: str | Path, split: str) -> pd.DataFrame:
    """One split ("train", "validation", "live") indexed by id."""
    return pd.read_parquet(Path(data_dir) / FILES[split])


def feature_names(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("feature_")]


def read_id_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet table with an `id` column (or index) -> DataFrame indexed by id (str)."""
    path = Path(path)
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        frame = pd.read_parquet(path)
        if "id" in frame.columns:
            frame = frame.set_index("id")
    else:
        frame = pd.read_csv(path, dtype={"id": str})
        if "id" not in frame.columns:
            raise ValueError(f"{path.name}: no id column; the table needs a header with id")
        frame = frame.set_index("id")
    if frame.index.name != "id":
        raise ValueError(f"{path.name}: no id column; the table needs an id column")
    frame.index = frame.index.astype(str)
    return frame


def read_live_ids(path: str | Path) -> np.ndarray:
    """Live ids from a CSV/Parquet table with an id column (live_ids.csv, live.parquet)."""
    ids = read_id_table(path).index.to_numpy(dtype=object)
    if len(ids) == 0:
        raise ValueError(f"{Path(path).name}: no live ids")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{Path(path).name}: live ids are not unique")
    return ids


def read_targets(path: str | Path) -> pd.Series:
    """Targets `id,target` (CSV or Parquet) -> float64 Series indexed by id."""
    frame = read_id_table(path)
    if "target" not in frame.columns:
        raise ValueError(f"{Path(path).name}: no target column; targets are id,target")
    targets = frame["target"].astype(np.float64)
    if targets.isna().any() or not np.isfinite(targets.to_numpy()).all():
        raise ValueError(f"{Path(path).name}: targets contain NaN or infinity")
    if targets.index.duplicated().any():
        raise ValueError(f"{Path(path).name}: duplicate ids in targets")
    return targets
