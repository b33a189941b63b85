"""`make bench` in its quick mode: every benchmark runs and its section carries real figures.

Figures are not asserted against targets (benchmarks report, tests don't time); the test
checks that each benchmark ran to the end and wrote what a reader needs.
"""
import json

from bench.run import main


def test_quick_benchmarks_run_and_write_their_sections(tmp_path):
    out = tmp_path / "BENCHMARKS-quick.md"
    assert main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    for heading in ("## Gas", "## Scale", "## End to end", "numerai-tools"):
        assert heading in text, f"{heading} missing from the quick benchmark report"
    assert "FAILED" not in text
    figures = json.loads(out.with_suffix(".json").read_text())
    gas = figures["gas"]
    assert 0 < gas["calls"]["stake (first in round)"] < 1_000_000
    assert gas["rounds"][0]["per_stake"] > 0 and gas["references"]["push_per_recipient"] > 0
    assert figures["scale"]["rows"][0]["settle_txs"] >= 1
    assert all(v > 0 for v in figures["demo"]["timings_s"].values())
