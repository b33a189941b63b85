"""Shared pieces of the reliability tests (imported by name: pytest puts this folder on sys.path): a round builder on the `deployed` chain and the checks
every fault test ends with (round Settled, one StakeSettled per stake, the independent audit PASS).

`World` funds participant accounts and creates one model each (tests/worlds.py's builders), writes prediction files into a
content-addressed FolderSource dir, opens a round through the Operator, stakes straight on the
contract, and moves chain time. Profiles: quick by default (a few seeds, small rounds, inside
`make test`); `SOAK=1` (set by `make soak`) raises seeds and sizes via `soak_scale`.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from eth_account import Account
from eth_hash.auto import keccak

from tests.worlds import create_model, fund_participant
from tournament.auditor.audit import read_artifacts, read_chain_view, verify_round
from tournament.chain.client import Transactor
from tournament.chain.devchain import chain_now, increase_time
from tournament.operator.pipeline import Operator
from tournament.protocol.constants import WEI_PER_NMR as NMR

DAY = 86_400
SOAK = os.environ.get("SOAK", "") not in ("", "0")
SETTLED = 7


def soak_scale(quick: int, soak: int) -> int:
    """`quick` in `make test`, `soak` under `make soak` (SOAK=1)."""
    return soak if SOAK else quick


@dataclass
class Staker:
    account: object            # LocalAccount
    model_id: int


@dataclass
class Round:
    round_id: int
    live_ids: list
    targets_path: Path
    stakes: dict = field(default_factory=dict)       # model_id -> (owner address, stake_wei, raw bytes)
    wallets_before: dict = field(default_factory=dict)


class World:
    def __init__(self, deployed, tmp: Path, name: str):
        self.d = deployed
        self.w3 = deployed.w3
        self.t = deployed.tournament
        self.nmr = deployed.nmr
        self.admin = self.tx(deployed.admin)
        self.tmp = tmp
        self.source_dir = tmp / "store"
        self.source_dir.mkdir(exist_ok=True)
        self.name = name
        self.stakers: list[Staker] = []
        self.next_round = 1
        self.rng = np.random.default_rng(11)

    def tx(self, account) -> Transactor:
        return Transactor(self.w3, account, receipt_timeout_s=30, poll_s=0.01)

    def add_stakers(self, count: int, deposit_wei: int = 10_000 * NMR, models_each: int = 1) -> list[Staker]:
        """`count` funded accounts with `models_each` models each: one Staker per model."""
        made = []
        for _ in range(count):
            k = len({s.account.address for s in self.stakers})
            account = Account.from_key(keccak(f"reliability-{self.name}-{k}".encode()))
            sender = fund_participant(self.d, account, deposit_wei, admin=self.admin)
            for m in range(models_each):
                model_id = create_model(self.d, sender, f"{self.name}-{k}-{m}")
                staker = Staker(account, model_id)
                self.stakers.append(staker)
                made.append(staker)
        return made

    def operator(self, work: Path, rpc_w3=None, **kwargs) -> Operator:
        w3 = rpc_w3 or self.w3
        kwargs.setdefault("receipt_timeout_s", 30)
        return Operator(w3, self.d.deployment, self.d.operator, self.d.signer_keys, work, self.source_dir,
                        poll_s=0.01, **kwargs)

    def new_round(self, n_ids: int = 60) -> Round:
        rid = self.next_round
        self.next_round += 1
        live_ids = [f"id{keccak(f'{self.name}-{rid}-{i}'.encode()).hex()[:10]}" for i in range(n_ids)]
        targets = self.rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=n_ids)
        path = self.tmp / f"targets-{rid}.csv"
        path.write_text("id,target\n" + "".join(f"{i},{t}\n" for i, t in zip(live_ids, targets)))
        return Round(rid, live_ids, path)

    def predictions(self, rnd: Round) -> bytes:
        values = self.rng.uniform(0, 1, len(rnd.live_ids))
        return ("id,prediction\n" + "".join(f"{i},{float(v)!r}\n" for i, v in zip(rnd.live_ids, values))).encode()

    def open(self, op: Operator, rnd: Round) -> None:
        now = chain_now(self.w3)
        op.open_round(rnd.round_id, now + DAY, now + 3 * DAY, rnd.live_ids)

    def stake(self, rnd: Round, staker: Staker, raw: bytes, stake_wei: int, *, store: bool = True) -> None:
        if store:
            (self.source_dir / ("0x" + keccak(raw).hex())).write_bytes(raw)
        self.tx(staker.account).transact(self.t.functions.stake(
            rnd.round_id, staker.model_id, stake_wei, 100, 0, keccak(raw)), "stake")
        rnd.stakes[staker.model_id] = (staker.account.address, stake_wei, raw)

    def snapshot_wallets(self, rnd: Round) -> None:
        rnd.wallets_before = {a: self.t.functions.balanceOf(a).call()
                              for a in {s.account.address for s in self.stakers}}

    def to_resolvable(self, rnd: Round) -> None:
        info = self.t.functions.getRound(rnd.round_id).call()
        increase_time(self.w3, max(0, info[1] - chain_now(self.w3)) + 1)

    def past_challenge(self) -> None:
        increase_time(self.w3, DAY + 1)

    def settled_events(self, rnd: Round) -> list:
        return self.t.events.StakeSettled().get_logs(from_block=0, argument_filters={"roundId": rnd.round_id})

    def assert_settled_once_and_audited(self, rnd: Round, work: Path):
        """The end state every fault test demands; returns (StakeSettled events, audit report)."""
        assert self.t.functions.phase(rnd.round_id).call() == SETTLED
        events = self.settled_events(rnd)
        models = sorted(int(e["args"]["modelId"]) for e in events)
        assert models == sorted(rnd.stakes), "every stake settled exactly once"
        refunds = self.t.events.StakeRefunded().get_logs(from_block=0, argument_filters={"roundId": rnd.round_id})
        assert refunds == []
        proposals = self.t.events.ResultsProposed().get_logs(from_block=0, argument_filters={"roundId": rnd.round_id})
        assert len(proposals) == 1, "one proposal, no duplicate"
        report = verify_round(read_chain_view(self.w3, self.d.deployment, rnd.round_id),
                              read_artifacts(str(work), rnd.round_id))
        assert report.passed, [str(f) for f in report.findings][:5]
        return events, report


def make_world(deployed, tmp_path_factory, name: str) -> World:
    return World(deployed, tmp_path_factory.mktemp(name), name)


class LoopbackServer:
    """A Flask app on a real loopback port (werkzeug's threaded server) in a daemon thread."""

    def __init__(self, app):
        from werkzeug.serving import make_server
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
