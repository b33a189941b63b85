"""Scale benchmark: a whole round through the real operator pipeline at 100, 1,000, 10,000 models.

Each size gets a fresh anvil (36M-gas blocks), distinct owners (one model each), a prediction
file per model in a content-addressed folder, and then the operator's own steps, timed:
collect (fetch + hash check), score (validate + CORR/MMC + artifacts), propose, settle (batches
sized by the operator from measured gas). Gas of the proposal and of settlement is read from
the receipts. Growth should be linear in models, the proposal constant.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from eth_account import Account

from bench.gas_bench import DAY, NMR, _participants, _world, bulk
from tournament.chain.devchain import REALISTIC_BLOCK_GAS, Anvil, increase_time
from tournament.operator.pipeline import Operator
from tournament.operator.sources import FolderSource
from tournament.protocol.submissions import submission_hash

log = logging.getLogger(__name__)
LIVE_IDS = 1_000


class RpcCounter:
    """Counts the HTTP requests a Web3's provider makes (a JSON-RPC batch is one request) and
    the JSON-RPC methods inside them, by wrapping its session's POST (below web3's caches and
    retries: what the node actually receives)."""

    def __init__(self, w3) -> None:
        self.requests = 0
        self.methods: Counter = Counter()
        manager = w3.provider._request_session_manager
        inner = manager.make_post_request

        def counted(uri, data, *args, **kwargs):
            self.requests += 1
            try:
                body = json.loads(data)
                for item in body if isinstance(body, list) else [body]:
                    self.methods[item.get("method", "?")] += 1
            except (ValueError, AttributeError):
                self.methods["?"] += 1
            return inner(uri, data, *args, **kwargs)
        manager.make_post_request = counted

    def snapshot(self) -> tuple[int, Counter]:
        return self.requests, Counter(self.methods)

    def since(self, snapshot: tuple[int, Counter]) -> tuple[int, Counter]:
        return self.requests - snapshot[0], self.methods - snapshot[1]


def _predictions_csv(ids: list[str], values: np.ndarray) -> bytes:
    lines = ["id,prediction"] + [f"{i},{v:.6f}" for i, v in zip(ids, values)]
    return ("\n".join(lines) + "\n").encode()


def measure(n_models: int, seed: int = 3, profile_dir: str | None = None) -> dict:
    rng = np.random.default_rng(seed)
    ids = [f"n{x:015x}" for x in rng.integers(0, 16**15, size=LIVE_IDS)]
    targets = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=LIVE_IDS)
    signal = targets + rng.normal(scale=4.0, size=LIVE_IDS)
    with tempfile.TemporaryDirectory() as tmp, Anvil(gas_limit=REALISTIC_BLOCK_GAS) as node:
        tmp_path = Path(tmp)
        store = tmp_path / "store"
        store.mkdir()
        world = _world(node)
        w3, t = world.w3, world.tournament
        t0 = time.perf_counter()
        senders = _participants(world, n_models, seed, 100 * NMR)
        operator = Operator(w3, _deployment(world), world.keys[1], [Account.from_key(k) for k in world.signer_keys[:2]],
                            work_dir=tmp_path / "work", source=FolderSource(store))
        now = w3.eth.get_block("latest")["timestamp"]
        round_id = 1
        operator.open_round(round_id, now + 7 * DAY, now + 35 * DAY, ids)
        with bulk(w3):
            for i, sender in enumerate(senders):
                raw = _predictions_csv(ids, np.clip(0.5 + 0.1 * (signal * (i % 3 != 0) + rng.normal(size=LIVE_IDS)),
                                                    0, 1))
                digest = submission_hash(raw)
                (store / ("0x" + digest.hex())).write_bytes(raw)
                sender.send(t.functions.stake(round_id, sender.model_id, 10 * NMR, 200, 0, digest), gas=200_000)
        assert t.functions.getRound(round_id).call()[2] == n_models, "bench set-up: stakes missing"
        setup_s = time.perf_counter() - t0
        increase_time(w3, 35 * DAY + 1)
        targets_path = tmp_path / "targets.csv"
        targets_path.write_text("id,target\n" + "".join(f"{i},{v}\n" for i, v in zip(ids, targets)))
        counter = RpcCounter(w3)
        timings: dict[str, float] = {}
        calls: dict[str, int] = {}
        methods: dict[str, dict] = {}

        def timed(step: str, call):
            mark, start = counter.snapshot(), time.perf_counter()
            if profile_dir:
                import cProfile
                profiler = cProfile.Profile()
                result = profiler.runcall(call)
                profiler.dump_stats(str(Path(profile_dir) / f"{step}.prof"))
            else:
                result = call()
            timings[step] = time.perf_counter() - start
            calls[step], by_method = counter.since(mark)
            methods[step] = dict(by_method.most_common(6))
            return result

        timed("collect", lambda: operator.collect(round_id))
        timed("score", lambda: operator.score(round_id, targets_path))
        timed("propose", lambda: operator.propose(round_id))
        increase_time(w3, DAY + 1)
        status = timed("settle", lambda: operator.settle(round_id))
        assert status.phase == "Settled", f"round not settled: {status}"
        report = timed("audit", lambda: _audit(w3, operator, round_id, tmp_path / "work"))
        assert report.passed, f"audit failed: {[str(f) for f in report.findings][:5]}"
        proposed = t.events.ResultsProposed().get_logs(from_block=0)[-1]
        propose_gas = w3.eth.get_transaction_receipt(proposed["transactionHash"])["gasUsed"]
        settle_gas = [g for _, g in operator.last_settle_gas]
        total_calls = sum(calls.values())
        return {"models": n_models, "ids": LIVE_IDS, "setup_s": setup_s, **{f"{k}_s": v for k, v in timings.items()},
                **{f"{k}_calls": v for k, v in calls.items()}, "methods": methods,
                "total_s": sum(timings.values()), "total_calls": total_calls,
                "calls_per_stake": total_calls / n_models,
                "propose_gas": propose_gas, "settle_gas": sum(settle_gas), "settle_txs": len(settle_gas),
                "settle_gas_per_stake": sum(settle_gas) / n_models}


def _audit(w3, operator, round_id: int, work_dir: Path):
    """The auditor's whole check of the settled round: chain view at the head, artifacts, recomputation."""
    from tournament.auditor.audit import read_artifacts, read_chain_view, verify_round
    view = read_chain_view(w3, operator.deployment, round_id)
    artifacts = read_artifacts(str(work_dir / "rounds" / str(round_id) / "artifacts"), round_id)
    return verify_round(view, artifacts)


def _deployment(world):
    from tournament.chain.client import Deployment
    return Deployment(chain_id=world.w3.eth.chain_id, nmr=world.nmr.address, tournament=world.tournament.address,
                      deploy_block=0)


# The figures issue 15 started from (BENCHMARKS.md, 2026-11-21, before getStakes pages, the
# eth_abi event decoder, concurrent collect and pipelined settle): 10,000 models, seconds.
BEFORE_10K = {"models": 10_000, "collect_s": 156.10, "score_s": 40.26, "propose_s": 138.43, "settle_s": 178.15}
TARGET_TOTAL_S = 180.0          # 15,000 stakes through collect, score, propose, settle and audit
TARGET_CALLS_PER_STAKE = 0.1    # at most one RPC call (HTTP request) per 10 stakes on average
PHASES = ("collect", "score", "propose", "settle", "audit")


def run(quick: bool = False) -> tuple[str, dict]:
    sizes = [int(x) for x in os.environ.get("SCALE_BENCH_SIZES", "").split(",") if x.strip()] or \
        ([100] if quick else [1_000, 15_000])
    rows = [measure(n) for n in sizes]
    lines = ["## Scale: one round through the operator pipeline and the audit (anvil, 36M-gas blocks, "
             f"{LIVE_IDS:,} live ids, one owner per model)", "",
             "Seconds per phase, and RPC calls (HTTP requests to the node; a JSON-RPC batch is one) per phase. "
             "The audit is `read_chain_view` + `read_artifacts` + `verify_round` (it rescores the round).", "",
             "| models | collect s | score s | propose s | settle s | audit s | total s | RPC calls "
             "(collect/score/propose/settle/audit) | calls per stake | settle txs | settle gas / stake |",
             "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
             f"| {BEFORE_10K['models']:,} (before, 2026-11-21) | {BEFORE_10K['collect_s']:.0f} | "
             f"{BEFORE_10K['score_s']:.0f} | {BEFORE_10K['propose_s']:.0f} | {BEFORE_10K['settle_s']:.0f} | - | "
             f"{sum(v for k, v in BEFORE_10K.items() if k.endswith('_s')):.0f} (no audit) | one getStake call per "
             "stake | - | 27 | 21,721 |"]
    for r in rows:
        calls = "/".join(str(r[f"{p}_calls"]) for p in PHASES)
        lines.append(f"| {r['models']:,} | {r['collect_s']:.1f} | {r['score_s']:.1f} | {r['propose_s']:.1f} | "
                     f"{r['settle_s']:.1f} | {r['audit_s']:.1f} | {r['total_s']:.1f} | {calls} = "
                     f"{r['total_calls']} | {r['calls_per_stake']:.4f} | {r['settle_txs']} | "
                     f"{r['settle_gas_per_stake']:,.0f} |")
    big = max(rows, key=lambda r: r["models"])
    if big["models"] >= 15_000:
        met = lambda ok: "met" if ok else "MISSED"  # noqa: E731
        lines += ["", f"Targets at {big['models']:,} stakes: all five phases in at most {TARGET_TOTAL_S:.0f} s: "
                  f"{met(big['total_s'] <= TARGET_TOTAL_S)} ({big['total_s']:.0f} s); at most one RPC call per "
                  f"10 stakes: {met(big['calls_per_stake'] <= TARGET_CALLS_PER_STAKE)} "
                  f"({big['total_calls']} calls, {big['calls_per_stake']:.4f} per stake). Set-up (owners, "
                  f"deposits, models, stakes; not timed above): {big['setup_s']:.0f} s."]
    lines += ["", "Most frequent RPC methods per phase at the largest size (JSON-RPC methods, inside batches "
              "too): " + "; ".join(f"{p}: " + ", ".join(f"{m} x{n}" for m, n in big["methods"][p].items())
                                   for p in PHASES) + "."]
    if quick:
        lines.insert(1, f"_quick mode: {', '.join(f'{n:,}' for n in sizes)} models only_")
    return "\n".join(lines) + "\n", {"rows": rows}


if __name__ == "__main__":
    import sys
    logging.basicConfig(level=logging.WARNING)
    print(run(quick="--quick" in sys.argv)[0])
