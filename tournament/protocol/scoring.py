"""Round scoring: CORR, the stake-weighted meta model and MMC, vectorised across models.

The definitions are numerai-tools' (`numerai_corr`, `stake_weight` of tie-kept ranks,
`correlation_contribution`), as the protocol's "Scores" section requires; this module
computes the same numbers for a whole round at once. Predictions arrive as one 2-D float64
array (ids x models) already aligned to the targets vector (see `tournament.protocol.submissions`), and
every model is processed in blocks of rows of a transposed copy, so 10,000 models x 5,000
ids stays well under 4 GB. The speed comes from one observation: a tie-kept rank is always a
multiple of 1/2, so every value the rank -> gaussianize -> power chain can produce is known
in advance from n alone. We compute the 2n+1 possible outputs once, with exactly the float
operations numerai-tools uses, and turn each model into integer "twice-rank" indices into
those tables; the per-model work is one argsort plus gathers and dot products.
Pure functions: no I/O, no chain.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import special

log = logging.getLogger(__name__)

NANOS_PER_UNIT = 1_000_000_000
# Models per block: big enough to amortise numpy call overhead, small enough that the
# per-block temporaries (a few arrays of block x ids) stay in the tens of megabytes.
DEFAULT_BLOCK_MODELS = 512


# --------------------------------------------------------------------------- transforms
def rank_tie_kept(x: np.ndarray) -> np.ndarray:
    """Percentile rank each column, ties averaged: (rank - 0.5) / n (numerai-tools' tie_kept_rank)."""
    x = np.asarray(x, dtype=np.float64)
    one_d = x.ndim == 1
    cols = x[:, None] if one_d else x
    n = cols.shape[0]
    twice = _twice_ranks_rows(np.ascontiguousarray(cols.T))
    out = _rank_table(n).take(twice, mode="clip").T
    return out[:, 0].copy() if one_d else np.ascontiguousarray(out)


def gaussianize(ranked: np.ndarray) -> np.ndarray:
    """Normal inverse CDF of percentile ranks in (0, 1) (numerai-tools' gaussian)."""
    return special.ndtri(np.asarray(ranked, dtype=np.float64))


def signed_power(x: np.ndarray, p: float = 1.5) -> np.ndarray:
    """sign(x) * |x| ** p, the same float operations as numerai-tools' power."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.abs(x) ** p


def _twice_ranks_rows(rows: np.ndarray) -> np.ndarray:
    """2 x (1-based average rank) of every entry of each row, as intp, in the rows' order.

    An average rank is (first + last) / 2 + 1 over the 0-based sorted positions of a run of
    equal values, so twice it is an exact integer in [2, 2n]. intp, not int32: numpy's
    gathers convert any other index type first, which costs more than the gather.
    """
    b, n = rows.shape
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    position = np.arange(n, dtype=np.intp)
    twice_sorted = np.empty((b, n), dtype=np.intp)
    same_as_next = ordered[:, 1:] == ordered[:, :-1]
    tied_rows = same_as_next.any(axis=1)
    # Rows without ties (the common case for real-valued predictions) need no run search.
    twice_sorted[~tied_rows] = 2 * position + 2
    if tied_rows.any():
        ties = same_as_next[tied_rows]
        k = ties.shape[0]
        starts_run = np.ones((k, n), dtype=bool)
        starts_run[:, 1:] = ~ties
        ends_run = np.ones((k, n), dtype=bool)
        ends_run[:, :-1] = ~ties
        first = np.maximum.accumulate(np.where(starts_run, position, 0), axis=1)
        last = np.minimum.accumulate(np.where(ends_run, position, n - 1)[:, ::-1], axis=1)[:, ::-1]
        twice_sorted[tied_rows] = first + last + 2
    twice = np.empty((b, n), dtype=np.intp)
    np.put_along_axis(twice, order, twice_sorted, axis=1)
    return twice


def _rank_table(n: int) -> np.ndarray:
    """Percentile rank for each twice-rank index 0..2n (index 0 and 1 unused)."""
    twice = np.arange(2 * n + 1, dtype=np.float64)
    # (rank - 0.5) / n with rank = twice / 2 exactly as pandas produces it; the unused
    # entries are clamped to a valid value so the tables below stay finite.
    rank = np.maximum(twice / 2.0, 1.0)
    return (rank - 0.5) / n


def _tables(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rank, gaussian, gaussian ** 1.5 signed) for every twice-rank index 0..2n."""
    ranked = _rank_table(n)
    gauss = gaussianize(ranked)
    return ranked, gauss, signed_power(gauss, 1.5)


# --------------------------------------------------------------------------- targets
def _corr_target(targets: np.ndarray) -> np.ndarray:
    """Targets as numerai_corr uses them: centred, signed power 1.5, then centred again
    (Pearson removes the mean, so we do it once here)."""
    t = np.asarray(targets, dtype=np.float64)
    t15 = signed_power(t - t.mean(), 1.5)
    return t15 - t15.mean()


def _mmc_target(targets: np.ndarray) -> np.ndarray:
    """Targets as correlation_contribution uses them: x4 when in [0, 1], then centred."""
    t = np.asarray(targets, dtype=np.float64)
    if (t >= 0).all() and (t <= 1).all():
        t = t * 4
    return t - t.mean()


def _check_inputs(preds: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    preds = np.asarray(preds, dtype=np.float64)
    if preds.ndim == 1:
        preds = preds[:, None]
    targets = np.asarray(targets, dtype=np.float64)
    if preds.ndim != 2 or targets.ndim != 1 or preds.shape[0] != targets.shape[0]:
        raise ValueError(f"predictions {preds.shape} must be ids x models aligned to targets {targets.shape}")
    if preds.shape[0] < 2:
        raise ValueError("scoring needs at least two ids")
    if not (np.isfinite(targets).all()):
        raise ValueError("targets contain NaN or infinity")
    return preds, targets


# --------------------------------------------------------------------------- blocked engine
def _model_rows(preds: np.ndarray, j0: int, j1: int) -> np.ndarray:
    """Models j0..j1 as C-contiguous rows (a view when preds is Fortran-ordered, as
    DataFrame.to_numpy() and tournament.protocol.submissions build it; a copy otherwise)."""
    return np.ascontiguousarray(preds[:, j0:j1].T)


def _blocks(m: int, block: int) -> list[tuple[int, int]]:
    return [(j, min(j + block, m)) for j in range(0, m, block)]


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _map_blocks(fn: Callable[[int, int], None], m: int, block: int,
                progress: Callable[[int], None] | None = None) -> None:
    """Run fn(j0, j1) over model blocks on a few threads (numpy releases the GIL in sorts
    and gathers, so this scales with cores)."""
    spans = _blocks(m, block)
    workers = _workers()
    if workers == 1 or len(spans) == 1:
        for j0, j1 in spans:
            fn(j0, j1)
            if progress:
                progress(j1 - j0)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (j0, j1), fut in zip(spans, [pool.submit(fn, j0, j1) for j0, j1 in spans]):
            fut.result()
            if progress:
                progress(j1 - j0)


def _pearson_from_sums(dot: np.ndarray, s1: np.ndarray, s2: np.ndarray, n: int,
                       t_ss: float) -> np.ndarray:
    """Pearson correlation of x with a centred target from sum(x * t), sum(x), sum(x^2)."""
    var_x = s2 - s1 * s1 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        out = dot / np.sqrt(var_x * t_ss)
    out[var_x <= 0] = np.nan
    return out


def score_round(preds: np.ndarray, targets: np.ndarray, stakes: np.ndarray | None = None, *,
                block_models: int = DEFAULT_BLOCK_MODELS,
                progress: Callable[[int], None] | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
    """CORR and MMC of every model of a round.

    1. tie-kept rank each model's predictions (kept as integer twice-ranks);
    2. CORR: gaussianize, signed power 1.5, Pearson against the centred, powered targets;
    3. meta model: stake-weighted mean of the tie-kept ranks;
    4. MMC: gaussianize the ranks of each model and of the meta model, orthogonalise each
       model to the meta model, dot with the x4-centred targets, divide by n.

    preds: ids x models, aligned to targets; stakes: one weight per model (equal if None).
    progress, if given, is called with the number of models finished (twice per model:
    once for each pass). Returns float64 arrays (corr, mmc), one entry per model.
    """
    preds, targets = _check_inputs(preds, targets)
    n, m = preds.shape
    weights = _stake_weights(stakes, m)
    rank_t, gauss_t, pow_t = _tables(n)
    tc = _corr_target(targets)
    t_ss = float(tc @ tc)
    t4 = _mmc_target(targets)

    corr = np.empty(m)
    gauss_by_model = np.empty((m, n))     # kept for pass 2: the MMC dot products are one matmul
    meta = _MetaAccumulator(n, m, block_models)

    def pass_one(j0: int, j1: int) -> None:
        try:
            block_one(j0, j1)
        except BaseException:
            meta.abandon(j0)
            raise

    def block_one(j0: int, j1: int) -> None:
        rows = _model_rows(preds, j0, j1)
        twice = _twice_ranks_rows(rows)
        del rows
        powered = pow_t.take(twice, mode="clip")
        corr[j0:j1] = _pearson_from_sums(powered @ tc, powered.sum(axis=1),
                                         np.einsum("ij,ij->i", powered, powered), n, t_ss)
        del powered
        np.take(gauss_t, twice, out=gauss_by_model[j0:j1], mode="clip")
        meta.add(j0, weights[j0:j1, None] * rank_t.take(twice, mode="clip"))

    _map_blocks(pass_one, m, block_models, progress)
    meta_gauss = gaussianize(rank_tie_kept(meta.result(weights)))
    mmc = _mmc_from_gauss(gauss_by_model, meta_gauss, t4, n)
    if progress:
        progress(m)
    return corr, mmc


def _mmc_from_gauss(gauss_by_model: np.ndarray, meta_gauss: np.ndarray, t4: np.ndarray,
                    n: int) -> np.ndarray:
    """t4 . (p - m (p.m)/(m.m)) / n for every row p, without forming the residuals."""
    dots = gauss_by_model @ np.column_stack([t4, meta_gauss])
    mm = float(meta_gauss @ meta_gauss)
    tm = float(t4 @ meta_gauss)
    return (dots[:, 0] - tm * dots[:, 1] / mm) / n


def _stake_weights(stakes: np.ndarray | None, m: int) -> np.ndarray:
    """Raw stakes as float64 (ones when None); the meta model divides by their sum last."""
    if stakes is None:
        return np.ones(m)
    w = np.asarray(stakes, dtype=np.float64).ravel()
    if w.shape != (m,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"stakes must be {m} finite non-negative numbers with a positive sum")
    return w


class _MetaAccumulator:
    """sum_j stake_j * rank_j, added strictly in model order, then / sum(stakes).

    The order matters: meta-model values that are mathematically equal (common with equal
    stakes and tied predictions) must also be equal in floating point, or ranking the meta
    model breaks the tie differently from numerai-tools' stake_weight, which sums the
    columns one after another. Blocks arrive from several threads; each waits for its
    predecessor, then continues the running sum row by row (numpy reduces a C-ordered
    block over axis 0 sequentially), so the result is bit-identical to a plain loop.
    """

    def __init__(self, n: int, m: int, block: int):
        self._starts = [j0 for j0, _ in _blocks(m, block)]
        self._done = {j0: threading.Event() for j0 in self._starts}
        self._total: np.ndarray | None = None
        self._failed = False

    def add(self, j0: int, contributions: np.ndarray) -> None:
        k = self._starts.index(j0)
        try:
            if k:
                self._done[self._starts[k - 1]].wait()
                if self._failed:
                    raise RuntimeError("an earlier block of the meta model failed")
                contributions[0] = self._total + contributions[0]
            self._total = contributions.sum(axis=0)
        except BaseException:
            self._failed = True
            raise
        finally:
            self._done[j0].set()

    def abandon(self, j0: int) -> None:
        """A block failed before adding: release its successors instead of hanging them."""
        self._failed = True
        self._done[j0].set()

    def result(self, weights: np.ndarray) -> np.ndarray:
        assert self._total is not None
        return self._total / np.sum(weights)


# --------------------------------------------------------------------------- public metrics
def numerai_corr_matrix(preds: np.ndarray, targets: np.ndarray, *,
                        block_models: int = DEFAULT_BLOCK_MODELS) -> np.ndarray:
    """numerai_corr for every column of preds (ids x models) against targets.

    1. centre the targets, signed power 1.5;
    2. tie-kept rank, gaussianize, signed power 1.5 each column;
    3. Pearson correlation of each column with the targets.
    """
    preds, targets = _check_inputs(preds, targets)
    n, m = preds.shape
    _, _, pow_t = _tables(n)
    tc = _corr_target(targets)
    t_ss = float(tc @ tc)
    out = np.empty(m)

    def block(j0: int, j1: int) -> None:
        powered = pow_t.take(_twice_ranks_rows(_model_rows(preds, j0, j1)), mode="clip")
        out[j0:j1] = _pearson_from_sums(powered @ tc, powered.sum(axis=1),
                                        np.einsum("ij,ij->i", powered, powered), n, t_ss)

    _map_blocks(block, m, block_models)
    return out


def meta_model(preds: np.ndarray, stakes: np.ndarray | None = None, *,
               block_models: int = DEFAULT_BLOCK_MODELS) -> np.ndarray:
    """Stake-weighted mean of the tie-kept ranks of each column (ids x models) -> ids."""
    preds = np.asarray(preds, dtype=np.float64)
    if preds.ndim == 1:
        preds = preds[:, None]
    n, m = preds.shape
    weights = _stake_weights(stakes, m)
    rank_t = _rank_table(n)
    meta = _MetaAccumulator(n, m, block_models)
    for j0, j1 in _blocks(m, block_models):
        meta.add(j0, weights[j0:j1, None]
                 * rank_t.take(_twice_ranks_rows(_model_rows(preds, j0, j1)), mode="clip"))
    return meta.result(weights)


def mmc_matrix(preds: np.ndarray, meta: np.ndarray, targets: np.ndarray, *,
               block_models: int = DEFAULT_BLOCK_MODELS) -> np.ndarray:
    """numerai-tools' correlation_contribution of every column against a given meta model.

    1. tie-kept rank and gaussianize each column and the meta model;
    2. orthogonalise each column with respect to the meta model;
    3. dot with the targets (x4 when in [0, 1], centred), divided by n.
    """
    preds, targets = _check_inputs(preds, targets)
    n, m = preds.shape
    _, gauss_t, _ = _tables(n)
    meta_gauss = gaussianize(rank_tie_kept(np.asarray(meta, dtype=np.float64)))
    t4 = _mmc_target(targets)
    out = np.empty(m)

    def block(j0: int, j1: int) -> None:
        gauss = gauss_t.take(_twice_ranks_rows(_model_rows(preds, j0, j1)), mode="clip")
        out[j0:j1] = _mmc_from_gauss(gauss, meta_gauss, t4, n)

    _map_blocks(block, m, block_models)
    return out


def to_nanos(x: np.ndarray | float | Iterable[float]) -> np.ndarray:
    """Scores as int64 nanos (1e-9), rounded half to even, clipped to [-1e9, 1e9].

    NaN (an undefined score) is an error: the caller must mark such a model INVALID.
    """
    a = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if np.isnan(a).any():
        raise ValueError("cannot convert NaN scores to nanos")
    # np.rint rounds half to even; clipping first keeps infinities inside int64.
    scaled = np.rint(np.clip(a, -1.0, 1.0) * NANOS_PER_UNIT)
    return scaled.astype(np.int64)


# --------------------------------------------------------------------------- diagnostics
def _neutralize(values: np.ndarray, neutralizers: np.ndarray) -> np.ndarray:
    """Subtract the least-squares projection on the neutralizers plus a constant column."""
    exog = np.hstack((neutralizers, np.ones((neutralizers.shape[0], 1))))
    beta = np.linalg.lstsq(exog, values, rcond=1e-6)[0]
    return values - exog.dot(beta)


def feature_neutral_corr(preds: np.ndarray, features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """numerai-tools' feature_neutral_corr for every column (one era).

    1. tie-kept rank and gaussianize; 2. neutralise to the features (least squares with a
    constant); 3. scale to unit std; 4. numerai_corr of the result.
    """
    preds, targets = _check_inputs(preds, targets)
    feats = np.asarray(features, dtype=np.float64)
    neutral = _neutralize(gaussianize(rank_tie_kept(preds)), feats)
    neutral = neutral / np.std(neutral, axis=0)
    return numerai_corr_matrix(neutral, targets)


def max_feature_exposure(preds: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Largest |Pearson correlation| between each column and any single feature."""
    p = np.asarray(preds, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    f = np.asarray(features, dtype=np.float64)
    pc = p - p.mean(axis=0)
    fc = f - f.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (fc.T @ pc) / np.outer(np.sqrt((fc * fc).sum(axis=0)), np.sqrt((pc * pc).sum(axis=0)))
    return np.nanmax(np.abs(c), axis=0)


def per_era_corr(preds: np.ndarray, targets: np.ndarray, eras: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numerai_corr of every column within each era -> (era labels, eras x models)."""
    preds, targets = _check_inputs(preds, targets)
    eras = np.asarray(eras)
    labels, inverse = np.unique(eras, return_inverse=True)
    out = np.empty((len(labels), preds.shape[1]))
    for k in range(len(labels)):
        rows = inverse == k
        out[k] = numerai_corr_matrix(preds[rows], targets[rows])
    return labels, out


def era_stats(era_corrs: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, std (ddof=0, like numerai-tools' sharpe_ratio) and sharpe of per-era corrs."""
    mean = era_corrs.mean(axis=0)
    std = era_corrs.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = mean / std
    return {"mean": mean, "std": std, "sharpe": sharpe}
