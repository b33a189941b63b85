"""`kill -9` of a real `tournament operator run` process at random points, then a rerun to completion.

For each seed a round is staked (one model without a file), made Resolvable, and the operator's
CLI runs in a subprocess until SIGKILL lands at a point drawn from the seed: a random moment of
start-up, right after a file of the round folder appears (collect.json, scores.csv, manifest.json)
or after the operator's k-th transaction, plus a random few milliseconds. The same command is run
again to completion; then, past the challenge window, the settlement run is killed the same way
(after a random batch) and rerun. Every seed must end with the round Settled, one proposal, one
StakeSettled per stake and the independent audit passing. SOAK=1 runs more seeds.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_world import NMR, make_world, soak_scale

from tournament.chain.client import PROJECT_ROOT

SEEDS = list(range(soak_scale(2, 12)))
MODELS = 6
BATCH = 2   # 3 settle transactions per round: room to kill between them


@pytest.fixture(scope="module")
def world(deployed, tmp_path_factory):
    w = make_world(deployed, tmp_path_factory, "kill")
    w.add_stakers(3, models_each=MODELS // 3)
    return w


def command(world, rnd, work: Path) -> list[str]:
    return [sys.executable, "-m", "tournament", "operator", "run", "--round", str(rnd.round_id),
            "--targets", str(rnd.targets_path), "--source", str(world.source_dir), "--rpc", world.d.rpc_url,
            "--deployments", world.d.deployments_dir, "--work", str(work), "--anvil-keys", "--local-signer-keys",
            "--max-batch", str(BATCH)]


def run_and_kill(world, cmd: list[str], trigger, rng: random.Random, limit_s: float = 60.0) -> bool:
    """Starts cmd, SIGKILLs it when trigger() holds (plus 0-30 ms); True if it was still running."""
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONHASHSEED": "0"})
    deadline = time.monotonic() + limit_s
    try:
        while proc.poll() is None and not trigger() and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.03))
        alive = proc.poll() is None
        if alive:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if not alive:
            assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        return alive
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_to_end(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def nonce(world) -> int:
    return world.w3.eth.get_transaction_count(world.d.operator.address)


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_at_random_points_then_rerun_settles_exactly_once(world, tmp_path, seed):
    rng = random.Random(1000 + seed)
    work = tmp_path / "work"
    rnd = world.new_round()
    world.open(world.operator(work), rnd)
    for n, s in enumerate(world.stakers):
        world.stake(rnd, s, world.predictions(rnd), (30 + n) * NMR + seed, store=(n != 2))
    world.snapshot_wallets(rnd)
    world.to_resolvable(rnd)
    cmd = command(world, rnd, work)
    folder = work / "rounds" / str(rnd.round_id)

    # 1) collect, score, propose: killed at a random point, then rerun.
    start = nonce(world)
    started = time.monotonic()
    delay = rng.uniform(0.2, 2.0)
    # The point rotates with the seed (so two quick seeds already cover mid-pipeline kills); the
    # exact moment and the extra milliseconds are random.
    where, trigger = [
        ("proposal sent", lambda: nonce(world) > start),
        ("collect.json", lambda: (folder / "collect.json").exists()),
        ("scores.csv", lambda: (folder / "artifacts" / "scores.csv").exists()),
        ("manifest.json", lambda: (folder / "artifacts" / "manifest.json").exists()),
        ("start-up", lambda: time.monotonic() - started > delay),
    ][seed % 5]
    killed_first = run_and_kill(world, cmd, trigger, rng)
    out = run_to_end(cmd)
    assert "Proposed" in out, out

    # 2) settle: killed after a random batch (or during start-up), then rerun.
    world.past_challenge()
    start = nonce(world)
    k = [1, 2, 0][seed % 3]
    started = time.monotonic()
    killed_second = run_and_kill(world, cmd, (lambda: nonce(world) > start + k) if k else
                                 (lambda: time.monotonic() - started > delay), rng)
    out = run_to_end(cmd)
    assert "Settled" in out, out
    print(f"seed {seed}: first kill at {where} ({'mid-run' if killed_first else 'after exit'}), "
          f"settle kill after batch {k} ({'mid-run' if killed_second else 'after exit'})")
    if where != "start-up":
        assert killed_first, f"the kill at {where} came after the operator had exited"
    if k:
        assert killed_second, f"the kill after settle batch {k} came after the operator had exited"

    world.assert_settled_once_and_audited(rnd, work)
    # nothing is left half-written in the round folder
    assert not list(folder.rglob("*.tmp"))
