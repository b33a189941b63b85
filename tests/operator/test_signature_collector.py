"""The co-signer client (tournament-sign/1) against small fake co-signers on loopback: one down,
one refusing with its reason, one slow (times out), one busy then signing, one lying about its
address; 2-of-3 reached, ordered by signer address, stops at the threshold. Then a real round
on anvil proposed with signatures collected over HTTP while one co-signer is down."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from tournament.operator.signatures import (
    PROTOCOL,
    HttpSignatureCollector,
    SignatureCollectionError,
    SignRequest,
    parse_sign_request,
    refusal_answer,
    sign_answer,
)
from tournament.protocol.signing import DOMAIN_NAME, DOMAIN_VERSION, Domain, Results, check_signatures, sign_results

KEYS = [Account.from_key(keccak(f"cosigner-{i}".encode())) for i in range(4)]
SIGNERS = [k.address for k in KEYS[:3]]
DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
RESULTS = Results(7, 0, keccak(b"root"), 55, 1234 * 10**18, keccak(b"manifest"), 1)
REQUEST = SignRequest(DOMAIN, RESULTS, "http://127.0.0.1/rounds/7/artifacts/")


class FakeCoSigner:
    """A loopback co-signer: `behaviour(body, calls)` -> (status, json body, delay seconds)."""

    def __init__(self, account=None, behaviour=None, port=0):
        self.account = account
        self.behaviour = behaviour or self.sign
        self.bodies: list = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.bodies.append((self.path, body))
                status, answer, delay = fake.behaviour(body, len(fake.bodies))
                if status is None:   # the process died mid-request: the connection drops, no answer
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                time.sleep(delay)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): fine

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sign(self, body, calls):
        request = parse_sign_request(body, DOMAIN_NAME, DOMAIN_VERSION)
        signature = sign_results(request.domain, request.results, [self.account])[0]
        return 200, sign_answer(signature, self.account.address), 0.0

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def refuse(reason):
    return lambda body, calls: (422, refusal_answer(reason), 0.0)


def down_url() -> str:
    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def servers():
    made: list[FakeCoSigner] = []

    def make(account=None, behaviour=None, port=0):
        made.append(FakeCoSigner(account, behaviour, port))
        return made[-1]
    yield make
    for server in made:
        server.close()


def collector(urls, **kwargs):
    kwargs.setdefault("timeout_s", 2.0)
    kwargs.setdefault("attempts", 2)
    return HttpSignatureCollector(urls, base_delay_s=0.01, **kwargs)


def test_two_of_three_with_one_down_and_one_refusing(servers):
    refusing = servers(KEYS[0], refuse("results_root 0xab differs from mine 0xcd (targets differ)"))
    good = servers(KEYS[1])
    dead = down_url()
    late = servers(KEYS[2])
    # threshold 2 of {0, 1, 2}: the refusal and the dead one are replaced by the next URL
    report = collector([refusing.url, dead, good.url, late.url]).collect(REQUEST, SIGNERS, 2)
    statuses = {o.who: o.status for o in report.outcomes}
    assert statuses == {refusing.url: "refused", dead: "down", good.url: "signed", late.url: "signed"}
    refused = next(o for o in report.outcomes if o.status == "refused")
    assert refused.reason == "results_root 0xab differs from mine 0xcd (targets differ)"
    down = next(o for o in report.outcomes if o.status == "down")
    assert "unreachable" in down.reason and "after 2 attempt(s)" in down.reason
    signatures = report.signatures()
    assert len(signatures) == 2
    assert check_signatures(DOMAIN, RESULTS, signatures, SIGNERS, 2) == []  # ascending signer order, valid
    assert len(refusing.bodies) == 1  # a refusal is final: not retried


def test_request_is_the_documented_json(servers):
    signer = servers(KEYS[0])
    collector([signer.url]).collect(REQUEST, SIGNERS, 1)
    path, body = signer.bodies[0]
    assert path == "/v1/sign"
    assert body == {
        "protocol": PROTOCOL, "chain_id": 31337, "contract": DOMAIN.verifying_contract, "round_id": 7, "attempt": 0,
        "artifacts_url": "http://127.0.0.1/rounds/7/artifacts/", "artifacts_hash": "0x" + keccak(b"manifest").hex(),
        "results": {"round_id": 7, "attempt": 0, "results_root": "0x" + keccak(b"root").hex(), "leaf_count": 55,
                    "scored_at_risk": str(1234 * 10**18), "artifacts_hash": "0x" + keccak(b"manifest").hex(),
                    "signer_set_version": 1},
        "digest": "0x" + REQUEST.digest.hex(),
    }
    parsed = parse_sign_request(body, DOMAIN_NAME, DOMAIN_VERSION)
    assert parsed == REQUEST


def test_stops_at_the_threshold(servers):
    signers = [servers(k) for k in KEYS[:3]]
    report = collector([s.url for s in signers]).collect(REQUEST, SIGNERS, 2)
    assert len(report.signed) == 2
    assert [len(s.bodies) for s in signers] == [1, 1, 0]   # the third is never asked


def test_slow_signer_times_out_and_is_reported(servers):
    slow = servers(KEYS[0], lambda body, calls: (200, {}, 1.5))
    fast = servers(KEYS[1])
    started = time.monotonic()
    with pytest.raises(SignatureCollectionError) as caught:
        collector([slow.url, fast.url], timeout_s=0.3, attempts=1).collect(REQUEST, SIGNERS, 2)
    assert time.monotonic() - started < 1.4
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("round 7 attempt 0: 1 of the 2 signatures needed (")
    assert f"{slow.url}: down: no answer within 0.3s (after 1 attempt(s))" in message


def test_busy_signer_is_retried_then_signs(servers):
    busy = servers(KEYS[0])
    sign = busy.behaviour
    busy.behaviour = lambda body, calls: ((503, {"error": "still recomputing"}, 0.0) if calls == 1
                                          else sign(body, calls))
    report = collector([busy.url], attempts=3).collect(REQUEST, SIGNERS, 1)
    assert [o.status for o in report.outcomes] == ["signed"] and len(busy.bodies) == 2


def test_signer_restarted_in_the_middle_of_a_request_is_retried_and_signs(servers):
    # The co-signer process dies while recomputing (the connection drops without an answer) and
    # a new process comes up on the same address: the collector's retry reaches the new one.
    first = servers(KEYS[0])
    port = first.server.server_address[1]
    restarted: list = []

    def die_and_restart(body, calls):
        first.server.shutdown()          # stop accepting: the old process is gone
        first.server.server_close()
        restarted.append(servers(KEYS[0], port=port))   # the new process, same URL, same key
        return None, {}, 0.0
    first.behaviour = die_and_restart
    report = collector([first.url], attempts=4).collect(REQUEST, SIGNERS, 1)
    assert [o.status for o in report.outcomes] == ["signed"]
    assert len(first.bodies) == 1 and len(restarted[0].bodies) == 1, "one cut request, one answered retry"
    assert check_signatures(DOMAIN, RESULTS, report.signatures(), SIGNERS, 1) == []


def test_bad_answers_are_not_used(servers):
    liar = servers(KEYS[0])

    def claims_another(body, calls):   # signs with key 0, claims to be key 1
        status, answer, delay = liar.sign(body, calls)
        return status, {**answer, "signer": KEYS[1].address}, delay
    liar.behaviour = claims_another
    outsider = servers(KEYS[3])          # a valid signature, but not by a current signer
    malformed = servers(behaviour=lambda body, calls: (400, {"error": "unknown contract"}, 0.0))
    with pytest.raises(SignatureCollectionError) as caught:
        collector([liar.url, outsider.url, malformed.url]).collect(REQUEST, SIGNERS, 1)
    by_url = {o.who: o for o in caught.value.report.outcomes}
    assert by_url[liar.url].status == "bad-answer" and "recovers to" in by_url[liar.url].reason
    assert by_url[outsider.url].status == "not-a-signer"
    assert by_url[malformed.url].status == "bad-answer" and "HTTP 400 (unknown contract)" in by_url[malformed.url].reason
    assert len(malformed.bodies) == 1


def test_two_urls_of_one_signer_count_once(servers):
    a, b = servers(KEYS[0]), servers(KEYS[0])
    with pytest.raises(SignatureCollectionError, match="1 of the 2 signatures needed"):
        collector([a.url, b.url]).collect(REQUEST, SIGNERS, 2)


def test_propose_on_chain_with_cosigners_over_http(harness, kinds, servers, tmp_path):
    """A real round: the operator holds no signer key; one co-signer is down; 2-of-3 proposes."""
    from tournament.operator.pipeline import Operator
    harness.add_owners(2, 3)
    world = harness.world
    cosigners = [servers(k) for k in world.signer_keys[1:]]
    collect_with = HttpSignatureCollector([down_url()] + [c.url for c in cosigners], timeout_s=5, attempts=1)
    op = Operator(harness.w3, world.deployment, world.operator, (), tmp_path / "work", harness.source_dir,
                  poll_s=0.01, receipt_timeout_s=30, signatures=collect_with)
    plan = harness.plan_round(kinds(6))
    harness.open_and_stake(op, plan)
    harness.to_resolvable(plan)
    status = op.run(plan.round_id, plan.targets_path)
    assert status.phase == "Proposed", status
    assert any("down: unreachable" in a for a in status.actions), status.actions
    harness.past_challenge()
    assert op.run(plan.round_id).phase == "Settled"
    harness.check_wallets(plan)
