"""The synthetic dataset: shape, determinism, regimes, and the example model end to end."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tournament.data import example_model as em
from tournament.data import synthetic as data
from tournament.protocol.submissions import validate_file


@pytest.fixture(scope="module")
def dataset():
    return data.generate(seed=3, n_eras=100, n_ids=800, n_features=30)


def test_same_seed_same_data_other_seed_other_data():
    a = data.generate(seed=3, n_eras=5, n_ids=50, n_features=4)
    b = data.generate(seed=3, n_eras=5, n_ids=50, n_features=4)
    c = data.generate(seed=4, n_eras=5, n_ids=50, n_features=4)
    pd.testing.assert_frame_equal(a.train, b.train)
    pd.testing.assert_frame_equal(a.live_targets, b.live_targets)
    assert not a.train.index.equals(c.train.index)


def test_shape_values_and_obfuscated_ids(dataset):
    frames = [dataset.train, dataset.validation, dataset.live]
    ids = np.concatenate([f.index.to_numpy() for f in frames])
    assert len(set(ids)) == len(ids) == 100 * 800
    assert all(re.fullmatch(r"n[0-9a-f]{15}", i) for i in ids[:2000])
    for frame in frames:
        values = np.unique(frame[dataset.feature_names].to_numpy())
        assert set(values) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    targets = pd.concat([dataset.train.target, dataset.validation.target, dataset.live_targets.target])
    shares = targets.value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(shares, [0.05, 0.2, 0.5, 0.2, 0.05], atol=0.002)
    assert "target" not in dataset.live.columns
    assert dataset.live.era.nunique() == 1
    assert dataset.live_targets.index.equals(dataset.live.index)
    assert set(dataset.train.era).isdisjoint(dataset.validation.era)
    assert max(dataset.train.era) < min(dataset.validation.era) < dataset.live.era.iloc[0]


def test_regimes_switch_and_an_honest_linear_model_earns_a_few_percent(dataset):
    assert len(set(dataset.regimes.values())) >= 3
    model = em.fit_ridge(dataset.train, dataset.feature_names)
    report = em.validation_report(model, dataset.validation)
    assert 0.01 <= report["corr_mean"] <= 0.045, report
    assert report["corr_std"] > 0


def test_a_model_fitted_on_one_regime_loses_in_the_opposite_regime(dataset):
    regime = dataset.train.era.map(dataset.regimes)
    fitted_on = regime.value_counts().idxmax()
    opposite = fitted_on ^ 1          # regimes come in pairs: (0, 1) = (+u, -u), (2, 3) = (+v, -v)
    model = em.fit_ridge(dataset.train[regime == fitted_on], dataset.feature_names)
    every = pd.concat([dataset.train, dataset.validation])
    opposite_eras = every[every.era.map(dataset.regimes) == opposite]
    same_eras = every[every.era.map(dataset.regimes) == fitted_on]
    assert len(opposite_eras) and len(same_eras)
    assert em.validation_report(model, opposite_eras)["corr_mean"] < 0
    assert em.validation_report(model, same_eras)["corr_mean"] > 0.02


def test_generate_and_example_model_commands_write_valid_predictions(tmp_path):
    out = tmp_path / "data"
    run = subprocess.run([sys.executable, "-m", "tournament", "data", "generate", "--out", str(out),
                          "--seed", "5", "--eras", "20", "--ids", "300", "--features", "10",
                          "--targets-out", str(tmp_path / "operator")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for name in data.FILES.values():
        assert (out / name).exists(), name
    assert len(data.read_live_ids(out / "live_ids.csv")) == 300
    preds = tmp_path / "example.csv"
    run = subprocess.run([sys.executable, "-m", "tournament", "data", "example-model",
                          "--data", str(out), "--out", str(preds)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "validation over" in run.stdout and "corr mean" in run.stdout
    result = validate_file(preds, data.read_live_ids(out / "live.parquet"))
    assert result.valid, result.message
    assert not any("target" in p.name for p in out.iterdir())  # the participant's folder holds no targets
    targets = data.read_targets(tmp_path / "operator" / "live_targets.parquet")
    assert targets.index.equals(pd.Index(data.read_live_ids(out / "live_ids.csv")))


def test_score_command_writes_one_row_per_model(tmp_path):
    ds = data.generate(seed=1, n_eras=4, n_ids=200, n_features=5)
    data.write_dataset(ds, tmp_path, tmp_path / "operator")
    rng = np.random.default_rng(0)
    paths = []
    for k in range(3):
        path = tmp_path / f"model_{k}.csv"
        pd.DataFrame({"id": ds.live.index, "prediction": rng.random(200)}).to_csv(path, index=False)
        paths.append(str(path))
    (tmp_path / "broken.csv").write_text("id,prediction\nx,0.5\n")
    paths.append(str(tmp_path / "broken.csv"))
    pd.DataFrame({"model": ["model_0", "model_1", "model_2", "broken"],
                  "stake": [1, 2, 3, 4]}).to_csv(tmp_path / "stakes.csv", index=False)
    run = subprocess.run([sys.executable, "-m", "tournament", "score", "--predictions", *paths,
                          "--targets", str(tmp_path / "operator" / "live_targets.parquet"),
                          "--stakes", str(tmp_path / "stakes.csv"),
                          "--out", str(tmp_path / "scores.csv")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert list(scores.columns[:7]) == ["model", "status", "corr", "mmc", "corr_nanos",
                                        "mmc_nanos", "message"]
    assert list(scores.model) == ["model_0", "model_1", "model_2", "broken"]
    assert list(scores.status) == ["SCORED"] * 3 + ["INVALID"]
    assert scores.message[3].startswith("broken.csv: 200 id(s) missing")
    np.testing.assert_array_equal(scores.corr_nanos[:3], np.rint(scores["corr"][:3] * 1e9))
