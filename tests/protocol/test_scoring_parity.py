"""Our vectorised scoring equals numerai-tools within 1e-12.

numerai-tools is the reference (test-time only). Each case builds the same data twice: an
id-indexed DataFrame for numerai-tools and an aligned ids x models array for us.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from numerai_tools import scoring as nt

from tournament.data import synthetic as data
from tournament.protocol import scoring
from tournament.protocol.submissions import score_submissions

TOL = 1e-12
TARGET_VALUES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])


def make_round(rng, n_ids, n_models, tie_share=0.3):
    """Random predictions, a share of models quantised (heavy ties), targets with ties."""
    ids = np.array([f"n{v:015x}" for v in rng.integers(0, 16**15, n_ids)], dtype=object)
    preds = rng.random((n_ids, n_models))
    tied = rng.random(n_models) < tie_share
    preds[:, tied] = np.round(preds[:, tied] * 7) / 7
    targets = rng.choice(TARGET_VALUES, size=n_ids, p=[0.05, 0.2, 0.5, 0.2, 0.05])
    stakes = rng.uniform(0.01, 100, n_models)
    return ids, preds, targets, stakes


def reference(ids, preds, targets, stakes):
    """numerai-tools: numerai_corr, stake_weight of tie-kept ranks, correlation_contribution."""
    cols = [f"m{k}" for k in range(preds.shape[1])]
    frame = pd.DataFrame(preds, index=ids, columns=cols)
    target = pd.Series(targets, index=ids, name="target")
    corr = nt.numerai_corr(frame, target).to_numpy()
    ranked, _ = nt.filter_sort_index(frame, target)
    meta = nt.stake_weight(nt.tie_kept_rank(ranked), pd.Series(stakes, index=cols))
    mmc = nt.correlation_contribution(frame, meta, target).to_numpy()
    return corr, meta.reindex(ids).to_numpy(), mmc


@pytest.mark.parametrize("n_models", [1, 2, 50, 500])
def test_corr_meta_and_mmc_equal_numerai_tools(n_models):
    rng = np.random.default_rng(n_models)
    n_ids = 2000 if n_models < 500 else 1000
    ids, preds, targets, stakes = make_round(rng, n_ids, n_models)
    ref_corr, ref_meta, ref_mmc = reference(ids, preds, targets, stakes)
    corr, mmc = scoring.score_round(preds, targets, stakes)
    np.testing.assert_allclose(corr, ref_corr, rtol=0, atol=TOL)
    np.testing.assert_allclose(scoring.meta_model(preds, stakes), ref_meta, rtol=0, atol=TOL)
    np.testing.assert_allclose(mmc, ref_mmc, rtol=0, atol=TOL)
    np.testing.assert_allclose(scoring.numerai_corr_matrix(preds, targets), ref_corr, rtol=0, atol=TOL)
    np.testing.assert_allclose(scoring.mmc_matrix(preds, ref_meta, targets), ref_mmc, rtol=0, atol=TOL)
    assert np.abs(ref_mmc).max() > 1e-4 or n_models == 1   # the comparison is not vacuous


def test_heavy_ties_in_every_model_and_in_the_meta_model():
    rng = np.random.default_rng(7)
    ids, preds, targets, stakes = make_round(rng, 1500, 20, tie_share=1.0)
    preds[:, :5] = np.round(preds[:, :5] * 2) / 2        # only three distinct values
    ref_corr, _, ref_mmc = reference(ids, preds, targets, np.ones(20))
    corr, mmc = scoring.score_round(preds, targets)
    np.testing.assert_allclose(corr, ref_corr, rtol=0, atol=TOL)
    np.testing.assert_allclose(mmc, ref_mmc, rtol=0, atol=TOL)


def test_blocking_and_threads_do_not_change_results():
    rng = np.random.default_rng(3)
    _, preds, targets, stakes = make_round(rng, 800, 37)
    whole = scoring.score_round(preds, targets, stakes, block_models=1000)
    tiny = scoring.score_round(np.asfortranarray(preds), targets, stakes, block_models=4)
    # the meta model is summed in model order whatever the blocks: bit-identical
    np.testing.assert_array_equal(scoring.meta_model(preds, stakes, block_models=1000),
                                  scoring.meta_model(preds, stakes, block_models=3))
    # BLAS may group a dot product differently by block shape: last-bit differences only
    np.testing.assert_allclose(whole[0], tiny[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(whole[1], tiny[1], rtol=0, atol=1e-15)


def test_rank_and_gaussian_transforms_match_numerai_tools_bit_for_bit():
    rng = np.random.default_rng(11)
    ids, preds, _, _ = make_round(rng, 999, 6, tie_share=0.5)
    frame = pd.DataFrame(preds, index=ids).sort_index()
    ours = scoring.rank_tie_kept(frame.to_numpy())
    np.testing.assert_array_equal(ours, nt.tie_kept_rank(frame).to_numpy())
    np.testing.assert_array_equal(scoring.gaussianize(ours), nt.gaussian(nt.tie_kept_rank(frame)).to_numpy())


def _files_for(ids, preds, order_rng, extra_ids=0):
    files = {}
    for k in range(preds.shape[1]):
        order = order_rng.permutation(len(ids))
        frame = pd.DataFrame({"id": ids[order], "prediction": preds[order, k]})
        if extra_ids:
            extra = pd.DataFrame({"id": [f"extra{k}_{j}" for j in range(extra_ids)],
                                  "prediction": order_rng.random(extra_ids)})
            frame = pd.concat([frame, extra]).sample(frac=1, random_state=k)
        files[f"m{k}"] = frame.to_csv(index=False, float_format="%.17g").encode()
    return files


def test_ids_in_different_orders_and_extra_ids_score_like_numerai_tools():
    rng = np.random.default_rng(5)
    ids, preds, targets, stakes = make_round(rng, 1200, 8)
    files = _files_for(ids, preds, np.random.default_rng(6), extra_ids=150)
    target_series = pd.Series(targets, index=ids, name="target")
    table = score_submissions(files, target_series.sample(frac=1, random_state=2),
                              dict(zip(files, stakes)))
    assert (table.status == "SCORED").all()
    ref_corr, _, ref_mmc = reference(ids, preds, targets, stakes)
    np.testing.assert_allclose(table["corr"], ref_corr, rtol=0, atol=TOL)
    np.testing.assert_allclose(table["mmc"], ref_mmc, rtol=0, atol=TOL)
    # numerai-tools on a submission as uploaded: its index filter drops the extra ids
    m0 = pd.read_csv(io.BytesIO(files["m0"]), dtype={"id": str}).set_index("id")
    assert len(m0) == len(ids) + 150
    ref0 = nt.numerai_corr(m0, target_series)
    assert abs(table["corr"].iloc[0] - ref0.iloc[0]) <= TOL


def test_invalid_submissions_are_left_out_of_the_meta_model():
    rng = np.random.default_rng(9)
    ids, preds, targets, stakes = make_round(rng, 600, 4)
    files = _files_for(ids, preds, np.random.default_rng(1))
    files["broken"] = b"id,prediction\n"
    table = score_submissions(files, pd.Series(targets, index=ids),
                              dict(zip(files, list(stakes) + [1e6])))
    assert list(table.status) == ["SCORED"] * 4 + ["INVALID"]
    assert table.loc[4, "corr_nanos"] == 0 and table.loc[4, "mmc_nanos"] == 0
    _, _, ref_mmc = reference(ids, preds, targets, stakes)
    np.testing.assert_allclose(table["mmc"][:4], ref_mmc, rtol=0, atol=TOL)


def test_synthetic_dataset_live_era_scores_equal_numerai_tools():
    ds = data.generate(seed=4, n_eras=12, n_ids=1500, n_features=12)
    live = ds.live
    feats = live[ds.feature_names].to_numpy(np.float64)
    rng = np.random.default_rng(0)
    # models: single features (massive ties), feature mixes, noise
    preds = np.column_stack([feats[:, :6], feats @ rng.normal(size=(12, 10)), rng.random((len(live), 4))])
    preds = (preds - preds.min(axis=0)) / (preds.max(axis=0) - preds.min(axis=0))
    targets = ds.live_targets["target"].reindex(live.index).to_numpy(np.float64)
    stakes = rng.uniform(1, 10, preds.shape[1])
    ids = live.index.to_numpy(dtype=object)
    ref_corr, ref_meta, ref_mmc = reference(ids, preds, targets, stakes)
    corr, mmc = scoring.score_round(preds, targets, stakes)
    np.testing.assert_allclose(corr, ref_corr, rtol=0, atol=TOL)
    np.testing.assert_allclose(mmc, ref_mmc, rtol=0, atol=TOL)


def test_diagnostics_equal_numerai_tools():
    ds = data.generate(seed=2, n_eras=6, n_ids=600, n_features=8)
    era = ds.train[ds.train.era == ds.train.era.iloc[0]].sort_index()
    feats = era[ds.feature_names].astype(np.float64)
    rng = np.random.default_rng(1)
    preds = pd.DataFrame(feats.to_numpy() @ rng.normal(size=(8, 3)) + rng.normal(size=(600, 3)),
                         index=era.index, columns=["a", "b", "c"])
    target = era["target"].astype(np.float64)
    ref_fnc = nt.feature_neutral_corr(preds, feats, target).to_numpy()
    ours = scoring.feature_neutral_corr(preds.to_numpy(), feats.to_numpy(), target.to_numpy())
    np.testing.assert_allclose(ours, ref_fnc, rtol=0, atol=1e-10)
    ref_exposure = [nt.max_feature_correlation(preds[c], feats)[1] for c in preds.columns]
    np.testing.assert_allclose(scoring.max_feature_exposure(preds.to_numpy(), feats.to_numpy()),
                               ref_exposure, rtol=0, atol=TOL)


def test_era_stats_match_numerai_tools_sharpe():
    era_corrs = np.random.default_rng(0).normal(0.02, 0.03, size=(40, 3))
    stats = scoring.era_stats(era_corrs)
    for k in range(3):
        assert abs(stats["sharpe"][k] - nt.sharpe_ratio(pd.Series(era_corrs[:, k]))) <= TOL


def test_to_nanos_rounds_half_to_even_and_clips():
    nanos = scoring.to_nanos([0.0000000025, 0.0000000035, -0.0000000025, 0.123456789, 2.0, -5.0])
    assert nanos.dtype == np.int64
    assert list(nanos) == [2, 4, -2, 123456789, 1_000_000_000, -1_000_000_000]
    with pytest.raises(ValueError):
        scoring.to_nanos([np.nan])
