"""The staking app's leaderboard and diagnostics endpoints, with Flask's test client, on anvil.

GET /api/leaderboard after one settled round lists its models with the NMR each earned (read
back from the chain's settlement events, in wei and exact NMR); POST /api/diagnostics on a
validation predictions file made from `tournament data generate` data returns exactly what
`tournament participant diagnostics --json` prints, and its SVG chart; a bad file gets the CLI's
one line, and an app without a data folder answers 404 with one line.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from flask import Flask

from tests.participant.test_participant_client import NMR, client, open_round, predictions_file, world  # noqa: F401  (world is a fixture)
from tests.participant.test_participant_rounds import settle_round
from tournament.chain.devchain import increase_time
from tournament.data import example_model as em
from tournament.data import synthetic
from tournament.participant import diagnostics as dg
from tournament.protocol.units import format_nmr
from tournament.webapp import create_blueprint

DAY = 86_400


def tournament_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tournament", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("insights") / "data"
    run = tournament_cli("data", "generate", "--out", str(folder), "--seed", "5", "--eras", "16", "--ids", "120",
                         "--features", "6")
    assert run.returncode == 0, run.stderr
    return folder


def app_client(deployed, data_dir=None):
    app = Flask("webapp-insights-under-test")
    app.register_blueprint(create_blueprint(deployed.w3, deployed.deployment, data_dir=data_dir), url_prefix="/stake")
    return app.test_client()


def test_leaderboard_lists_a_settled_rounds_models_with_their_nmr(deployed, world, tmp_path):  # noqa: F811
    web = app_client(deployed)
    assert web.get("/stake/api/leaderboard").get_json()["rows"] == []
    alice, bob = client(deployed, world, deployed.keys[3]), client(deployed, world, deployed.keys[4])
    a, b = alice.create_model("web-alice"), bob.create_model("web-bob")
    alice.deposit(100 * NMR)
    bob.deposit(100 * NMR)
    open_round(deployed, world, 1, close_in_s=DAY)
    alice.submit(1, a, predictions_file(tmp_path / "a.csv", world["ids"], 1), 50 * NMR, 200)
    bob.submit(1, b, predictions_file(tmp_path / "b.csv", world["ids"], 2), 20 * NMR, 100)
    increase_time(deployed.w3, 30 * DAY)
    settle_round(deployed, world["operator"], 1, {a: 50 * NMR, b: 20 * NMR},
                 {a: (30_000_000, 5_000_000), b: (-20_000_000, -1_000_000)})

    board = web.get("/stake/api/leaderboard").get_json()
    rows = {r["modelId"]: r for r in board["rows"]}
    assert [r["modelId"] for r in board["rows"]] == [a, b]          # best reputation first
    for model_id, who, name in ((a, alice, "web-alice"), (b, bob, "web-bob")):
        earned_wei = sum(h.payout_wei for h in who.history() if h.model_id == model_id)
        row = rows[model_id]
        assert (row["modelName"], row["rounds"], row["owner"]) == (name, 1, who.address)
        assert int(row["earnedWei"]) == earned_wei and row["earnedNmr"] == format_nmr(earned_wei)
    assert int(rows[a]["earnedWei"]) > 0 > int(rows[b]["earnedWei"])
    assert rows[a]["meanCorr"] == pytest.approx(0.03) and rows[a]["meanMmc"] == pytest.approx(0.005)
    assert rows[a]["returnRatio"] == pytest.approx(int(rows[a]["earnedWei"]) / (50 * NMR))
    assert rows[b]["reputation"] == pytest.approx(-0.02)


def validation_predictions(data_dir, path):
    """The example model's validation predictions plus noise, ranked per era (a valid file)."""
    train, validation = synthetic.read_split(data_dir, "train"), synthetic.read_split(data_dir, "validation")
    features = synthetic.feature_names(train)
    raw = em.fit_ridge(train, features, alpha=10.0).predict(validation)
    noisy = raw + np.random.default_rng(4).normal(scale=raw.std(), size=len(raw))
    pd.DataFrame({"id": validation.index, "prediction": dg.to_submission(noisy, validation.era.to_numpy())}
                 ).to_csv(path, index=False)
    return path


def test_diagnostics_equal_the_command(deployed, data_dir, tmp_path):
    path = validation_predictions(data_dir, tmp_path / "val.csv")
    answer = app_client(deployed, data_dir).post("/stake/api/diagnostics?name=val.csv", data=path.read_bytes())
    assert answer.status_code == 200, answer.get_json()
    web = answer.get_json()
    run = tournament_cli("participant", "diagnostics", str(path), "--data", str(data_dir), "--json",
                         "--chart", str(tmp_path / "cli.svg"))
    assert run.returncode == 0, run.stderr
    cli = json.loads(run.stdout)
    assert web.pop("chart") == (tmp_path / "cli.svg").read_text()
    cli.pop("chart")
    assert json.dumps(web, sort_keys=True) == json.dumps(cli, sort_keys=True)   # the same numbers, to the bit
    assert web["eras"] > 5 and web["corr"]["mean"] != 0


def test_diagnostics_mistakes_are_one_line(deployed, data_dir, tmp_path):
    web = app_client(deployed, data_dir)
    (tmp_path / "bad.csv").write_text("identifier,prediction\nx,0.5\n")
    answer = web.post("/stake/api/diagnostics?name=bad.csv", data=b"identifier,prediction\nx,0.5\n")
    run = tournament_cli("participant", "diagnostics", "bad.csv", "--data", str(data_dir), cwd=tmp_path)
    assert answer.status_code == 400 and run.returncode == 1
    assert run.stderr.strip() == f"Error: {answer.get_json()['error']}"
    assert "bad.csv" in answer.get_json()["error"] and "\n" not in answer.get_json()["error"]
    unknown = web.post("/stake/api/diagnostics?name=other.csv", data=b"id,prediction\nnot-an-id,0.5\n").get_json()
    assert unknown["error"].startswith("other.csv") and "\n" not in unknown["error"]

    off = app_client(deployed).post("/stake/api/diagnostics", data=b"id,prediction\n")
    assert off.status_code == 404
    assert "no data folder configured" in off.get_json()["error"] and "\n" not in off.get_json()["error"]
