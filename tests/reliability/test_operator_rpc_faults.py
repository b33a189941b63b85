"""The RPC going away mid-settlement, and transactions dropped from the mempool.

The operator talks to anvil through a tiny TCP proxy in a thread (`CuttableProxy`) that the test
cuts (listener closed, every open connection reset: the node is simply gone) and restores. A short
outage inside the retry budget is ridden out within one `settle`; a long one makes `settle` fail
with a clear ChainError and a fresh operator run finishes the job. A dropped transaction (automine
off, the operator's proposal or settle batch sent, then `anvil_dropAllTransactions`) is replaced by
the Transactor with the same nonce and a higher fee. Every test ends the same way: the round is
Settled, one StakeSettled per stake, one proposal, and the independent audit passes.
"""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from reliability_world import NMR, make_world, soak_scale
from web3 import Web3
from web3.exceptions import TransactionNotFound

from tournament.chain.client import ChainError
from tournament.chain.devchain import set_automine

MODELS = 6
BATCH = 2


class CuttableProxy:
    """127.0.0.1:port -> upstream port, byte for byte; `cut()` takes the node away, `restore()` brings it back."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = self._listen().getsockname()[1]
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.cuts = 0
        self._serve()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listen(self, port: int = 0) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        self.listener = listener
        return listener

    def _serve(self) -> None:
        listener = self.listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return   # cut: the listener is closed
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.cuts += 1
        try:
            self.listener.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept() and stops listening now
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for s in self.conns:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
                    s.close()
                except OSError:
                    pass
            self.conns.clear()

    def restore(self) -> None:
        self._listen(self.port)
        self._serve()

    def reachable(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False


@pytest.fixture(scope="module")
def world(deployed, tmp_path_factory):
    w = make_world(deployed, tmp_path_factory, "rpc")
    w.add_stakers(3, models_each=MODELS // 3)
    return w


@pytest.fixture
def proxy(world):
    upstream = int(world.d.rpc_url.rsplit(":", 1)[1])
    p = CuttableProxy(upstream)
    yield p
    p.cut()


def accepted_round(world, work, op):
    """A round with MODELS stakes (one without a file), proposed and past its challenge window."""
    rnd = world.new_round()
    world.open(op, rnd)
    for n, s in enumerate(world.stakers):
        world.stake(rnd, s, world.predictions(rnd), (100 + n) * NMR + 7 * n, store=(n != 1))
    world.snapshot_wallets(rnd)
    world.to_resolvable(rnd)
    assert op.run(rnd.round_id, rnd.targets_path).phase == "Proposed"
    world.past_challenge()
    return rnd


def via(proxy) -> Web3:
    return Web3(Web3.HTTPProvider(proxy.url, request_kwargs={"timeout": 10}))


@pytest.mark.parametrize("batch", range(1, soak_scale(1, MODELS // BATCH) + 1))
def test_short_rpc_outage_mid_settlement_is_ridden_out(world, proxy, tmp_path, batch):
    work = tmp_path / "work"
    rnd = accepted_round(world, work, world.operator(work))
    refused = []
    sent = []

    def hook(point: str) -> None:
        if point == "settle:sent":
            sent.append(point)
        if point == "settle:sent" and len(sent) == batch and proxy.cuts == 0:
            proxy.cut()        # the batch is broadcast; the node vanishes before its receipt is read
            refused.append(not proxy.reachable())
            threading.Timer(1.5, proxy.restore).start()

    status = world.operator(work, rpc_w3=via(proxy), hook=hook, max_batch_leaves=BATCH).settle(rnd.round_id)
    assert proxy.cuts == 1 and refused == [True]
    assert status.phase == "Settled"
    world.assert_settled_once_and_audited(rnd, work)


def test_long_rpc_outage_fails_clearly_and_a_rerun_settles_exactly_once(world, proxy, tmp_path):
    work = tmp_path / "work"
    rnd = accepted_round(world, work, world.operator(work))
    seen = {"sent": 0}

    def hook(point: str) -> None:
        if point == "settle:sent":
            seen["sent"] += 1
            if seen["sent"] == 2:   # the second batch is broadcast (and mined); the node is gone for good
                proxy.cut()

    started = time.monotonic()
    with pytest.raises(ChainError, match="RPC unreachable"):
        world.operator(work, rpc_w3=via(proxy), hook=hook, max_batch_leaves=BATCH).settle(rnd.round_id)
    assert time.monotonic() - started < 60
    assert 0 < len(world.settled_events(rnd)) < MODELS   # part of the round is settled
    proxy.restore()
    status = world.operator(work, rpc_w3=via(proxy), max_batch_leaves=BATCH).run(rnd.round_id)
    assert status.phase == "Settled"
    world.assert_settled_once_and_audited(rnd, work)


@pytest.mark.parametrize("point", ["propose:sent", "settle:sent"])
def test_dropped_transaction_is_replaced(world, tmp_path, point):
    work = tmp_path / "work"
    op = world.operator(work)
    rnd = world.new_round()
    world.open(op, rnd)
    for n, s in enumerate(world.stakers):
        world.stake(rnd, s, world.predictions(rnd), (50 + n) * NMR)
    world.snapshot_wallets(rnd)
    world.to_resolvable(rnd)
    if point == "settle:sent":
        assert op.run(rnd.round_id, rnd.targets_path).phase == "Proposed"
        world.past_challenge()
    dropped = []

    def hook(name: str) -> None:
        if name == point and not dropped:
            notes = json.loads((op.round_dir(rnd.round_id) / "state.json").read_text())
            dropped.append(list(notes["last_tx"].values())[-1])
            assert world.w3.eth.get_transaction(dropped[0]) is not None   # pending, not mined
            world.w3.provider.make_request("anvil_dropAllTransactions", [])
            set_automine(world.w3, True)

    runner = world.operator(work, hook=hook, max_batch_leaves=BATCH, receipt_timeout_s=1.0)
    set_automine(world.w3, False)
    try:
        status = runner.run(rnd.round_id, rnd.targets_path)
        if status.phase == "Proposed":
            world.past_challenge()
            status = world.operator(work, max_batch_leaves=BATCH).run(rnd.round_id)
    finally:
        set_automine(world.w3, True)
    assert status.phase == "Settled"
    assert len(dropped) == 1
    with pytest.raises(TransactionNotFound):
        world.w3.eth.get_transaction_receipt(dropped[0])   # the dropped one never landed ...
    world.assert_settled_once_and_audited(rnd, work)       # ... its replacement did, exactly once
