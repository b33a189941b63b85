"""`make demo`: a whole multi-round tournament on the embedded local chain, audited.

Starts anvil, deploys NMR and the tournament (2-of-3 signers), generates the synthetic dataset,
and drives overlapping weekly rounds with synthetic participants holding good, mediocre,
overfit and random models. Participants upload through the submission API and stake from
their own keys; the operator pipeline collects, scores, proposes, waits out the challenge
window and settles; one round's first proposal is vetoed by the guardian (its targets differ
from the published ones) and re-proposed; the auditor checks every round and the demo fails
if any audit fails. Everything derives from the seed, so scores and payouts repeat exactly.
The chain state and artifacts stay in the output folder for `tournament audit` and the
explorer (`make explorer`).
"""
from __future__ import annotations

import functools
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, TypeVar

import numpy as np
import pandas as pd
from eth_account import Account
from web3 import Web3

from tournament.auditor.audit import read_artifacts, read_chain_view, verify_round
from tournament.chain.calls import Calls
from tournament.chain.deploy import deploy_tournament
from tournament.chain.devchain import REALISTIC_BLOCK_GAS, Anvil, fund_eth, increase_time
from tournament.chain.keys import anvil_test_accounts
from tournament.chain.reader import ChainReader
from tournament.chain.transactor import Transactor
from tournament.data.example_model import fit_ridge
from tournament.data.synthetic import generate
from tournament.operator.pipeline import Operator, veto
from tournament.participant.client import Participant, ParticipantError
from tournament.protocol import scoring
from tournament.protocol.presets import SEED
from tournament.protocol.submissions import submission_hash

log = logging.getLogger(__name__)
T = TypeVar("T")

NMR = 10**18
DAY = 86_400
WEEK = 7 * DAY
GENESIS_TIMESTAMP = 1_767_225_600  # 2026-01-01 00:00 UTC: a fixed chain clock keeps runs identical
FIRST_ROUND_ID = 1001
MODEL_KINDS = ("good", "mediocre", "overfit", "random")
# The demo's configuration: the seed preset with MMC switched on (0x..2x) so both scores pay.
DEMO_CONFIG = SEED.with_(mmc_mult_min=0, mmc_mult_max=200)


class DemoFailed(RuntimeError):
    """A demo step failed; the message names the step and the reason."""


@dataclass
class DemoSettings:
    out_dir: Path = Path("demo-out")
    seed: int = 7
    rounds: int = 4
    participants: int = 24
    models_per_participant: int = 3
    ids_per_era: int = 2_000
    features: int = 40
    eras: int = 64               # public history; each round adds one live era
    veto_round_index: int = 1    # which round (0-based) gets a vetoed first proposal
    progress: bool = True


@dataclass
class ModelPlan:
    owner_index: int
    name: str
    kind: str
    model_id: int = 0


@dataclass
class RoundSummary:
    round_id: int
    staked: int
    total_at_risk_wei: int
    payout_factor: float
    rewards_wei: int
    burned_wei: int
    supply_after_wei: int
    vetoes: int
    audit: str


@dataclass
class DemoResult:
    rounds: list[RoundSummary]
    leaderboard: list[dict]
    timings_s: dict[str, float]
    out_dir: Path
    rpc_note: str
    initial_supply_wei: int
    final_supply_wei: int
    audit_reports: dict[int, dict] = field(default_factory=dict)


# ---------------------------------------------------------------------------- helpers

class _Clock:
    """Wall time per phase, for the summary and `make bench`."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        log.info("demo: %s", name)
        try:
            yield
        except DemoFailed:
            raise
        except Exception as exc:
            raise DemoFailed(f"step '{name}' failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def _progress(iterable: Iterable[T], total: int, desc: str, enabled: bool) -> Iterable[T]:
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, leave=False, unit="step")


def _serve_in_thread(app):
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_port}"


def _ranked(values: np.ndarray) -> np.ndarray:
    return scoring.rank_tie_kept(np.asarray(values, dtype=np.float64))


def _write_predictions(path: Path, ids: Iterable[str], predictions: np.ndarray) -> Path:
    frame = pd.DataFrame({"id": list(ids), "prediction": np.round(predictions, 6)})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------- the demo

class Demo:
    node: Optional[Anvil]  # the local chain, once started
    api_server: Any  # the submission API's werkzeug server, once serving

    def __init__(self, settings: DemoSettings, echo: Callable[[str], None] = print):
        self.s = settings
        self.echo = echo
        self.clock = _Clock()
        self.out = Path(settings.out_dir)
        self.rng = np.random.default_rng(settings.seed)

    # -- set-up ------------------------------------------------------------------
    def _prepare_out_dir(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for name in ("anvil-state.json", "deployments", "work", "submissions", "data", "predictions",
                     "oracle-targets", "summary.json", "anvil.log"):
            path = self.out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def _data(self) -> None:
        s = self.s
        dataset = generate(seed=s.seed, n_eras=s.eras + s.rounds, n_ids=s.ids_per_era, n_features=s.features)
        full = pd.concat([dataset.train, dataset.validation,
                          dataset.live.join(dataset.live_targets)]).drop(columns="data_type")
        eras = sorted(full["era"].unique())
        self.features = dataset.feature_names
        self.regimes = dataset.regimes
        self.round_eras = eras[-s.rounds:]
        self.history = full[~full["era"].isin(self.round_eras)]
        self.live = {era: full[full["era"] == era] for era in self.round_eras}
        data_dir = self.out / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.history.to_parquet(data_dir / "train.parquet")
        self.targets_paths = []
        for k, era in enumerate(self.round_eras):
            frame = self.live[era]
            frame.drop(columns="target").to_parquet(data_dir / f"live-round-{k + 1}.parquet")
            path = self.out / "oracle-targets" / f"targets-round-{FIRST_ROUND_ID + k}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            frame[["target"]].reset_index().to_csv(path, index=False)
            self.targets_paths.append(path)

    def _train_models(self) -> None:
        """One predictor per planned model: ridge on everything (good), on a few features
        (mediocre), on a handful of eras of one regime with almost no shrinkage (overfit),
        or noise (random)."""
        s = self.s
        self.plans: list[ModelPlan] = []
        self.predictors: list[Callable[[pd.DataFrame], np.ndarray]] = []
        history_eras = sorted(self.history["era"].unique())
        last_regime = self.regimes[history_eras[-1]]
        for owner in range(s.participants):
            for j in range(s.models_per_participant):
                kind = MODEL_KINDS[(owner + j) % len(MODEL_KINDS)]
                name = f"p{owner:02d}-{kind}-{j}"
                self.plans.append(ModelPlan(owner, name, kind))
                seed = int(self.rng.integers(2**31))
                self.predictors.append(self._predictor(kind, seed, history_eras, last_regime))

    def _predictor(self, kind: str, seed: int, history_eras: list[Any],
                   last_regime: object) -> Callable[[pd.DataFrame], np.ndarray]:
        rng = np.random.default_rng(seed)
        if kind == "good":
            recent = history_eras[-int(rng.integers(12, 40)):]
            model = fit_ridge(self.history[self.history["era"].isin(recent)], self.features,
                              alpha=float(rng.choice([1e2, 1e3, 1e4])))
            return model.predict
        if kind == "mediocre":
            subset = list(rng.choice(self.features, size=4, replace=False))
            model = fit_ridge(self.history, subset, alpha=1e3)
            return model.predict
        if kind == "overfit":
            other = [e for e in history_eras if self.regimes[e] != last_regime] or history_eras
            eras = list(rng.choice(other, size=min(3, len(other)), replace=False))
            model = fit_ridge(self.history[self.history["era"].isin(eras)], self.features, alpha=1e-3)
            return model.predict
        return lambda frame: rng.random(len(frame))

    def _chain(self) -> None:
        self.node = Anvil(gas_limit=REALISTIC_BLOCK_GAS, state_path=self.out / "anvil-state.json",
                          log_path=self.out / "anvil.log", genesis_timestamp=GENESIS_TIMESTAMP)
        self.node.start()
        self.w3 = Web3(Web3.HTTPProvider(self.node.rpc_url, request_kwargs={"timeout": 120}))
        keys = anvil_test_accounts(10)
        self.admin, self.operator_key, self.guardian = keys[0], keys[1], keys[2]
        self.signer_keys = keys[7:10]
        self.deployments_dir = self.out / "deployments"
        self.deployment = deploy_tournament(
            self.w3, Transactor(self.w3, self.admin), operator=self.operator_key.address,
            guardian=self.guardian.address, signers=[k.address for k in self.signer_keys], threshold=2,
            config=DEMO_CONFIG, reward_pool_wei=200_000 * NMR, deployments_dir=self.deployments_dir)
        self.calls = Calls(self.w3, self.deployment)
        self.initial_supply = self.reader().total_supply_wei()

    def _services(self) -> None:
        from tournament.operator.submission_service.app import ApiSettings, create_app
        self.work_dir = self.out / "work"
        settings = ApiSettings(w3=self.w3, deployment=self.deployment, data_dir=self.out / "submissions",
                               rounds_dir=self.work_dir, rate_per_minute=10_000, rate_burst=1_000)
        self.api_server, self.api_url = _serve_in_thread(create_app(settings))
        # The host holds two of the three signer keys: exactly the threshold.
        self.operator = Operator(self.w3, self.deployment, self.operator_key, self.signer_keys[:2],
                                 work_dir=self.work_dir, source=self.api_url)

    def _participants(self) -> None:
        s = self.s
        admin = Transactor(self.w3, self.admin)
        self.people: list[Participant] = []
        bankrolls = []
        for i in _progress(range(s.participants), s.participants, "funding participants", s.progress):
            account = Account.from_key(Web3.keccak(text=f"demo participant {s.seed}/{i}"))
            fund_eth(self.w3, account.address)
            bankroll = int(self.rng.integers(2_500, 10_000)) * NMR
            admin.transact(self.calls.token_call("transfer", account.address, bankroll), f"funding participant {i}")
            self.people.append(Participant(self.w3, self.deployment, account, self.api_url))
            bankrolls.append(bankroll)
        actions: dict[int, list[Callable[[], object]]] = {}
        for i, person in enumerate(self.people):
            # Half deposit with an EIP-2612 permit, half with approve + deposit.
            actions[i] = [functools.partial(person.deposit, bankrolls[i], permit=(i % 2 == 0))]
        self._parallel(actions, "deposits")
        # Models are created one by one: their ids are sequential on-chain, and the same seed
        # must give the same ids (and so the same leaves and roots) on every run.
        for plan in _progress(self.plans, len(self.plans), "models", s.progress):
            plan.model_id = self.people[plan.owner_index].create_model(plan.name)

    # -- rounds -------------------------------------------------------------------
    def _round_id(self, k: int) -> int:
        return FIRST_ROUND_ID + k

    def _submit_round(self, k: int) -> None:
        """Every model submits and stakes; a few unstake; one files an invalid file; one never uploads.

        Decisions are drawn in a fixed order (so runs repeat exactly); then each owner sends its
        own transactions, owners in parallel (each has its own key and nonces).
        """
        round_id = self._round_id(k)
        frame = self.live[self.round_eras[k]]
        ids = [str(x) for x in frame.index]
        invalid_plan = self.plans[(3 * k + 1) % len(self.plans)]
        silent_plan = self.plans[(3 * k + 2) % len(self.plans)]
        actions: dict[int, list[Callable[[], object]]] = {}
        for index, plan in enumerate(self.plans):
            person = self.people[plan.owner_index]
            stake_wei = int(self.rng.integers(5, 200)) * NMR + int(self.rng.integers(0, 100)) * NMR // 100
            corr_mult = int(self.rng.choice([50, 100, 150, 200, 250, 300]))
            mmc_mult = int(self.rng.choice([0, 50, 100, 200]))
            path = self.out / "predictions" / f"round-{round_id}" / f"{plan.name}.csv"
            todo = actions.setdefault(plan.owner_index, [])
            if plan is invalid_plan:
                _write_predictions(path, ids, np.full(len(ids), 0.5))
                todo.append(functools.partial(self._submit_invalid, person, round_id, plan, path,
                                              stake_wei, corr_mult, mmc_mult))
                continue
            _write_predictions(path, ids, _ranked(self.predictors[index](frame)))
            if plan is silent_plan:
                # Stakes on a file it never uploads: INVALID ("no submission file received").
                def stake_silent(p: Participant = person, m: int = plan.model_id, f: Path = path,
                                 a: tuple[int, int, int] = (stake_wei, corr_mult, mmc_mult)) -> None:
                    self._stake_direct(p, round_id, m, *a, submission_hash(f.read_bytes()))
                todo.append(stake_silent)
                continue
            unstake = stake_wei // 3 if index % 9 == 4 else ("all" if index % 17 == 8 else 0)

            def submit(p=person, m=plan.model_id, f=path, a=(stake_wei, corr_mult, mmc_mult), u=unstake):
                p.submit(round_id, m, f, *a, live_ids=ids)
                if u == "all":      # withdraws from the round entirely before close
                    p.unstake(round_id, m, None)
                elif u:             # changes its mind: takes part of the stake back
                    p.unstake(round_id, m, u)
            todo.append(submit)
        self._parallel(actions, f"round {round_id} submissions")

    def _parallel(self, actions: dict[int, list[Callable[[], object]]], desc: str) -> None:
        """Runs each owner's actions in order, owners concurrently; re-raises the first failure."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        def run_owner(todo: list[Callable[[], object]]) -> None:
            for action in todo:
                action()

        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(run_owner, todo) for todo in actions.values()]
            for future in _progress(as_completed(futures), len(futures), desc, self.s.progress):
                future.result()

    def _submit_invalid(self, person: Participant, round_id: int, plan: ModelPlan, path: Path,
                        stake_wei: int, corr_mult: int, mmc_mult: int) -> None:
        """Constant predictions: the API refuses the upload; the participant stakes anyway
        (straight on the contract), so the stake is INVALID and refunded in full."""
        try:
            person.upload(round_id, plan.model_id, path.read_bytes())
        except ParticipantError as refused:
            log.info("demo: %s upload refused as expected: %s", plan.name, refused)
        else:
            raise DemoFailed(f"the submission API accepted a constant file for {plan.name}")
        self._stake_direct(person, round_id, plan.model_id, stake_wei, corr_mult, mmc_mult,
                           submission_hash(path.read_bytes()))

    def _stake_direct(self, person: Participant, round_id: int, model_id: int, stake_wei: int,
                      corr_mult: int, mmc_mult: int, digest: bytes) -> None:
        person.tx.transact(self.calls.stake(round_id, model_id, stake_wei, corr_mult, mmc_mult, digest),
                           f"staking on model {model_id}")

    def reader(self) -> ChainReader:
        """A ChainReader pinned at the head now (the demo reads after its own transactions)."""
        return ChainReader(self.w3, self.deployment)

    def _now(self) -> int:
        return self.reader().now()

    def _advance_to(self, timestamp: int) -> None:
        now = self._now()
        if timestamp > now:
            increase_time(self.w3, timestamp - now)

    def _open_and_stake(self) -> None:
        self.schedule = {}
        start = self._now()
        for k in range(self.s.rounds):
            round_id = self._round_id(k)
            self._advance_to(start + k * WEEK)
            close_time = start + (k + 1) * WEEK
            resolve_time = close_time + 4 * WEEK
            self.schedule[round_id] = (close_time, resolve_time)
            live_ids = [str(x) for x in self.live[self.round_eras[k]].index]
            self.operator.open_round(round_id, close_time, resolve_time, live_ids)
            self._submit_round(k)
            # The previous round closed when this one opened: collect it now (files leave the
            # API only after close).
            if k:
                self._advance_to(self.schedule[round_id - 1][0])
                self.operator.collect(round_id - 1)
        self._advance_to(self.schedule[self._round_id(self.s.rounds - 1)][0])
        self.operator.collect(self._round_id(self.s.rounds - 1))

    def _guardian_check(self, round_id: int, true_targets: Path) -> Optional[str]:
        """The guardian compares the proposed artifacts' targets with the published targets."""
        artifacts = self.operator.artifacts_dir(round_id)
        posted = (artifacts / "targets.csv").read_bytes()
        if posted != true_targets.read_bytes():
            return "artifacts targets.csv differs from the published targets"
        return None

    def _resolve_round(self, k: int) -> None:
        round_id = self._round_id(k)
        true_targets = self.targets_paths[k]
        self._advance_to(self.schedule[round_id][1])
        if k == self.s.veto_round_index:
            # The operator first scores against the wrong file (the previous round's targets).
            wrong = self.out / "oracle-targets" / f"wrong-targets-round-{round_id}.csv"
            real = pd.read_csv(true_targets)
            shuffled = real.assign(target=np.roll(real["target"].to_numpy(), 17))
            shuffled.to_csv(wrong, index=False)
            self.operator.score(round_id, wrong)
            self.operator.propose(round_id)
            reason = self._guardian_check(round_id, true_targets)
            if reason is None:
                raise DemoFailed(f"round {round_id}: the guardian did not notice the wrong targets")
            veto(self.w3, self.deployment, self.guardian, round_id, reason)
            self.echo(f"  round {round_id}: guardian vetoed attempt 0 ({reason}); operator re-scores")
        self.operator.score(round_id, true_targets)
        self.operator.propose(round_id)
        if self._guardian_check(round_id, true_targets) is not None:
            raise DemoFailed(f"round {round_id}: proposed targets differ from the published ones")
        challenge_end = self.reader().round(round_id, with_opened_block=False).challenge_end
        self._advance_to(challenge_end)
        status = self.operator.run(round_id)
        if status.phase != "Settled":
            raise DemoFailed(f"round {round_id} did not settle: {status}")

    def _audit(self, round_id: int) -> dict:
        report = verify_round(read_chain_view(self.w3, self.deployment, round_id),
                              read_artifacts(str(self.work_dir), round_id))
        if not report.passed:
            lines = [str(f) for f in report.findings[:10]]
            raise DemoFailed(f"audit of round {round_id} FAILED:\n  " + "\n  ".join(lines))
        return report.to_json()

    # -- reporting ----------------------------------------------------------------
    def _round_summary(self, round_id: int, audit: dict) -> RoundSummary:
        reader = self.reader()
        state = reader.round(round_id)
        vetoes = len(reader.round_events(round_id).of("ResultsVetoed"))
        return RoundSummary(round_id=round_id, staked=state.staked_count, total_at_risk_wei=state.total_at_risk_wei,
                            payout_factor=state.payout_factor_e18 / 1e18, rewards_wei=state.rewards_paid_wei,
                            burned_wei=state.burned_wei, supply_after_wei=reader.total_supply_wei(), vetoes=vetoes,
                            audit=audit["verdict"])

    def _leaderboard(self) -> list[dict]:
        settled = self.reader().events("StakeSettled")
        by_model: dict[int, dict] = {}
        names = {p.model_id: p for p in self.plans}
        for event in settled:
            a = event.args
            row = by_model.setdefault(a["modelId"], {"model": names[a["modelId"]].name,
                                                     "kind": names[a["modelId"]].kind, "rounds": 0,
                                                     "corr": 0.0, "mmc": 0.0, "staked_wei": 0, "earned_wei": 0,
                                                     "invalid": 0})
            row["rounds"] += 1
            row["staked_wei"] += a["stake"]
            row["earned_wei"] += a["payout"]
            row["corr"] += a["corr"] / 1e9
            row["mmc"] += a["mmc"] / 1e9
            row["invalid"] += int(a["status"] == 2)
        board = sorted(by_model.values(), key=lambda r: (-r["earned_wei"], r["model"]))
        for row in board:
            row["return"] = row["earned_wei"] / row["staked_wei"] if row["staked_wei"] else 0.0
        return board

    def _print(self, result: DemoResult) -> None:
        echo = self.echo
        echo("")
        echo("Rounds")
        echo(f"{'round':>6} {'staked':>6} {'at risk NMR':>12} {'pf':>6} {'rewards NMR':>12} {'burned NMR':>11} "
             f"{'NMR supply after':>17} {'vetoes':>6} {'audit':>6}")
        for r in result.rounds:
            echo(f"{r.round_id:>6} {r.staked:>6} {r.total_at_risk_wei / NMR:>12,.2f} {r.payout_factor:>6.3f} "
                 f"{r.rewards_wei / NMR:>12,.4f} {r.burned_wei / NMR:>11,.4f} {r.supply_after_wei / NMR:>17,.4f} "
                 f"{r.vetoes:>6} {r.audit:>6}")
        echo("")
        echo("Leaderboard (cumulative over settled rounds; return = earnings / NMR staked)")
        echo(f"{'#':>3} {'model':<22} {'kind':<9} {'rounds':>6} {'corr':>8} {'mmc':>8} {'earned NMR':>11} "
             f"{'return':>8}")
        for i, row in enumerate(result.leaderboard, 1):
            echo(f"{i:>3} {row['model']:<22} {row['kind']:<9} {row['rounds']:>6} {row['corr']:>8.4f} "
                 f"{row['mmc']:>8.4f} {row['earned_wei'] / NMR:>11,.4f} {row['return']:>8.2%}")
        kinds: dict[str, list[float]] = {}
        for row in result.leaderboard:
            kinds.setdefault(row["kind"], []).append(row["return"])
        echo("")
        echo("Mean return by kind of model: " + ", ".join(
            f"{kind} {np.mean(values):+.2%}" for kind, values in sorted(kinds.items())))
        burned = result.initial_supply_wei - result.final_supply_wei
        echo(f"NMR supply: {result.initial_supply_wei / NMR:,.0f} -> {result.final_supply_wei / NMR:,.4f} "
             f"(burned {burned / NMR:,.4f}, equal to the sum of StakeSettled burns)")
        echo("")
        echo("Time: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in result.timings_s.items()))
        echo("")
        echo(result.rpc_note)

    # -- main ---------------------------------------------------------------------
    def run(self) -> DemoResult:
        s = self.s
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the demo's output
        started = time.perf_counter()
        self.node = None
        self.api_server = None
        try:
            with self.clock.phase("set-up: chain, contracts, dataset, models"):
                self._prepare_out_dir()
                self._chain()
                self._data()
                self._train_models()
                self._services()
            assert self.node is not None  # _chain() started it
            self.echo(f"anvil on {self.node.rpc_url}; tournament {self.deployment.tournament}; "
                      f"{s.participants} participants x {s.models_per_participant} models; {s.rounds} rounds")
            with self.clock.phase("participants: keys, deposits, models"):
                self._participants()
            with self.clock.phase("rounds: open, submit, stake, unstake, collect"):
                self._open_and_stake()
            summaries, audits = [], {}
            for k in range(s.rounds):
                round_id = self._round_id(k)
                with self.clock.phase("operator: score, propose, settle"):
                    self._resolve_round(k)
                with self.clock.phase("audit"):
                    audits[round_id] = self._audit(round_id)
                summaries.append(self._round_summary(round_id, audits[round_id]))
                self.echo(f"  round {round_id}: settled, audit {audits[round_id]['verdict']}")
            reader = self.reader()
            final_supply = reader.total_supply_wei()
            burns = sum(int(e.args["burned"]) for e in reader.events("StakeSettled"))
            if self.initial_supply - final_supply != burns:
                raise DemoFailed(f"supply fell by {self.initial_supply - final_supply} wei but burns sum to {burns}")
            self.clock.timings["total"] = time.perf_counter() - started
            out_arg = "" if self.out == Path("demo-out") else f" DEMO_OUT={self.out}"
            note = (f"Chain state: {self.out / 'anvil-state.json'}; artifacts: {self.work_dir}.\n"
                    f"Explore it: make explorer{out_arg}   (serves http://127.0.0.1:8050 on the saved chain)\n"
                    f"Audit a round yourself: make explorer-chain{out_arg} &   then\n"
                    f"  .venv/bin/tournament audit --round {FIRST_ROUND_ID + s.veto_round_index} "
                    f"--deployments {self.deployments_dir} --artifacts {self.work_dir}")
            result = DemoResult(summaries, self._leaderboard(), dict(self.clock.timings), self.out, note,
                                self.initial_supply, final_supply, audits)
            (self.out / "summary.json").write_text(json.dumps({
                "rounds": [asdict(r) for r in summaries], "leaderboard": result.leaderboard,
                "timings_s": result.timings_s, "seed": s.seed,
                "deployment": asdict(self.deployment)}, indent=2, default=str) + "\n")
            self._print(result)
            return result
        finally:
            if self.api_server is not None:
                self.api_server.shutdown()
            if self.node is not None:
                self.node.stop()


def run_demo(settings: DemoSettings, echo: Callable[[str], None] = print) -> DemoResult:
    return Demo(settings, echo).run()
