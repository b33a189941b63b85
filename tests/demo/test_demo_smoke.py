"""A reduced `make demo` (fewer rounds, participants and ids), run twice with one seed, and once failing.

It must finish with every round settled and audited PASS, the supply fallen by exactly the
burns, and the trust model at work with real processes: three co-signers (own keystores) that
sign each accepted proposal over HTTP and all refuse the round scored against wrong targets;
a watchtower that vetoes the colluding proposal on its own (naming the withheld, receipted
file) and leaves every honest one alone; a targets source. Both runs give identical scores
and payouts; every child process is gone after a run, and after a run that fails midway.
"""
import json
import os

import pytest

from tournament.demo.run import Demo, DemoFailed, DemoSettings


def _settings(out_dir):
    return DemoSettings(out_dir=out_dir, seed=11, rounds=2, participants=5, models_per_participant=2,
                        ids_per_era=300, eras=30, refusal_round_index=0, veto_round_index=1, progress=False)


def _run(out_dir):
    lines = []
    demo = Demo(_settings(out_dir), echo=lines.append)
    return demo, demo.run(), lines


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _assert_children_stopped(demo):
    names = sorted(c.name for c in demo.children.children)
    assert names == ["signer-7", "signer-8", "signer-9", "targets-source", "watchtower"]
    for child in demo.children.children:
        assert child.process.returncode is not None, f"{child.name} still running"
        assert _gone(child.process.pid), f"{child.name} (pid {child.process.pid}) still exists"


def test_reduced_demo_runs_audits_and_repeats(tmp_path):
    demo, first, lines = _run(tmp_path / "a")
    _assert_children_stopped(demo)
    assert [r.audit for r in first.rounds] == ["PASS", "PASS"]
    assert [r.vetoes for r in first.rounds] == [0, 1]
    assert all(r.staked > 0 for r in first.rounds)
    assert first.initial_supply_wei - first.final_supply_wei == sum(r.burned_wei for r in first.rounds)

    # (a) every co-signer refused the wrong targets, then two signed the re-scored round over HTTP.
    refusal, collusion = first.rounds
    assert sorted(r.split(":")[0] for r in refusal.refusals) == ["signer-7", "signer-8", "signer-9"]
    assert all("targets differ from the targets source" in r for r in refusal.refusals)
    assert len(refusal.signers) == 2 and set(refusal.signers) <= {"signer-7", "signer-8", "signer-9"}
    assert refusal.watchtower == ["0: PASS (left alone)"]
    # (b) the watchtower vetoed the colluding attempt 0 on its own, naming the receipted file; attempt 1 passed.
    assert len(collusion.veto_reasons) == 1 and "receipt" in collusion.veto_reasons[0]
    assert collusion.watchtower == ["0: FAIL (vetoed)", "1: PASS (left alone)"]
    assert len(collusion.signers) == 2
    assert any("WATCHTOWER VETOED attempt 0 on its own" in line for line in lines)
    assert any("webhook alert: watchtower vetoed round" in line for line in lines)
    assert any(line.startswith("Leaderboard") for line in lines)

    out = tmp_path / "a"
    for index in (7, 8, 9):
        keystore = json.loads((out / "keystores" / f"signer-{index}.json").read_text())
        assert "crypto" in keystore and "private" not in json.dumps(keystore).lower()
        decisions = [json.loads(x) for x in (out / "signers" / f"signer-{index}" / "decisions.jsonl")
                     .read_text().splitlines()]
        assert any(d["decision"] == "refused" for d in decisions)
    for round_summary in first.rounds:
        receipts = json.loads((out / "work" / "rounds" / str(round_summary.round_id) / "artifacts" /
                               "receipts.json").read_text())
        assert len(receipts) >= round_summary.staked - 2   # every upload but the refused and the never-sent file
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["rounds"]) == 2 and summary["rounds"][1]["veto_reasons"]
    assert (out / "anvil-state.json").stat().st_size > 0

    demo_b, second, _ = _run(tmp_path / "b")
    _assert_children_stopped(demo_b)
    assert second.leaderboard == first.leaderboard
    assert [(r.rewards_wei, r.burned_wei, r.total_at_risk_wei, r.scored_at_risk_wei) for r in second.rounds] == \
        [(r.rewards_wei, r.burned_wei, r.total_at_risk_wei, r.scored_at_risk_wei) for r in first.rounds]


def test_failing_demo_stops_every_process(tmp_path, monkeypatch):
    def broken(self):
        raise RuntimeError("injected failure after the processes started")
    monkeypatch.setattr(Demo, "_participants", broken)
    demo = Demo(_settings(tmp_path / "f"), echo=lambda line: None)
    with pytest.raises(DemoFailed, match="injected failure"):
        demo.run()
    _assert_children_stopped(demo)
    assert demo.node is not None and demo.node.process is None   # anvil stopped too
