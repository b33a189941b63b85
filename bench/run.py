"""`make bench`: runs every benchmark in one process and writes BENCHMARKS.md.

Each benchmark module exposes `run(quick) -> (markdown_section, figures)`; this runner adds
the command, the machine and the date, prints the sections as they finish and writes the
file (BENCHMARKS.md for a full run, reports/BENCHMARKS-quick.md for `--quick`, so a smoke
run never overwrites the committed figures). Targets are reported as met or missed, never
asserted.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = [
    ("scoring", "bench.scoring_bench"),
    ("merkle", "bench.merkle_bench"),
    ("gas", "bench.gas_bench"),
    ("scale", "bench.scale_bench"),
    ("demo", "bench.demo_bench"),
]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, Python {platform.python_version()}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--only", action="append",
                        help="run only these benchmarks (repeatable); their sections replace the old ones")
    parser.add_argument("--out", help="output markdown file")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else (ROOT / "reports" / "BENCHMARKS-quick.md" if args.quick else ROOT / "BENCHMARKS.md")
    command = "make bench" + (" ARGS=--quick" if args.quick else "")
    sections = [f"# Benchmarks\n\nWritten by `{command}` (`python -m bench.run{' --quick' if args.quick else ''}`) "
                f"on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.\n\nMachine: {machine()}.\n\n"
                "Every figure below is measured in this run; targets are reported as met or missed.\n"]
    figures = {}
    failed = []
    for name, module_name in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                print(f"[bench] {name}: not available yet ({module_name} missing)", file=sys.stderr)
                continue
            raise
        started = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            section, data = module.run(quick=args.quick)
        except Exception as exc:  # report and continue: one broken benchmark must not hide the others
            failed.append(name)
            section, data = f"## {name}\n\nFAILED: {type(exc).__name__}: {exc}\n", {"error": str(exc)}
        elapsed = time.perf_counter() - started
        print(section, flush=True)
        sections.append(f"<!-- bench:{name} -->\n{section}\n_{name}: {elapsed:.0f} s of benchmark time, "
                        f"measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC._\n<!-- /bench:{name} -->\n")
        figures[name] = data
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.only and out.exists():
        # Re-run of some benchmarks: replace their sections, keep the others as measured.
        text = out.read_text()
        for name, block in zip([n for n, _ in BENCHMARKS if n in figures], sections[1:]):
            start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->\n"
            if start in text and end in text:
                text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
            else:
                text += "\n" + block
        out.write_text(text)
        json_path = out.with_suffix(".json")
        old = json.loads(json_path.read_text()) if json_path.exists() else {}
        json_path.write_text(json.dumps({**old, **figures}, indent=2, default=str) + "\n")
    else:
        out.write_text("\n".join(sections))
        (out.with_suffix(".json")).write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"[bench] wrote {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
