"""End-to-end benchmark: `make demo`'s wall time, split by phase.

Runs the demo exactly as `make demo` does (the default settings; reduced ones with --quick)
into a temporary folder and reports each phase's seconds from the demo's own clock.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.gas_bench import forget_opened_rounds
from tournament.demo.run import DemoSettings, run_demo


def run(quick: bool = False) -> tuple[str, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = DemoSettings(out_dir=Path(tmp) / "demo", progress=False)
        if quick:
            settings = DemoSettings(out_dir=Path(tmp) / "demo", rounds=2, participants=6, models_per_participant=2,
                                    ids_per_era=500, eras=30, progress=False)
        forget_opened_rounds()   # the demo's anvil reuses the chain id and addresses of earlier benchmarks
        started = time.perf_counter()
        result = run_demo(settings, echo=lambda line: None)
        wall_s = time.perf_counter() - started
    stakes = sum(r.staked for r in result.rounds)
    lines = [f"## End to end: `make demo` ({settings.rounds} rounds, {settings.participants} participants x "
             f"{settings.models_per_participant} models, {settings.ids_per_era:,} live ids; {stakes} stakes settled)",
             "", "| phase | seconds |", "|---|---:|"]
    for name, seconds in result.timings_s.items():
        lines.append(f"| {name} | {seconds:.1f} |")
    lines += ["", f"Wall time {wall_s:.1f} s (target: under 5 minutes on a 2-core machine: "
              f"{'met' if wall_s < 300 else 'MISSED'}). Every round audited: "
              f"{', '.join(r.audit for r in result.rounds)}."]
    if quick:
        lines.insert(1, "_quick mode: a reduced demo_")
    return "\n".join(lines) + "\n", {"timings_s": result.timings_s, "wall_s": wall_s, "stakes": stakes}


if __name__ == "__main__":
    import sys
    print(run(quick="--quick" in sys.argv)[0])
