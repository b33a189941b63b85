"""A reduced `make demo` (fewer rounds, participants and ids), run twice with one seed.

It must finish with every round settled and audited PASS, the supply fallen by exactly the
burns, the veto round re-proposed, and identical scores and payouts on both runs.
"""
import json

from tournament.demo.run import DemoSettings, run_demo


def _run(out_dir):
    settings = DemoSettings(out_dir=out_dir, seed=11, rounds=2, participants=5, models_per_participant=2,
                            ids_per_era=300, eras=30, progress=False)
    lines = []
    return run_demo(settings, echo=lines.append), lines


def test_reduced_demo_runs_audits_and_repeats(tmp_path):
    first, lines = _run(tmp_path / "a")
    assert [r.audit for r in first.rounds] == ["PASS", "PASS"]
    assert [r.vetoes for r in first.rounds] == [0, 1]
    assert all(r.staked > 0 for r in first.rounds)
    assert first.initial_supply_wei - first.final_supply_wei == sum(r.burned_wei for r in first.rounds)
    assert any("guardian vetoed" in line for line in lines)
    assert any(line.startswith("Leaderboard") for line in lines)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert len(summary["rounds"]) == 2
    assert (tmp_path / "a" / "anvil-state.json").stat().st_size > 0

    second, _ = _run(tmp_path / "b")
    assert second.leaderboard == first.leaderboard
    assert [(r.rewards_wei, r.burned_wei, r.total_at_risk_wei) for r in second.rounds] == \
        [(r.rewards_wei, r.burned_wei, r.total_at_risk_wei) for r in first.rounds]
