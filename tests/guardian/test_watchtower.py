"""The watchtower on anvil: vetoes bad proposals inside their window with the first finding, leaves
good ones alone, resumes after a crash or a kill without ever vetoing twice, alerts a webhook,
and refuses receipts not signed by a RECEIPT_ROLE holder."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from eth_hash.auto import keccak
from guardian_world import PROPOSED, RESOLVABLE, RoundCase, watch_settings

from tournament.guardian.receipts_inbox import ReceiptsInbox, parse_receipt
from tournament.guardian.watch import AlertSink, Watchtower, serve_http

VALID4 = ["valid", "valid", "valid", "valid"]


def tower(world, state=None, **kw):
    alerts = kw.pop("alerts", None)
    hook = kw.pop("hook", None)
    veto = kw.pop("veto", None)
    d = world.h.world
    return Watchtower(d.w3, d.deployment, d.guardian, watch_settings(world, state, **kw), alerts=alerts, hook=hook,
                      veto=veto)


class Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hook.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_port}/hook", Hook.received
    server.shutdown()


def test_vetoes_withheld_file_leaves_good_alone_and_survives_a_broken_round(world, tmp_path):
    good, bad, broken = world.propose_rounds([RoundCase(VALID4), RoundCase(VALID4, withhold=[1]),
                                              RoundCase(VALID4)])
    ReceiptsInbox(world.tmp / "receipts").add(parse_receipt(bad.receipts[0]))
    # The third round's artifacts are not published: its audit cannot run, which must not stop the others.
    hidden = tmp_path / "hidden"
    shutil.move(str(world.work / "rounds" / str(broken.plan.round_id) / "artifacts"), str(hidden))

    verdicts = {v.round_id: v for v in tower(world, tmp_path / "state").run_once()}

    assert verdicts[good.plan.round_id].verdict == "PASS"
    assert verdicts[good.plan.round_id].action == "left alone"
    assert world.phase_attempt(good.plan.round_id) == (PROPOSED, 0)
    assert world.vetoes(good.plan.round_id) == []

    model = bad.withheld_models[0]
    assert verdicts[bad.plan.round_id].verdict == "FAIL"
    assert verdicts[bad.plan.round_id].action == "vetoed"
    vetoes = world.vetoes(bad.plan.round_id)
    assert len(vetoes) == 1 and vetoes[0]["attempt"] == 0
    reason = vetoes[0]["reason"]
    assert reason.startswith(f"model {model} ") and "shows the committed file was uploaded" in reason, reason
    assert vetoes[0]["guardian"] == world.h.world.guardian.address
    assert world.phase_attempt(bad.plan.round_id) == (RESOLVABLE, 1)

    assert verdicts[broken.plan.round_id].verdict == "ERROR"
    assert verdicts[broken.plan.round_id].reason.startswith("audit could not run:")
    assert world.phase_attempt(broken.plan.round_id) == (PROPOSED, 0), "an audit error never vetoes"

    # Published late, the broken round is audited at the next pass (PASS); nothing is vetoed twice.
    shutil.move(str(hidden), str(world.work / "rounds" / str(broken.plan.round_id) / "artifacts"))
    again = {v.round_id: v for v in tower(world, tmp_path / "state").run_once()}
    assert set(again) == {broken.plan.round_id}, "decided proposals are not audited again"
    assert again[broken.plan.round_id].verdict == "PASS"
    assert len(world.vetoes(bad.plan.round_id)) == 1 and world.vetoes(good.plan.round_id) == []
    world.h.past_challenge()     # let these windows close: later tests start from a clean chain


def test_wrong_targets_are_vetoed_and_the_webhook_hears_it(world, tmp_path, webhook):
    url, received = webhook
    (rnd,) = world.propose_rounds([RoundCase(VALID4, wrong_targets=True)])
    rid = rnd.plan.round_id
    (verdict,) = tower(world, None, alerts=AlertSink([url])).run_once()
    assert verdict.verdict == "FAIL" and verdict.action == "vetoed"
    (veto,) = world.vetoes(rid)
    assert veto["reason"].startswith(f"round {rid} targets")
    # v2: the auditor scores from the targets source, never the operator's copy: the source check
    # comes first, then every posted corr and mmc differs from the recomputation, and nothing else.
    first, *scores = verdict.findings
    assert first.startswith(f"round {rid} targets_source:"), verdict.findings
    expected = {f"model {s.model_id} {metric}" for s in rnd.plan.specs for metric in ("corr", "mmc")}
    assert {f.split(":", 1)[0] for f in scores} == expected and len(scores) == len(expected), verdict.findings
    vetoed = [body for path, body in received if path == "/hook" and "vetoed" in body.get("title", "")]
    assert len(vetoed) == 1 and veto["reason"] in vetoed[0]["message"] and vetoed[0]["type"] == "failure"
    world.h.past_challenge()


def test_crash_before_and_after_the_veto_never_vetoes_twice(world, tmp_path):
    before, after, raced = world.propose_rounds([RoundCase(VALID4, withhold=[0]), RoundCase(VALID4, withhold=[2]),
                                                 RoundCase(VALID4, withhold=[3])])
    inbox = ReceiptsInbox(world.tmp / "receipts")
    for rnd in (before, after, raced):
        inbox.add(parse_receipt(rnd.receipts[0]))

    class Killed(BaseException):
        """Not an Exception: the watch loop must not swallow it (it stands for SIGKILL)."""

    def crash_at(point, round_id):
        def hook(name, proposal):
            if name == point and proposal.round_id == round_id:
                raise Killed(name)
        return hook

    state = tmp_path / "state"
    # 1. killed just before sending the veto of `before` (rounds are handled in id order)
    with pytest.raises(Killed):
        tower(world, state, hook=crash_at("veto:before", before.plan.round_id)).run_once()
    assert world.vetoes(before.plan.round_id) == []

    # 2. restarted (nothing decided in the state): vetoes `before`, killed right after sending `after`'s veto
    with pytest.raises(Killed):
        tower(world, state, hook=crash_at("veto:sent", after.plan.round_id)).run_once()
    assert len(world.vetoes(before.plan.round_id)) == 1
    assert len(world.vetoes(after.plan.round_id)) == 1        # mined, but never recorded in the state file

    # 3. restarted again: `after` is no longer open (the chain says so), `raced` is vetoed by another guardian
    #    between the audit and the veto: the watchtower sees it and does not veto the next attempt.
    from tournament.operator.pipeline import veto as pipeline_veto
    d = world.h.world

    def other_guardian(name, proposal):
        if name == "veto:before":
            pipeline_veto(d.w3, d.deployment, d.guardian, proposal.round_id, "another guardian was faster")
    verdicts = {v.round_id: v for v in tower(world, state, hook=other_guardian).run_once()}
    assert set(verdicts) == {raced.plan.round_id}
    assert verdicts[raced.plan.round_id].verdict == "FAIL"
    assert verdicts[raced.plan.round_id].action.startswith("not vetoed: the round is now Resolvable at attempt 1")
    for rnd in (before, after, raced):
        assert len(world.vetoes(rnd.plan.round_id)) == 1
        assert world.phase_attempt(rnd.plan.round_id) == (RESOLVABLE, 1)
    assert tower(world, state).run_once() == []


def _wait_for(predicate, timeout_s=60.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_cli_process_killed_mid_watch_resumes_from_the_chain(world, tmp_path):
    (rnd,) = world.propose_rounds([RoundCase(VALID4, withhold=[1])])
    rid = rnd.plan.round_id
    receipts = tmp_path / "receipts"
    (receipts / "dropped").mkdir(parents=True)
    (receipts / "dropped" / "mine.json").write_text(json.dumps(rnd.receipts))   # a participant's drop: a list
    published = tmp_path / "published"                # nothing published yet: the audit cannot run
    published.mkdir()
    d = world.h.world
    env = dict(os.environ, TOURNAMENT_DEPLOYMENTS=d.deployments_dir)
    command = [sys.executable, "-m", "tournament.cli.guardian_watch", "--rpc", d.rpc_url, "--anvil-keys",
               "--artifacts", str(published), "--targets-source", str(world.targets_dir),
               "--receipts", str(receipts), "--state", str(tmp_path / "state"), "--interval", "0.3"]
    log_path = tmp_path / "watch-1.log"
    with open(log_path, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_for(lambda: log_path.read_text().count('"event": "audit_error"') >= 2, what="two audit errors")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["event"] == "audit_error"]
    assert errors[0]["reason"].startswith("audit could not run: round")
    assert world.vetoes(rid) == [] and world.phase_attempt(rid) == (PROPOSED, 0)

    shutil.copytree(world.work / "rounds" / str(rid) / "artifacts", published / str(rid))
    for attempt in range(2):
        run = subprocess.run(command + ["--once"], capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        names = [e["event"] for e in events]
        assert names.count("veto") == (1 if attempt == 0 else 0), names
    (veto,) = world.vetoes(rid)
    assert veto["reason"].startswith(f"model {rnd.withheld_models[0]} ") and "committed file was uploaded" in veto["reason"]
    assert world.phase_attempt(rid) == (RESOLVABLE, 1)


def test_cli_refuses_a_key_without_guardian_role(world, tmp_path):
    d = world.h.world
    env = dict(os.environ, TOURNAMENT_DEPLOYMENTS=d.deployments_dir, GUARDIAN_KEY="0x" + bytes(d.keys[5].key).hex())
    run = subprocess.run([sys.executable, "-m", "tournament.cli.guardian_watch", "--rpc", d.rpc_url, "--artifacts",
                          str(tmp_path), "--state", str(tmp_path / "s"), "--once"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [f"Error: {d.keys[5].address} does not hold GUARDIAN_ROLE on tournament "
                                               f"{d.deployment.tournament}; give the guardian's key (or ask the admin "
                                               "to grant it)"]


def test_receipts_endpoint_health_and_metrics(world, tmp_path):
    (rnd,) = world.propose_rounds([RoundCase(VALID4)])
    rid = rnd.plan.round_id
    spec = rnd.plan.specs[0]
    digest = keccak(spec.raw)
    watchtower = tower(world, tmp_path / "state", receipts_dir=tmp_path / "inbox")
    server = serve_http(watchtower, "127.0.0.1:0")
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert requests.get(f"{base}/health", timeout=10).status_code == 503   # no pass yet
        outsider = world.sign_receipt(world.outsider_key, rid, spec.model_id, digest, 1)
        answer = requests.post(f"{base}/v1/receipts", json=outsider, timeout=30)
        assert answer.status_code == 403
        assert answer.json()["reason"] == "not_receipt_role"
        assert world.outsider_key.address in answer.json()["error"]
        no_stake = world.sign_receipt(world.receipt_key, rid, spec.model_id, keccak(b"another file"), 1)
        answer = requests.post(f"{base}/v1/receipts", json=no_stake, timeout=30)
        assert answer.status_code == 422 and answer.json()["reason"] == "no_stake"
        tampered = dict(world.sign_receipt(world.receipt_key, rid, spec.model_id, digest, 1), received_at=2)
        answer = requests.post(f"{base}/v1/receipts", json=tampered, timeout=30)
        assert answer.status_code == 403, "a changed field recovers to some other address, which holds no role"
        assert requests.post(f"{base}/v1/receipts", data=b"not json", timeout=30).status_code == 400
        assert requests.post(f"{base}/v1/receipts", json={"round_id": rid}, timeout=30).status_code == 400
        assert list((tmp_path / "inbox").rglob("*.json")) == []

        good = world.sign_receipt(world.receipt_key, rid, spec.model_id, digest, 1)
        answer = requests.post(f"{base}/v1/receipts", json=good, timeout=30)
        assert answer.status_code == 201, answer.text
        assert answer.json()["signer"] == world.receipt_key.address
        (stored,) = (tmp_path / "inbox").rglob("*.json")
        assert json.loads(stored.read_text()) == good

        (verdict,) = watchtower.run_once()
        assert verdict.verdict == "PASS"        # a receipt of a file that IS in the artifacts changes nothing
        health = requests.get(f"{base}/health", timeout=10)
        assert health.status_code == 200 and health.json()["open_proposals"] == 1
        metrics = requests.get(f"{base}/metrics", timeout=10).text
        assert 'watchtower_receipts_total{outcome="not_receipt_role"} 2.0' in metrics
        assert 'watchtower_receipts_total{outcome="stored"} 1.0' in metrics
        assert 'watchtower_audits_total{verdict="PASS"} 1.0' in metrics
    finally:
        server.close()
    world.h.past_challenge()


def test_window_closing_warning_is_sent_once(world, tmp_path, webhook):
    url, received = webhook
    (rnd,) = world.propose_rounds([RoundCase(VALID4)])
    hidden = tmp_path / "hidden"      # unpublished artifacts: the audit cannot finish
    shutil.move(str(world.work / "rounds" / str(rnd.plan.round_id) / "artifacts"), str(hidden))
    watchtower = tower(world, None, alerts=AlertSink([url]), warn_before_s=2 * 86_400)
    for _ in range(2):
        (verdict,) = watchtower.run_once()
        assert verdict.verdict == "ERROR"
    titles = [body["title"] for _, body in received]
    assert sum("window closes soon" in t for t in titles) == 1
    assert sum("audit could not run" in t for t in titles) == 1, "the same error is paged once"
    shutil.move(str(hidden), str(world.work / "rounds" / str(rnd.plan.round_id) / "artifacts"))
    world.h.past_challenge()


def test_a_veto_that_cannot_be_sent_is_retried_not_forgotten(world, tmp_path):
    (rnd,) = world.propose_rounds([RoundCase(VALID4, wrong_targets=True)])
    rid = rnd.plan.round_id
    calls = []

    def failing_veto(*args, **kwargs):
        calls.append(args[3])
        raise ConnectionError("RPC went away while sending")

    (first,) = tower(world, tmp_path / "state", veto=failing_veto).run_once()
    assert first.verdict == "FAIL" and first.action.startswith("veto failed: RPC went away while sending")
    assert calls == [rid] and world.vetoes(rid) == []
    (second,) = tower(world, tmp_path / "state").run_once()        # restarted with a working RPC
    assert second.action == "vetoed" and len(world.vetoes(rid)) == 1
    world.h.past_challenge()
