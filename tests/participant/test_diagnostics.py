"""Participant diagnostics (tournament.participant.diagnostics) against numerai-tools, plus the CLI.

Where numerai-tools has the metric (numerai_corr, correlation_contribution,
feature_neutral_corr, neutralize, max_feature_correlation), every era's number must equal
it; drawdown and the summaries are checked on hand-made series. The CLI runs `participant
diagnostics` and `participant neutralize` on a small synthetic data folder (no chain).
"""
from __future__ import annotations

import json
import subprocess
import sys
import xml.dom.minidom

import numpy as np
import pandas as pd
import pytest
from numerai_tools import scoring as nt

from tournament.data import example_model as em
from tournament.data import synthetic
from tournament.participant import charts
from tournament.participant import diagnostics as dg


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    ds = synthetic.generate(seed=3, n_eras=24, n_ids=250, n_features=8)
    synthetic.write_dataset(ds, folder / "data")
    validation = ds.validation.copy()
    features = ds.feature_names
    model = em.fit_ridge(ds.train, features, alpha=10.0)
    rng = np.random.default_rng(1)
    raw = model.predict(validation)
    preds = raw + rng.normal(scale=raw.std(), size=len(raw))
    path = folder / "val.csv"
    pd.DataFrame({"id": validation.index, "prediction": dg.to_submission(preds, validation.era.to_numpy())}
                 ).to_csv(path, index=False)
    return {"folder": folder, "ds": ds, "validation": validation, "features": features, "path": path,
            "train": ds.train}


def _report(data, meta=None):
    predictions = synthetic.read_id_table(data["path"])
    joined = dg.align(predictions, data["validation"], data["features"])
    example = em.fit_ridge(data["train"], data["features"]).predict(joined)
    return joined, example, dg.diagnose(joined, data["features"], example, meta)


def test_every_era_equals_numerai_tools(data):
    joined, example, report = _report(data)
    assert report.eras == joined.era.nunique() >= 5
    for row, (era, frame) in zip(report.per_era, sorted(joined.groupby("era"))):
        assert row.era == era and row.ids == len(frame)
        frame = frame.sort_index()  # numerai-tools ranks only sorted indexes; our scores do not depend on order
        preds = frame[["prediction"]]
        target = frame["target"].astype(np.float64)   # the data holds float32; scores use float64
        feats = frame[data["features"]].astype(np.float64)
        assert row.corr == pytest.approx(nt.numerai_corr(preds, target).iloc[0], abs=1e-12)
        meta = pd.Series(example[joined.index.get_indexer(frame.index)], index=frame.index)
        assert row.mmc == pytest.approx(nt.correlation_contribution(preds, meta, target).iloc[0], abs=1e-12)
        assert row.fnc == pytest.approx(nt.feature_neutral_corr(preds, feats, target).iloc[0], abs=1e-9)
        _, exposure = nt.max_feature_correlation(frame["prediction"], feats)
        assert row.max_exposure == pytest.approx(exposure, abs=1e-12)
        prediction = frame["prediction"]
        per_feature = feats.apply(lambda f, p=prediction: np.corrcoef(f, p)[0, 1])
        assert row.rms_exposure == pytest.approx(float(np.sqrt((per_feature ** 2).mean())), abs=1e-12)
        spearman = frame["prediction"].rank().corr(pd.Series(meta).rank())
        assert row.corr_with_example == pytest.approx(spearman, abs=1e-12)
    corrs = np.array([r.corr for r in report.per_era])
    assert report.corr.mean == pytest.approx(corrs.mean())
    assert report.corr.std == pytest.approx(corrs.std(ddof=0))
    assert report.corr.sharpe == pytest.approx(nt.sharpe_ratio(pd.Series(corrs)))
    assert report.per_era[-1].cumulative_corr == pytest.approx(corrs.sum())


def test_a_given_meta_model_changes_only_mmc(data):
    joined, example, default = _report(data)
    other = np.random.default_rng(9).random(len(joined))
    _, _, report = _report(data, meta=other)
    assert report.corr == default.corr and report.fnc == default.fnc
    assert report.mmc != default.mmc
    frame = joined[joined.era == report.per_era[0].era].sort_index()
    rows = joined.index.get_indexer(frame.index)
    expected = nt.correlation_contribution(frame[["prediction"]], pd.Series(other[rows], index=frame.index),
                                           frame["target"].astype(np.float64)).iloc[0]
    assert report.per_era[0].mmc == pytest.approx(expected, abs=1e-12)


def test_neutralize_equals_numerai_tools_per_era(data):
    validation, features = data["validation"], data["features"]
    era = validation[validation.era == validation.era.iloc[0]].sort_index()
    values = era[features].to_numpy() @ np.arange(1, len(features) + 1) + np.random.default_rng(2).normal(size=len(era))
    for proportion in (0.0, 0.5, 1.0):
        ours = dg.neutralize(values, era[features].to_numpy(), proportion)
        theirs = nt.neutralize(pd.DataFrame({"p": values}, index=era.index), era[features], proportion)["p"]
        np.testing.assert_allclose(ours, theirs.to_numpy(), atol=1e-10)
    full = dg.neutralize(values, era[features].to_numpy(), 1.0)
    assert np.abs(dg.era_exposures(full, era[features].to_numpy())).max() < 1e-8
    with pytest.raises(dg.DiagnosticsError, match="outside"):
        dg.neutralize(values, era[features].to_numpy(), 1.5)
    ranked = dg.to_submission(values, era.era.to_numpy())
    assert ranked.min() > 0 and ranked.max() < 1


def test_drawdown_and_summary_by_hand():
    assert dg.max_drawdown([0.02, 0.01, -0.03, -0.01, 0.05]) == pytest.approx(0.04)   # peak 0.03 -> -0.01
    assert dg.max_drawdown([0.01, 0.02]) == 0.0
    assert dg.max_drawdown([-0.02, -0.01]) == pytest.approx(0.01)  # numerai: peak over cumulative values
    s = dg.summary([0.01, 0.03])
    assert (s.mean, s.std) == pytest.approx((0.02, 0.01)) and s.sharpe == pytest.approx(2.0)


def test_alignment_refuses_what_cannot_be_diagnosed(data):
    validation, features = data["validation"], data["features"]
    good = synthetic.read_id_table(data["path"])
    stranger = pd.concat([good, pd.DataFrame({"prediction": [0.5]}, index=pd.Index(["nope"], name="id"))])
    with pytest.raises(dg.DiagnosticsError, match="1 of .* ids are not in the validation data"):
        dg.align(stranger, validation, features)
    wrong_era = good.assign(era="9999")
    with pytest.raises(dg.DiagnosticsError, match="disagree"):
        dg.align(wrong_era, validation, features)
    with pytest.raises(dg.DiagnosticsError, match="no prediction column"):
        dg.align(good.rename(columns={"prediction": "p"}), validation, features)
    with pytest.raises(dg.DiagnosticsError, match="no era has 10"):
        dg.align(good.iloc[:5], validation, features)
    right_era = good.join(validation["era"])
    assert len(dg.align(right_era, validation, features)) == len(good)


def test_chart_is_svg_with_escaped_labels():
    svg = charts.era_chart(["<e1>", "e2", "e3"], {"cumulative CORR": [0.01, 0.0, 0.03]},
                           ("CORR", [0.01, -0.01, 0.03]), title="a & b")
    document = xml.dom.minidom.parseString(svg)
    assert document.documentElement.tagName == "svg"
    assert len(document.getElementsByTagName("polyline")) == 1
    assert "&lt;e1&gt;" in svg and "a &amp; b" in svg
    bars = [r for r in document.getElementsByTagName("rect") if r.getAttribute("fill") in (charts.BAR_UP, charts.BAR_DOWN)]
    assert sorted(b.getAttribute("fill") for b in bars[:3]) == sorted([charts.BAR_UP, charts.BAR_DOWN, charts.BAR_UP])


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tournament", "participant", *args], capture_output=True, text=True)


def test_diagnostics_and_neutralize_commands(data, tmp_path):
    folder = data["folder"]
    run = _cli("diagnostics", str(data["path"]), "--data", str(folder / "data"), "--json",
               "--chart", str(tmp_path / "c.svg"))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    _, _, expected = _report(data)
    assert report["corr"]["mean"] == pytest.approx(expected.corr.mean)
    assert report["mmc"]["mean"] == pytest.approx(expected.mmc.mean)
    assert len(report["per_era"]) == expected.eras
    assert (tmp_path / "c.svg").read_text().startswith("<svg")
    table = _cli("diagnostics", str(data["path"]), "--data", str(folder / "data"))
    assert table.returncode == 0 and "CORR" in table.stdout and "max drawdown" in table.stdout
    assert (folder / "val.csv.diagnostics.svg").exists()

    out = tmp_path / "neutral.csv"
    run = _cli("neutralize", str(data["path"]), "--data", str(folder / "data"), "--proportion", "1", "--out", str(out))
    assert run.returncode == 0, run.stderr
    neutral = pd.read_csv(out, dtype={"id": str}).set_index("id")
    assert neutral.index.equals(synthetic.read_id_table(data["path"]).index)
    assert neutral.prediction.between(0, 1, inclusive="neither").all()
    before = _cli("diagnostics", str(data["path"]), "--data", str(folder / "data"), "--json")
    after = _cli("diagnostics", str(out), "--data", str(folder / "data"), "--json")
    assert json.loads(after.stdout)["max_feature_exposure"] < json.loads(before.stdout)["max_feature_exposure"]


def test_commands_answer_mistakes_in_one_line(data, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,prediction\nnope,0.5\n")
    for args in (["diagnostics", str(bad), "--data", str(data["folder"] / "data")],
                 ["diagnostics", str(data["path"]), "--data", str(tmp_path)],
                 ["neutralize", str(bad), "--data", str(data["folder"] / "data"), "--out", str(tmp_path / "o.csv")]):
        run = _cli(*args)
        assert run.returncode == 1, run.stdout
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in run.stderr
