"""Hostile prediction files (tests/reliability/hostile_corpus.py) through every door a file comes in.

`tournament validate` (in process for the whole corpus, plus two real subprocesses) and the
submission API (a real loopback server on the test chain) give each file its exact verdict with the same words;
nothing answers 500 and the service still takes a good upload afterwards. Then the operator's
`collect` on a round where one staker per hostile file stakes on it via the contract directly
(keccak of the hostile bytes, file in a FolderSource): collect, score, propose and settle finish
the round; every invalid file's stake is INVALID with the validator's message in scores.csv and
its owner's wallet gets the stake back to the wei; the files that are valid by the protocol are
SCORED; the independent audit passes.
"""
from __future__ import annotations

import csv
import io
import subprocess
import sys
import time

import hostile_corpus
import pytest
import requests
from click.testing import CliRunner
from eth_hash.auto import keccak
from reliability_world import NMR, LoopbackServer, make_world

from tournament.cli.main import main as cli_main
from tournament.operator.submission_service.app import ApiSettings, create_app
from tournament.operator.submission_service.store import hash_hex
from tournament.participant.client import sign_upload
from tournament.protocol.submissions import MAX_SUBMISSION_BYTES, validate_predictions

IDS = [f"n{k:04d}" for k in range(40)]
API_MAX_BYTES = 20 * 1024 * 1024   # the service's default limit


@pytest.fixture(scope="module")
def corpus():
    return hostile_corpus.build(IDS)


def test_corpus_is_broad_and_names_its_verdicts(corpus):
    invalid = [c for c in corpus if not c.valid]
    assert len(corpus) >= 30 and len(invalid) >= 30
    # every rule the validator knows is exercised at least once
    assert {c.rule for c in invalid} >= {"binary", "not_a_table", "too_large", "wrong_columns", "not_a_number",
                                         "not_finite", "out_of_range", "empty", "duplicate_ids", "missing_ids",
                                         "constant"}
    assert {"negative_zero", "subnormal_1e-320", "scientific_notation"} <= {c.name for c in corpus if c.valid}


def _detail(message: str) -> str:
    """The message without its leading file name (the API names the file 'round R model M')."""
    return message.split(": ", 1)[1]


def test_validate_cli_gives_every_file_its_exact_verdict(corpus, tmp_path):
    live = tmp_path / "live_ids.csv"
    live.write_text("id\n" + "\n".join(IDS) + "\n")
    runner = CliRunner()
    for case in corpus:
        path = tmp_path / case.name
        path.write_bytes(case.raw)
        started = time.monotonic()
        result = runner.invoke(cli_main, ["validate", str(path), "--live-ids", str(live)])
        elapsed = time.monotonic() - started
        assert result.exception is None or isinstance(result.exception, SystemExit), (case.name, result.exception)
        assert elapsed < 10, f"{case.name}: validate took {elapsed:.1f}s"
        expected = validate_predictions(case.raw, IDS, name=case.name)
        if case.valid:
            assert result.exit_code == 0, (case.name, result.output)
            assert f"valid, {len(IDS)} predictions" in result.output
            assert "0x" + keccak(case.raw).hex() in result.output
            assert expected.valid
        else:
            assert result.exit_code == 1, (case.name, case.why, result.output)
            assert expected.rule == case.rule, (case.name, expected.rule, case.why)
            message = result.stderr.strip() if hasattr(result, "stderr") else result.output.strip()
            # one clear line: the file, what is wrong, what to do; never a traceback
            assert "Traceback" not in result.output
            assert message == expected.message, case.name
            assert message.startswith(f"{case.name}: ") and "; " in message


@pytest.mark.parametrize("name", ["gzip_bomb", "huge_line"])
def test_validate_as_a_real_process_refuses_bombs_quickly(corpus, tmp_path, name):
    """The real `tournament validate` entry point: exit 1, one line, no traceback, bounded time and memory."""
    case = next(c for c in corpus if c.name == name)
    live = tmp_path / "live_ids.csv"
    live.write_text("id\n" + "\n".join(IDS) + "\n")
    path = tmp_path / name
    path.write_bytes(case.raw)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tournament", "validate", str(path), "--live-ids", str(live)],
                          capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 30
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0] == validate_predictions(case.raw, IDS, name=name).message


# ------------------------------------------------------------------ the submission API

class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def world(deployed, tmp_path_factory):
    return make_world(deployed, tmp_path_factory, "hostile")


def test_submission_api_refuses_each_hostile_file_with_its_reason_and_keeps_serving(world, corpus, tmp_path):
    deployed = world.d
    work = tmp_path / "work"
    rnd = world.new_round()
    (work / "rounds" / str(rnd.round_id)).mkdir(parents=True)
    (work / "rounds" / str(rnd.round_id) / "live_ids.csv").write_text("id\n" + "\n".join(IDS) + "\n")
    world.open(world.operator(tmp_path / "op"), rnd)
    staker = world.add_stakers(1)[0]
    clock = Clock()
    app = create_app(ApiSettings(deployed.w3, deployed.deployment, tmp_path / "data", work,
                                 max_upload_bytes=API_MAX_BYTES, clock=clock,
                                 max_uploads_per_model=len(corpus)))   # the storage cap has its own test
    server = LoopbackServer(app).__enter__()
    session = requests.Session()
    store = app.extensions["submission_store"]
    chain_id = deployed.w3.eth.chain_id
    stored = []
    for case in corpus:
        expiry = deployed.w3.eth.get_block("latest")["timestamp"] + 600
        digest = hash_hex(case.raw)
        signature = sign_upload(staker.account, chain_id, deployed.deployment.tournament, rnd.round_id,
                                staker.model_id, digest, expiry)
        clock.now += 60   # rate limits have their own tests
        headers = {"X-Signature": signature, "X-Expiry": str(expiry), "X-Submission-Hash": digest,
                   "Content-Type": "application/octet-stream"}
        if case.name == "gzip_bomb":
            headers["Content-Encoding"] = "gzip"   # the service must not inflate it either
        answer = session.post(f"{server.url}/v1/rounds/{rnd.round_id}/models/{staker.model_id}/submission",
                              data=case.raw, headers=headers, timeout=60)
        assert answer.status_code != 500, case.name
        body = answer.json()
        if case.valid:
            assert answer.status_code == 201, (case.name, body)
            assert body["submissionHash"] == digest
            stored.append(digest)
        elif len(case.raw) > API_MAX_BYTES:
            assert answer.status_code == 413, (case.name, body)
            assert "larger than" in body["error"] or "more than" in body["error"]
        else:
            assert answer.status_code == 400, (case.name, body)
            assert body["error"] == f"round {rnd.round_id} model {staker.model_id}: " + _detail(
                validate_predictions(case.raw, IDS, name=case.name).message), case.name
    # Only valid files were kept; the latest is the last valid one; the service still works.
    history = [r.file_hash for r in store.history(rnd.round_id, staker.model_id)]
    assert history == stored
    assert sorted(p.name for p in (tmp_path / "data" / "files").iterdir() if not p.name.startswith(".")) == \
        sorted(set(stored))
    try:
        assert session.get(f"{server.url}/v1/health", timeout=10).status_code == 200
    finally:
        server.__exit__(None, None, None)


# ------------------------------------------------------------------ the operator's collect

def test_collect_marks_each_hostile_stake_invalid_and_refunds_it_to_the_wei(world, corpus, tmp_path):
    rnd = world.new_round()
    rnd.live_ids = IDS   # the corpus is built for these ids
    rnd.targets_path.write_text("id,target\n" + "".join(f"{i},{[0, 0.25, 0.5, 0.75, 1][k % 5]}\n"
                                                         for k, i in enumerate(IDS)))
    work = tmp_path / "work"
    op = world.operator(work, max_batch_leaves=25)
    world.open(op, rnd)
    # One owner holds every invalid file's model, another every valid one: each wallet is checked to the wei.
    invalid_cases = [c for c in corpus if not c.valid]
    valid_cases = [c for c in corpus if c.valid]
    bad_models = world.add_stakers(1, models_each=len(invalid_cases))
    good_models = world.add_stakers(1, models_each=len(valid_cases))
    by_model = {}
    for n, (staker, case) in enumerate(zip(bad_models + good_models, invalid_cases + valid_cases)):
        world.stake(rnd, staker, case.raw, (10 + n) * NMR + n)   # odd wei amounts: nothing rounds away
        by_model[staker.model_id] = case
    world.snapshot_wallets(rnd)
    world.to_resolvable(rnd)
    started = time.monotonic()
    status = op.run(rnd.round_id, rnd.targets_path)
    assert status.phase == "Proposed", status
    world.past_challenge()
    status = world.operator(work, max_batch_leaves=25).run(rnd.round_id)
    assert status.phase == "Settled", status
    elapsed = time.monotonic() - started
    assert elapsed < 120, f"the round took {elapsed:.0f}s with hostile files"

    events, report = world.assert_settled_once_and_audited(rnd, work)
    rows = {int(r["model_id"]): r for r in csv.DictReader(io.StringIO(
        (op.artifacts_dir(rnd.round_id) / "scores.csv").read_text()))}
    refunded_wei = 0
    for event in events:
        model = int(event["args"]["modelId"])
        case = by_model[model]
        owner, stake_wei, _ = rnd.stakes[model]
        assert event["args"]["stake"] == stake_wei
        if case.valid:
            assert event["args"]["status"] == 1, case.name
            assert rows[model]["status"] == "SCORED"
        else:
            assert event["args"]["status"] == 2, (case.name, case.why)
            assert rows[model]["status"] == "INVALID"
            assert rows[model]["message"].endswith(_detail(validate_predictions(case.raw, IDS, name="x").message))
            assert event["args"]["payout"] == 0 and event["args"]["burned"] == 0
            refunded_wei += stake_wei
    bad_owner = bad_models[0].account.address
    assert refunded_wei == sum(rnd.stakes[s.model_id][1] for s in bad_models)
    # the owner of every hostile file got each whole stake back, to the wei, and nothing else
    assert world.t.functions.balanceOf(bad_owner).call() - rnd.wallets_before[bad_owner] == refunded_wei
    # every received file is published exactly as uploaded (the oversized one too)
    for model, case in by_model.items():
        published = list((op.artifacts_dir(rnd.round_id) / "submissions").glob(f"{model}.*"))
        assert len(published) == 1 and published[0].read_bytes() == case.raw, case.name
    assert MAX_SUBMISSION_BYTES < len(next(c for c in corpus if c.name == "oversized").raw)
