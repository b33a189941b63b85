"""The submission API under concurrent load on loopback: many models upload many versions at once,
mixed with forged, replayed, expired and tampered requests; bounded in time.

A real werkzeug server (threaded) in front of the app on the test chain. Every model uploads its
versions in order while all models run concurrently (plus a few same-model races); attackers send
uploads signed by a stranger, garbage signatures, replays of a model's older signature, expired
signatures and bodies that differ from the signed hash, all refused with their status codes and
never stored. Afterwards: each model's history is exactly its accepted uploads in order, every
stored file hashes to its name, and after close each model's file, served by the API and
collected by the operator through HttpSource against an on-chain stake, is byte for byte the last
one it uploaded (nothing lost, nothing swapped between models). SOAK=1 raises models and versions.
"""
from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from eth_account import Account
from eth_hash.auto import keccak
from reliability_world import NMR, LoopbackServer, make_world, soak_scale

from tournament.chain.devchain import chain_now
from tournament.operator.sources import HttpSource
from tournament.operator.submission_service.app import ApiSettings, create_app
from tournament.operator.submission_service.store import hash_hex
from tournament.participant.client import sign_upload

OWNERS = soak_scale(6, 20)
MODELS_EACH = soak_scale(3, 5)
VERSIONS = soak_scale(3, 8)
WORKERS = soak_scale(12, 32)
TIME_BOUND_S = soak_scale(90, 600)


@pytest.fixture(scope="module")
def world(deployed, tmp_path_factory):
    return make_world(deployed, tmp_path_factory, "load")


def test_concurrent_uploads_are_kept_apart_and_attacks_refused(world, tmp_path):
    d = world.d
    work = tmp_path / "work"
    op = world.operator(work)
    rnd = world.new_round(n_ids=50)
    world.open(op, rnd)
    stakers = world.add_stakers(OWNERS, models_each=MODELS_EACH)
    app = create_app(ApiSettings(d.w3, d.deployment, tmp_path / "data", work, rate_per_minute=1e7,
                                 rate_burst=100_000))
    store = app.extensions["submission_store"]
    chain_id = d.w3.eth.chain_id
    stranger = Account.from_key(keccak(b"load-stranger"))
    rng = random.Random(5)
    files = {s.model_id: [world.predictions(rnd) for _ in range(VERSIONS)] for s in stakers}

    with LoopbackServer(app) as server:
        local = __import__("threading").local()

        def session() -> requests.Session:
            if not hasattr(local, "s"):
                local.s = requests.Session()
            return local.s

        def post(model_id: int, raw: bytes, account, *, expiry=None, signature=None, claimed=None):
            expiry = expiry or chain_now(d.w3) + 3600
            claimed = claimed or hash_hex(raw)
            signature = signature or sign_upload(account, chain_id, d.deployment.tournament, rnd.round_id,
                                                 model_id, claimed, expiry)
            answer = session().post(f"{server.url}/v1/rounds/{rnd.round_id}/models/{model_id}/submission",
                                    data=raw, timeout=60, headers={
                                        "X-Signature": signature, "X-Expiry": str(expiry),
                                        "X-Submission-Hash": claimed})
            return answer, signature, expiry

        def honest(staker) -> list:
            """Uploads every version in order; then replays the first one's signature (refused)."""
            out = []
            for raw in files[staker.model_id]:
                answer, signature, expiry = post(staker.model_id, raw, staker.account)
                out.append(("upload", answer.status_code, answer.json()))
                if len(out) == 1:
                    first = (raw, signature, expiry)
            answer, _, _ = post(staker.model_id, first[0], staker.account, signature=first[1], expiry=first[2])
            out.append(("replay", answer.status_code, answer.json()))
            return out

        def attack(n: int) -> tuple:
            victim = stakers[n % len(stakers)]
            raw = world.predictions(rnd)
            kind = ["stranger", "garbage", "expired", "tampered"][n % 4]
            if kind == "stranger":
                answer, _, _ = post(victim.model_id, raw, stranger)
            elif kind == "garbage":
                answer, _, _ = post(victim.model_id, raw, victim.account, signature="0x" + "ab" * 65)
            elif kind == "expired":
                answer, _, _ = post(victim.model_id, raw, victim.account, expiry=chain_now(d.w3) - 1)
            else:   # signed for one body, another body sent
                answer, _, _ = post(victim.model_id, raw, victim.account, claimed=hash_hex(raw + b"\n"))
            return kind, answer.status_code, answer.json(), hash_hex(raw)

        started = time.monotonic()
        n_attacks = len(stakers) * 2
        with ThreadPoolExecutor(WORKERS) as pool:
            jobs = [("honest", s, pool.submit(honest, s)) for s in stakers]
            jobs += [("attack", n, pool.submit(attack, n)) for n in rng.sample(range(n_attacks), n_attacks)]
            results = [(kind, key, job.result()) for kind, key, job in jobs]
        elapsed = time.monotonic() - started
        uploads = len(stakers) * (VERSIONS + 1) + n_attacks
        assert elapsed < TIME_BOUND_S, f"{uploads} requests took {elapsed:.1f}s"
        print(f"load: {uploads} requests from {len(stakers)} models, {WORKERS} threads: {elapsed:.1f}s "
              f"({uploads / elapsed:.0f}/s)")

        refused_hashes = set()
        for kind, _key, outcome in results:
            if kind == "honest":
                for step, status, body in outcome:
                    if step == "upload":
                        assert status == 201, body
                    else:
                        assert status == 409 and "already used" in body["error"], body
            else:
                what, status, body, digest = outcome
                expected = {"stranger": 403, "garbage": (401, 403), "expired": 401, "tampered": 400}[what]
                assert status in (expected if isinstance(expected, tuple) else (expected,)), (what, body)
                refused_hashes.add(digest)

        # Histories: exactly the accepted uploads of each model, in order; nothing from attackers.
        for s in stakers:
            history = [r.file_hash for r in store.history(rnd.round_id, s.model_id)]
            assert history == [hash_hex(raw) for raw in files[s.model_id]], s.model_id
        on_disk = {p.name for p in (tmp_path / "data" / "files").iterdir() if not p.name.startswith(".")}
        assert on_disk == {hash_hex(raw) for v in files.values() for raw in v}
        assert not (on_disk & refused_hashes)
        for name in on_disk:
            assert hash_hex(store.read_file(name)) == name

        # A same-model race: two different files at once; both accepted, the latest is one of them.
        racer = stakers[0]
        pair = [world.predictions(rnd), world.predictions(rnd)]
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda raw: post(racer.model_id, raw, racer.account)[0], pair))
        assert [a.status_code for a in answers] == [201, 201]
        latest = store.latest(rnd.round_id, racer.model_id).file_hash
        assert latest in {hash_hex(raw) for raw in pair}
        history = [r.file_hash for r in store.history(rnd.round_id, racer.model_id)]
        assert history[-2:] in ([hash_hex(pair[0]), hash_hex(pair[1])], [hash_hex(pair[1]), hash_hex(pair[0])])
        files[racer.model_id].append(next(raw for raw in pair if hash_hex(raw) == latest))

        # Stake on each model's last file; after close the operator collects them over HTTP.
        for n, s in enumerate(stakers):
            world.stake(rnd, s, files[s.model_id][-1], (20 + n) * NMR, store=False)
        world.to_resolvable(rnd)
        late, _, _ = post(racer.model_id, world.predictions(rnd), racer.account,
                          expiry=chain_now(d.w3) + 3600)
        assert late.status_code == 403 and "closed" in late.json()["error"]
        collector = world.operator(work)
        collector.source = HttpSource(server.url)
        status = collector.collect(rnd.round_id)
        assert status.actions == [f"collected {len(stakers)}/{len(stakers)} files"]
        for s in stakers:
            published = list((collector.artifacts_dir(rnd.round_id) / "submissions").glob(f"{s.model_id}.*"))
            assert [p.read_bytes() for p in published] == [files[s.model_id][-1]], s.model_id


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def respellings(signature: str) -> dict:
    """Other spellings of one signature that recover the same signer (found by this suite: each used
    to slip an old signature past the used-signature check and bring back an older file)."""
    raw = bytes.fromhex(signature[2:])
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    return {
        "no 0x prefix": raw.hex(),
        "upper-case hex": "0X" + raw.hex().upper(),
        "v as 0/1": "0x" + (raw[:64] + bytes([v - 27])).hex(),
        "malleable high s": "0x" + (r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])).hex(),
    }


def test_a_replayed_signature_is_refused_however_it_is_spelled(world, tmp_path):
    d = world.d
    work = tmp_path / "work"
    rnd = world.new_round(n_ids=20)
    world.open(world.operator(work), rnd)
    staker = world.add_stakers(1)[0]
    app = create_app(ApiSettings(d.w3, d.deployment, tmp_path / "data", work, rate_per_minute=1e7,
                                 rate_burst=100_000))
    client = app.test_client()
    store = app.extensions["submission_store"]

    def post(raw: bytes, signature: str, expiry: int):
        return client.post(f"/v1/rounds/{rnd.round_id}/models/{staker.model_id}/submission", data=raw, headers={
            "X-Signature": signature, "X-Expiry": str(expiry), "X-Submission-Hash": hash_hex(raw)})

    expiry = chain_now(d.w3) + 3600
    old, new = world.predictions(rnd), world.predictions(rnd)
    old_signature = sign_upload(staker.account, d.w3.eth.chain_id, d.deployment.tournament, rnd.round_id,
                                staker.model_id, hash_hex(old), expiry)
    assert post(old, old_signature, expiry).status_code == 201
    assert post(new, sign_upload(staker.account, d.w3.eth.chain_id, d.deployment.tournament, rnd.round_id,
                                 staker.model_id, hash_hex(new), expiry), expiry).status_code == 201
    for how, spelling in respellings(old_signature).items():
        answer = post(old, spelling, expiry)
        assert answer.status_code in (401, 409), (how, answer.get_json())
        assert store.latest(rnd.round_id, staker.model_id).file_hash == hash_hex(new), how
    assert [r.file_hash for r in store.history(rnd.round_id, staker.model_id)] == [hash_hex(old), hash_hex(new)]


# ------------------------------------------------------------------ waitress under slow clients and spam

SLOW_CONNECTIONS = 1_000
HONEST_VERSIONS = 5
ATTACK_BOUND_S = 90


class WaitressServer:
    """The production server (`tournament serve submissions`'s make_server) on a loopback port."""

    def __init__(self, app, settings):
        from tournament.operator.submission_service.app import make_server
        self.server = make_server(app, "127.0.0.1", 0, settings)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = __import__("threading").Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> WaitressServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()


def test_slow_connections_and_a_key_spammer_do_not_stop_an_honest_owner(world, tmp_path):
    """1,000 connections dribbling their headers and a spammer signing with throwaway keys (behind
    the same trusted proxy as the owner, told apart by X-Forwarded-For): the owner's uploads all
    succeed, /health answers within a second, the spammer is limited by its client address BEFORE
    its signatures are checked, and nothing of it is stored."""
    import resource
    import socket
    import threading

    from tournament.operator.submission_service.app import ServerSettings

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * SLOW_CONNECTIONS:   # both ends of every slow socket live in this process
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8 * SLOW_CONNECTIONS), hard))
    d = world.d
    work = tmp_path / "work"
    rnd = world.new_round(n_ids=40)
    world.open(world.operator(work), rnd)
    owner = world.add_stakers(1)[0]
    app = create_app(ApiSettings(d.w3, d.deployment, tmp_path / "data", work))   # default rate limits
    store = app.extensions["submission_store"]
    chain_id = d.w3.eth.chain_id
    settings = ServerSettings(threads=4, channel_timeout_s=60, trusted_proxy="127.0.0.1")
    started = time.monotonic()
    with WaitressServer(app, settings) as server:
        port = server.server.effective_port
        slow: list = []
        for _ in range(SLOW_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(f"POST /v1/rounds/{rnd.round_id}/models/{owner.model_id}/submission HTTP/1.1\r\n"
                         "Host: api\r\n".encode())
            slow.append(sock)
        stop = threading.Event()

        def dribble() -> None:   # one more header line per socket every second: never a full request
            while not stop.is_set():
                for sock in slow:
                    try:
                        sock.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        pass
                stop.wait(1.0)

        spam_status: list[int] = []

        def spam() -> None:
            session = requests.Session()
            n = 0
            while not stop.is_set():
                key = Account.from_key(keccak(f"throwaway {n}".encode()))
                raw = world.predictions(rnd)
                expiry = chain_now(d.w3) + 3600
                signature = (sign_upload(key, chain_id, d.deployment.tournament, rnd.round_id, owner.model_id,
                                         hash_hex(raw), expiry) if n % 2 else "0x" + "cd" * 65)
                answer = session.post(f"{server.url}/v1/rounds/{rnd.round_id}/models/{owner.model_id}/submission",
                                      data=raw, timeout=30, headers={
                                          "X-Signature": signature, "X-Expiry": str(expiry),
                                          "X-Submission-Hash": hash_hex(raw), "X-Forwarded-For": "10.0.0.66"})
                spam_status.append(answer.status_code)
                n += 1

        # First a quick burst of garbage signatures from the spammer's address: past the bucket's
        # burst they are refused with 429 before their signatures are looked at.
        burst = requests.Session()
        first = [burst.post(f"{server.url}/v1/rounds/{rnd.round_id}/models/{owner.model_id}/submission",
                            data=b"x", timeout=30, headers={
                                "X-Signature": "0x" + "cd" * 65, "X-Expiry": "1", "X-Submission-Hash": "0x" + "00" * 32,
                                "X-Forwarded-For": "10.0.0.66"}).status_code for _ in range(60)]
        assert first.count(429) >= 10 and set(first) == {401, 429}, first
        threads = [threading.Thread(target=dribble, daemon=True), threading.Thread(target=spam, daemon=True)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            honest = requests.Session()
            accepted, health_s = [], []
            for _version in range(HONEST_VERSIONS):
                t0 = time.monotonic()
                health = honest.get(f"{server.url}/v1/health", timeout=5, headers={"X-Forwarded-For": "10.0.0.9"})
                health_s.append(time.monotonic() - t0)
                assert health.status_code == 200
                raw = world.predictions(rnd)
                expiry = chain_now(d.w3) + 3600
                answer = honest.post(
                    f"{server.url}/v1/rounds/{rnd.round_id}/models/{owner.model_id}/submission", data=raw,
                    timeout=30, headers={
                        "X-Signature": sign_upload(owner.account, chain_id, d.deployment.tournament, rnd.round_id,
                                                   owner.model_id, hash_hex(raw), expiry),
                        "X-Expiry": str(expiry), "X-Submission-Hash": hash_hex(raw), "X-Forwarded-For": "10.0.0.7"})
                assert answer.status_code == 201, answer.json()
                accepted.append(hash_hex(raw))
                time.sleep(0.3)
            # The slow clients were all still connected (held by the event loop, not by threads).
            still_open = 0
            for sock in slow:
                sock.setblocking(False)
                try:
                    still_open += sock.recv(1) != b""
                except BlockingIOError:
                    still_open += 1
                except OSError:
                    pass
            assert still_open == SLOW_CONNECTIONS, still_open
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            for sock in slow:
                sock.close()
    elapsed = time.monotonic() - started
    print(f"slow connections {len(slow)}, spam {len(spam_status)} requests ({spam_status.count(429)} x 429), "
          f"health max {max(health_s):.3f}s, {elapsed:.1f}s in all")
    assert elapsed < ATTACK_BOUND_S, f"took {elapsed:.0f}s"
    assert max(health_s) < 1.0, health_s
    # The spammer: a burst, then 429 from its client address's bucket whatever it signed
    # (garbage signatures included: limited before any signature check), never stored.
    from tournament.operator.submission_service.app import DEFAULT_RATE_BURST, DEFAULT_RATE_PER_MINUTE, IP_RATE_FACTOR
    allowed = IP_RATE_FACTOR * (DEFAULT_RATE_BURST + DEFAULT_RATE_PER_MINUTE / 60 * elapsed) + 1
    passed_limit = [s for s in first + spam_status if s != 429]
    assert len(passed_limit) <= allowed, (len(passed_limit), allowed)
    assert set(spam_status) <= {401, 403, 429}, set(spam_status)
    assert [r.file_hash for r in store.history(rnd.round_id, owner.model_id)] == accepted


def test_ids_out_of_range_are_400_and_uploads_are_capped_per_model(world, tmp_path):
    d = world.d
    work = tmp_path / "work"
    rnd = world.new_round(n_ids=20)
    world.open(world.operator(work), rnd)
    owner = world.add_stakers(1)[0]
    app = create_app(ApiSettings(d.w3, d.deployment, tmp_path / "data", work, rate_per_minute=1e7,
                                 rate_burst=100_000, max_uploads_per_model=3))
    client = app.test_client()
    store = app.extensions["submission_store"]
    for bad in ("0", str(2**63), str(10**30), "-1", "1e3", "x"):
        for path in (f"/v1/rounds/{bad}/models/1/submission", f"/v1/rounds/1/models/{bad}/submission",
                     f"/v1/rounds/{bad}/models/1/uploads", f"/v1/rounds/{bad}/live_ids"):
            answer = client.get(path) if not path.endswith("submission") else client.post(path, data=b"x")
            assert answer.status_code == 400 and "id must be a whole number" in answer.get_json()["error"], \
                (path, answer.status_code)
    assert client.get(f"/v1/rounds/{2**63 - 1}/models/1/uploads").status_code == 200

    def upload(raw: bytes) -> None:
        expiry = chain_now(d.w3) + 3600
        answer = client.post(f"/v1/rounds/{rnd.round_id}/models/{owner.model_id}/submission", data=raw, headers={
            "X-Signature": sign_upload(owner.account, d.w3.eth.chain_id, d.deployment.tournament, rnd.round_id,
                                       owner.model_id, hash_hex(raw), expiry),
            "X-Expiry": str(expiry), "X-Submission-Hash": hash_hex(raw)})
        assert answer.status_code == 201, answer.get_json()

    versions = [world.predictions(rnd) for _ in range(6)]
    upload(versions[0])
    world.stake(rnd, owner, versions[0], 20 * NMR, store=False)   # the commitment: never dropped
    for raw in versions[1:]:
        upload(raw)
    kept = [r.file_hash for r in store.history(rnd.round_id, owner.model_id)]
    assert kept == [hash_hex(versions[0]), hash_hex(versions[4]), hash_hex(versions[5])]
    on_disk = {p.name for p in (tmp_path / "data" / "files").iterdir() if not p.name.startswith(".")}
    assert on_disk == set(kept)
