"""Scale benchmark: a whole round through the real operator pipeline at 100, 1,000, 10,000 models.

Each size gets a fresh anvil (36M-gas blocks), distinct owners (one model each), a prediction
file per model in a content-addressed folder, and then the operator's own steps, timed:
collect (fetch + hash check), score (validate + CORR/MMC + artifacts), propose, settle (batches
sized by the operator from measured gas). Gas of the proposal and of settlement is read from
the receipts. Growth should be linear in models, the proposal constant.
"""
from __future__ import annotations

import logging
import tempfile
import time
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


def _predictions_csv(ids: list[str], values: np.ndarray) -> bytes:
    lines = ["id,prediction"] + [f"{i},{v:.6f}" for i, v in zip(ids, values)]
    return ("\n".join(lines) + "\n").encode()


def measure(n_models: int, seed: int = 3) -> dict:
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
        timings = {}
        for step, call in (("collect", lambda: operator.collect(round_id)),
                           ("score", lambda: operator.score(round_id, targets_path)),
                           ("propose", lambda: operator.propose(round_id))):
            start = time.perf_counter()
            call()
            timings[step] = time.perf_counter() - start
        increase_time(w3, DAY + 1)
        start = time.perf_counter()
        status = operator.settle(round_id)
        timings["settle"] = time.perf_counter() - start
        assert status.phase == "Settled", f"round not settled: {status}"
        proposed = t.events.ResultsProposed().get_logs(from_block=0)[-1]
        propose_gas = w3.eth.get_transaction_receipt(proposed["transactionHash"])["gasUsed"]
        settle_gas = [g for _, g in operator.last_settle_gas]
        return {"models": n_models, "ids": LIVE_IDS, "setup_s": setup_s, **{f"{k}_s": v for k, v in timings.items()},
                "propose_gas": propose_gas, "settle_gas": sum(settle_gas), "settle_txs": len(settle_gas),
                "settle_gas_per_stake": sum(settle_gas) / n_models}


def _deployment(world):
    from tournament.chain.client import Deployment
    return Deployment(chain_id=world.w3.eth.chain_id, nmr=world.nmr.address, tournament=world.tournament.address,
                      deploy_block=0)


def run(quick: bool = False) -> tuple[str, dict]:
    sizes = [40] if quick else [100, 1_000, 10_000]
    rows = [measure(n) for n in sizes]
    lines = ["## Scale: one round through the operator pipeline (anvil, 36M-gas blocks, "
             f"{LIVE_IDS:,} live ids, one owner per model)", "",
             "| models | collect s | score s | propose s | settle s | propose gas | settle gas / stake | settle txs |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['models']:,} | {r['collect_s']:.2f} | {r['score_s']:.2f} | {r['propose_s']:.2f} | "
                     f"{r['settle_s']:.2f} | {r['propose_gas']:,} | {r['settle_gas_per_stake']:,.0f} | "
                     f"{r['settle_txs']} |")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        factor = b["models"] / a["models"]
        lines += ["", f"From {a['models']:,} to {b['models']:,} models ({factor:,.0f}x): score time x"
                  f"{b['score_s'] / a['score_s']:.1f}, settle time x{b['settle_s'] / a['settle_s']:.1f}, "
                  f"settle gas x{b['settle_gas'] / a['settle_gas']:.1f}, propose gas x"
                  f"{b['propose_gas'] / a['propose_gas']:.2f}."]
    if quick:
        lines.insert(1, "_quick mode: 40 models only_")
    return "\n".join(lines) + "\n", {"rows": rows}


if __name__ == "__main__":
    import sys
    logging.basicConfig(level=logging.WARNING)
    print(run(quick="--quick" in sys.argv)[0])
