"""`participant watch`: notices of settlement and refund, to stdout and to an apprise webhook.

On anvil: a settled round and a refunded one (no results before resolveTime + resultsTimeout).
The watcher's state (last block seen) makes a second check silent; the webhook is a local
HTTP server receiving apprise's `json://` posts; a state file of another owner is refused.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.participant.test_participant_client import NMR, client, open_round, predictions_file  # noqa: F401
from tests.participant.test_participant_rounds import assert_one_line_error, cli, settle_round
from tournament.chain.devchain import increase_time
from tournament.participant.notify import NotifyError, Watcher

DAY = 86_400


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_watch_notifies_settlement_and_refund_once(deployed, world, tmp_path, webhook):
    url, received = webhook
    key = deployed.keys[5]
    carol = client(deployed, world, key)
    model_id = carol.create_model("watched")
    carol.deposit(100 * NMR)
    state = tmp_path / "watch.json"
    args = ["participant", "watch", "--once", "--state", str(state), "--rpc", deployed.rpc_url]

    quiet = cli(deployed, *args, key=key)
    assert quiet.returncode == 0, quiet.stderr
    assert "no new settlements or refunds" in quiet.stdout
    assert json.loads(state.read_text())["lastBlock"] == deployed.w3.eth.block_number

    # Round 1 settles with a reward; round 2 gets no results and is refunded.
    open_round(deployed, world, 1, close_in_s=DAY)
    open_round(deployed, world, 2, close_in_s=DAY)
    carol.submit(1, model_id, predictions_file(tmp_path / "a.csv", world["ids"], 1), 40 * NMR, 200)
    carol.submit(2, model_id, predictions_file(tmp_path / "b.csv", world["ids"], 2), 10 * NMR, 100)
    increase_time(deployed.w3, 30 * DAY)
    settle_round(deployed, world["operator"], 1, {model_id: 40 * NMR}, {model_id: (25_000_000, 0)})
    increase_time(deployed.w3, 15 * DAY)
    deployed.transactor(deployed.keys[6]).transact(deployed.tournament.functions.refund(2, [model_id]), "refunding")

    run = cli(deployed, *args, "--notify", url, key=key)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"Round 1: model {model_id} (watched) settled")
    assert "stake 40 NMR" in lines[0] and "CORR +0.0250" in lines[0] and "reward 2 NMR" in lines[0]
    assert lines[1].startswith(f"Round 2: stake of model {model_id} (watched) refunded") and "10 NMR" in lines[1]
    assert [m["title"] for m in received] == [lines[0].split(": ", 1)[0] + ": " + lines[0].split(": ")[1],
                                              lines[1].split(": ", 1)[0] + ": " + lines[1].split(": ")[1]]
    assert "reward 2 NMR" in received[0]["message"]

    again = cli(deployed, *args, "--notify", url, key=key)
    assert again.returncode == 0 and "no new settlements or refunds" in again.stdout and len(received) == 2

    # Another owner's state file is refused in one line; a broken apprise URL too.
    other = cli(deployed, *args, key=deployed.keys[4])
    assert_one_line_error(other, "give another --state file")
    assert_one_line_error(cli(deployed, *args, "--notify", "nonsense", key=key), "apprise")


def test_undelivered_notice_keeps_the_block_for_next_time(deployed, world, tmp_path):
    key = deployed.keys[5]

    def failing(notice):
        raise NotifyError("down")

    watcher = Watcher(deployed.w3, deployed.deployment, key.address, tmp_path / "s.json", [failing])
    with pytest.raises(NotifyError):
        watcher.poll()                      # carol has a settlement and a refund from the test above
    assert not (tmp_path / "s.json").exists()
    sent = []
    assert len(Watcher(deployed.w3, deployed.deployment, key.address, tmp_path / "s.json", [sent.append]).poll()) == 2
    assert [n.kind for n in sent] == ["settled", "refunded"]
