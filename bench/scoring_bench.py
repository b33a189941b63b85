"""Benchmark: round scoring (CORR + meta model + MMC) ours vs numerai-tools, side by side.

Both sides get the same data - an id-indexed DataFrame of predictions (ids x models), an
id-indexed targets Series and stakes - and compute the same three things. Our time includes
turning the DataFrame into the aligned array. numerai-tools is timed on the whole problem
when that is predicted to take under MAX_REFERENCE_SECONDS; otherwise on a prefix of the
models, extrapolated linearly (its cost is per column), and the section says so.
Peak memory of ours is measured in a fresh subprocess (RSS sampled during the call, whole process
including the input array; and tracemalloc's peak for the scoring call alone).
`run(quick)` returns (markdown section, raw figures); `python -m bench.scoring_bench [--quick]`
prints the section.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_REFERENCE_SECONDS = 180.0
TARGET_RATIO = 20.0


def make_round(n_ids: int, n_models: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"n{v:015x}" for v in rng.integers(0, 16**15, n_ids)]
    preds = pd.DataFrame(rng.random((n_ids, n_models)), index=ids,
                         columns=[f"model_{k}" for k in range(n_models)])
    targets = pd.Series(rng.choice([0, 0.25, 0.5, 0.75, 1.0], size=n_ids,
                                   p=[0.05, 0.2, 0.5, 0.2, 0.05]), index=ids, name="target")
    stakes = pd.Series(rng.uniform(0.01, 1000, n_models), index=preds.columns)
    return preds, targets, stakes


def ours(preds: pd.DataFrame, targets: pd.Series, stakes: pd.Series):
    from tournament.protocol import scoring
    aligned = preds.to_numpy(dtype=np.float64)           # Fortran-ordered: no copy per block
    t = targets.reindex(preds.index).to_numpy(dtype=np.float64)
    return scoring.score_round(aligned, t, stakes.reindex(preds.columns).to_numpy())


def reference(preds: pd.DataFrame, targets: pd.Series, stakes: pd.Series):
    from numerai_tools import scoring as nt
    corr = nt.numerai_corr(preds, targets)
    ranked, _ = nt.filter_sort_index(preds, targets)
    meta = nt.stake_weight(nt.tie_kept_rank(ranked), stakes)
    mmc = nt.correlation_contribution(preds, meta, targets)
    return corr.to_numpy(), mmc.to_numpy()


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def _memory_probe(n_ids: int, n_models: int) -> dict:
    """Peak memory of our scoring in a fresh process (the parent already holds other data).

    RSS is sampled by a thread during the scoring call: `ru_maxrss` is not usable here, since
    Linux carries it across fork+exec, so a child would report its parent's larger peak.
    """
    code = f"""
import json, sys, threading, time, tracemalloc
import psutil
sys.path.insert(0, {str(ROOT)!r})
from bench.scoring_bench import make_round, ours
preds, targets, stakes = make_round({n_ids}, {n_models})
proc = psutil.Process()
before = proc.memory_info().rss
peak = [before]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.005)
sampler = threading.Thread(target=sample)
sampler.start()
tracemalloc.start()
ours(preds, targets, stakes)
_, traced = tracemalloc.get_traced_memory()
tracemalloc.stop()
done.set()
sampler.join()
peak[0] = max(peak[0], proc.memory_info().rss)
print(json.dumps({{"rss_before_mb": before / 2**20, "rss_peak_mb": peak[0] / 2**20,
                  "scoring_peak_mb": traced / 2**20}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_case(n_ids: int, n_models: int, repeats: int = 2, log=print) -> dict:
    preds, targets, stakes = make_round(n_ids, n_models)
    our_times = []
    for _ in range(repeats):
        seconds, (corr, mmc) = _timed(ours, preds, targets, stakes)
        our_times.append(seconds)
    our_s = min(our_times)
    log(f"  ours {n_models} models x {n_ids} ids: {our_s:.2f}s")

    # how long would numerai-tools take? time a prefix first, then decide
    probe_models = min(n_models, max(50, n_models // 20))
    probe_s, _ = _timed(reference, preds.iloc[:, :probe_models], targets, stakes.iloc[:probe_models])
    predicted = probe_s * n_models / probe_models
    if predicted <= MAX_REFERENCE_SECONDS or probe_models == n_models:
        measured_models = n_models
        ref_s, (ref_corr, ref_mmc) = _timed(reference, preds, targets, stakes)
        ref_total = ref_s
    else:
        # the meta model needs every model, so it is computed once outside the timed part
        measured_models = max(probe_models, int(n_models * MAX_REFERENCE_SECONDS / predicted / 2))
        sub = preds.iloc[:, :measured_models]
        ref_s, (ref_corr, ref_mmc) = _timed(reference, sub, targets, stakes.iloc[:measured_models])
        ref_total = ref_s * n_models / measured_models
        corr, mmc = corr[:measured_models], None   # MMC differs: the subset has its own meta model
    log(f"  numerai-tools {measured_models} models: {ref_s:.1f}s"
        + ("" if measured_models == n_models else f" -> {ref_total:.1f}s extrapolated"))
    corr_diff = float(np.max(np.abs(corr - ref_corr)))
    mmc_diff = float(np.max(np.abs(mmc - ref_mmc))) if mmc is not None else None
    memory = _memory_probe(n_ids, n_models)
    return {"ids": n_ids, "models": n_models, "ours_s": our_s, "ours_runs_s": our_times,
            "numerai_tools_s": ref_total, "numerai_tools_measured_models": measured_models,
            "numerai_tools_measured_s": ref_s, "extrapolated": measured_models != n_models,
            "ratio": ref_total / our_s, "max_abs_diff_corr": corr_diff,
            "max_abs_diff_mmc": mmc_diff, **memory}


def run(quick: bool = False, log=None) -> tuple[str, dict]:
    """Benchmark 1,000 and 10,000 models x 5,000 ids (quick: 1,000 ids, 50 and 200 models)."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    n_ids, sizes = (1000, [50, 200]) if quick else (5000, [1000, 10000])
    cases = [bench_case(n_ids, m, log=log) for m in sizes]
    lines = ["## Scoring: CORR + meta model + MMC, ours vs numerai-tools", "",
             f"Random predictions (float64) for {n_ids:,} ids, stake-weighted meta model; both sides "
             "start from the same id-indexed DataFrame. numerai-tools "
             f"{_version()} computes `numerai_corr`, `stake_weight(tie_kept_rank(...))` and "
             "`correlation_contribution`; ours is `tournament.protocol.scoring.score_round`. "
             f"Machine: {_machine()}." + (" Quick run (small sizes)." if quick else ""), "",
             "| models | ids | ours (s) | numerai-tools (s) | ratio | max abs Δcorr | max abs Δmmc "
             "| peak RSS ours, input included (MB) | scoring peak (tracemalloc, MB) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cases:
        ref = f"{c['numerai_tools_s']:.1f}" + (" *" if c["extrapolated"] else "")
        mmc = "n/a *" if c["max_abs_diff_mmc"] is None else f"{c['max_abs_diff_mmc']:.1e}"
        lines.append(f"| {c['models']:,} | {c['ids']:,} | {c['ours_s']:.2f} | {ref} | "
                     f"{c['ratio']:.0f}x | {c['max_abs_diff_corr']:.1e} | {mmc} | "
                     f"{c['rss_peak_mb']:.0f} | {c['scoring_peak_mb']:.0f} |")
    if any(c["extrapolated"] for c in cases):
        for c in cases:
            if c["extrapolated"]:
                lines += ["", f"\\* numerai-tools was timed on the first "
                          f"{c['numerai_tools_measured_models']:,} of {c['models']:,} models "
                          f"({c['numerai_tools_measured_s']:.1f}s) and extrapolated linearly "
                          "(its work is one pandas column at a time); the MMC difference is not "
                          "shown because that subset has its own meta model."]
    lines += ["", f"Target: ratio >= {TARGET_RATIO:.0f}x at 10,000 models, peak memory < 4 GB. "
              "Ours is the best of 2 runs; numerai-tools one run."]
    return "\n".join(lines) + "\n", {"quick": quick, "cases": cases}


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("numerai-tools")
    except Exception:
        return "?"


def _machine() -> str:
    import os
    import platform
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}"


if __name__ == "__main__":
    section, figures = run(quick="--quick" in sys.argv[1:])
    print(section)
