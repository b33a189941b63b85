"""`make demo`: a whole multi-round tournament on the embedded local chain, with its trust model at work.

Starts anvil, deploys NMR and the tournament (2-of-3 signers, RECEIPT_ROLE for the submission
service), generates the synthetic dataset, and drives overlapping weekly rounds with synthetic
participants holding good, mediocre, overfit and random models. The roles run as separate
processes (tournament.demo.processes):
- three co-signers, `tournament signer serve`, each with its own keystore (anvil keys 7, 8, 9,
  written to `<out>/keystores/`, each password only in its own process's environment);
- the targets source, `tournament targets serve`: each round's targets are published to it
  (`tournament targets publish`) at resolution, and signers, watchtower and operator read them there;
- the watchtower, `tournament guardian watch` (guardian key 2), following the chain, alerting to a
  loopback webhook the demo runs.
Participants upload through the submission API (it answers each upload with a signed receipt,
which its owner hands to the watchtower) and stake from their own keys. The operator holds no
signer key: it proposes with the signatures it collects over HTTP. Two stories besides the
honest rounds:
(a) the operator first scores a round against wrong targets: every co-signer refuses (each
    reason is printed), so it cannot propose until it re-scores with the published targets;
(b) ATTACK: the operator withholds a valid file (whose owner holds an upload receipt) and two
    signer keys, used directly in-process as colluders, sign that wrong root; the watchtower's
    audit fails it inside the challenge window and it vetoes on its own; the round is then
    re-proposed honestly.
Every round is settled and audited (with the published targets and every receipt) and the demo
fails if any audit fails. Everything derives from the seed, so scores and payouts repeat
exactly. The chain state, artifacts and each process's log stay in the output folder for
`tournament audit` and the explorer (`make explorer`).
"""
from __future__ import annotations

import functools
import json
import logging
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, TypeVar

import numpy as np
import pandas as pd
import requests
from eth_account import Account
from web3 import Web3

from tournament.auditor.audit import read_artifacts, read_chain_view, verify_round
from tournament.chain.calls import Calls
from tournament.chain.deploy import deploy_tournament
from tournament.chain.devchain import REALISTIC_BLOCK_GAS, Anvil, free_port, fund_eth, increase_time
from tournament.chain.keys import anvil_test_accounts
from tournament.chain.reader import ChainReader
from tournament.chain.transactor import Transactor
from tournament.data.example_model import fit_ridge
from tournament.data.synthetic import generate
from tournament.demo.processes import AlertWebhook, Children, stop_on_sigterm
from tournament.operator import propose as propose_step
from tournament.operator.pipeline import Operator
from tournament.operator.signatures import HttpSignatureCollector, LocalKeySigners, SignatureCollectionError
from tournament.participant.client import Participant, ParticipantError
from tournament.protocol import scoring
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.presets import SEED
from tournament.protocol.receipts import parse_receipts
from tournament.protocol.results import SCORED
from tournament.protocol.submissions import submission_hash
from tournament.targets.client import fetch_targets

log = logging.getLogger(__name__)
T = TypeVar("T")

DAY = 86_400
WEEK = 7 * DAY
GENESIS_TIMESTAMP = 1_767_225_600  # 2026-01-01 00:00 UTC: a fixed chain clock keeps runs identical
FIRST_ROUND_ID = 1001
MODEL_KINDS = ("good", "mediocre", "overfit", "random")
# The demo's configuration: the seed preset with MMC switched on (0x..2x) so both scores pay.
DEMO_CONFIG = SEED.with_(mmc_mult_min=0, mmc_mult_max=200)
SIGNER_KEY_INDEXES = (7, 8, 9)      # anvil test accounts of the three co-signers
RECEIPT_KEY_INDEX = 3               # the submission service's RECEIPT_ROLE key
WAIT_S = 180.0                      # the longest the demo waits for another process to act
VETO_WAIT_STEP_S = 1_800            # chain time advanced per wall second while waiting for a veto


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
    refusal_round_index: int = 1  # story (a): the round (0-based) first scored against wrong targets
    veto_round_index: int = 2     # story (b): the round whose first, colluding proposal is vetoed
    watch_interval_s: float = 1.0  # seconds between the watchtower's passes
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
    scored_at_risk_wei: int = 0
    signers: list[str] = field(default_factory=list)       # who signed the accepted proposal
    refusals: list[str] = field(default_factory=list)      # "signer-7: <reason>", every refusal of the round
    veto_reasons: list[str] = field(default_factory=list)  # the watchtower's, from ResultsVetoed
    watchtower: list[str] = field(default_factory=list)    # its verdict per attempt: "0: FAIL (vetoed)", ...


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
    # Started resources; each exists only once its step ran, so _stop() looks them up with getattr.
    node: Anvil  # the local chain
    api_server: Any  # the submission API's werkzeug server
    children: Children  # co-signers, targets source, watchtower
    webhook: AlertWebhook  # the loopback alert sink

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
                     "oracle-targets", "market-data", "operator-targets", "targets-published", "keystores",
                     "signers", "watchtower", "logs", "summary.json", "anvil.log"):
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
            # The market's truth, revealed only through the targets source at resolution.
            path = self.out / "market-data" / f"targets-round-{FIRST_ROUND_ID + k}.csv"
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
        self.receipt_key = keys[RECEIPT_KEY_INDEX]
        self.signer_keys = [keys[i] for i in SIGNER_KEY_INDEXES]
        self.deployments_dir = self.out / "deployments"
        admin = Transactor(self.w3, self.admin)
        self.deployment = deploy_tournament(
            self.w3, admin, operator=self.operator_key.address,
            guardian=self.guardian.address, signers=[k.address for k in self.signer_keys], threshold=2,
            config=DEMO_CONFIG, reward_pool_wei=200_000 * NMR, deployments_dir=self.deployments_dir)
        self.calls = Calls(self.w3, self.deployment)
        admin.transact(self.calls.grant_role(self.reader().role_id("RECEIPT_ROLE"), self.receipt_key.address),
                       "granting RECEIPT_ROLE to the submission service's receipt key")
        self.initial_supply = self.reader().total_supply_wei()

    def _keystores(self) -> list[tuple[Path, str]]:
        """One encrypted keystore per co-signer, each with its own random password.

        The keys are anvil's public test keys, so a light scrypt work factor (2^14) keeps the
        start fast; production keystores use eth-account's default."""
        folder = self.out / "keystores"
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for index, key in zip(SIGNER_KEY_INDEXES, self.signer_keys):
            password = secrets.token_urlsafe(16)
            path = folder / f"signer-{index}.json"
            path.write_text(json.dumps(Account.encrypt(key.key, password, kdf="scrypt", iterations=2**14)))
            path.chmod(0o600)
            out.append((path, password))
        return out

    def _services(self) -> None:
        """The operator's submission API (a thread here), then the separate processes (not waited for yet)."""
        from tournament.operator.submission_service.app import ApiSettings, create_app
        self.work_dir = self.out / "work"
        settings = ApiSettings(w3=self.w3, deployment=self.deployment, data_dir=self.out / "submissions",
                               rounds_dir=self.work_dir, rate_per_minute=10_000, rate_burst=1_000,
                               receipt_key=self.receipt_key)
        self.api_server, self.api_url = _serve_in_thread(create_app(settings))
        self.children = Children(self.out / "logs")
        self.webhook = AlertWebhook()
        common = ["--rpc", self.node.rpc_url, "--deployments", str(self.deployments_dir)]
        # The targets source: a folder the market-data publisher writes, served over HTTP.
        self.targets_dir = self.out / "targets-published"
        port = free_port()
        self.targets_url = f"http://127.0.0.1:{port}"
        self.children.start("targets-source", ["targets", "serve", "--dir", str(self.targets_dir), "--port", str(port),
                                               "--threads", "2"], url=self.targets_url, wait=False)
        # Three co-signers, one key each, each key only in its own process.
        self.signer_urls: dict[str, str] = {}
        self.signer_names: dict[int, str] = {}
        for (keystore, password), index, key in zip(self._keystores(), SIGNER_KEY_INDEXES, self.signer_keys):
            name = f"signer-{index}"
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            self.children.start(name, ["signer", "serve", *common, "--submissions-url", self.api_url,
                                       "--targets-source", self.targets_url, "--port", str(port),
                                       "--confirmations", "0", "--state-dir", str(self.out / "signers" / name),
                                       "--keystore", str(keystore), "--password-env", "DEMO_SIGNER_PASSWORD",
                                       "--threads", "2"],
                                url=url, env={"DEMO_SIGNER_PASSWORD": password}, wait=False)
            self.signer_urls[url] = name
            self.signer_names[int(key.address, 16)] = name
        # The watchtower: guardian key 2, its receipts inbox and state, alerts to the webhook.
        port = free_port()
        self.watch_url = f"http://127.0.0.1:{port}"
        self.watch_state = self.out / "watchtower" / "state"
        self.children.start("watchtower", ["guardian", "watch", *common, "--key-env", "DEMO_GUARDIAN_KEY",
                                           "--artifacts", str(self.work_dir), "--targets-source", self.targets_url,
                                           "--receipts", str(self.out / "watchtower" / "receipts"),
                                           "--state", str(self.watch_state), "--listen", f"127.0.0.1:{port}",
                                           "--notify", self.webhook.notify_url,
                                           "--interval", str(self.s.watch_interval_s)],
                            url=self.watch_url, env={"DEMO_GUARDIAN_KEY": self.guardian.key.hex()}, wait=False)
        # The operator holds no signer key: it asks the co-signers over HTTP.
        collector = HttpSignatureCollector(list(self.signer_urls), timeout_s=WAIT_S, attempts=3, base_delay_s=0.5)
        self.operator = Operator(self.w3, self.deployment, self.operator_key, work_dir=self.work_dir,
                                 source=self.api_url, signatures=collector,
                                 artifacts_url_for=lambda r: self.operator.artifacts_dir(r).resolve().as_uri() + "/")
        self.collector = collector

    def _services_ready(self) -> None:
        self.children.wait_all_ready(WAIT_S)

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
                result = p.submit(round_id, m, f, *a, live_ids=ids)
                self._hand_in_receipt(result.upload.get("receipt"), m)
                if u == "all":      # withdraws from the round entirely before close
                    p.unstake(round_id, m, None)
                elif u:             # changes its mind: takes part of the stake back
                    p.unstake(round_id, m, u)
            todo.append(submit)
        self._parallel(actions, f"round {round_id} submissions")

    def _hand_in_receipt(self, receipt: Optional[dict], model_id: int) -> None:
        """The model's owner keeps its upload receipt and hands it to the watchtower (after staking on the file)."""
        if not receipt:
            raise DemoFailed(f"the submission service gave no receipt for model {model_id}'s upload")
        response = requests.post(f"{self.watch_url}/v1/receipts", json=receipt, timeout=60)
        if response.status_code != 201:
            raise DemoFailed(f"the watchtower did not take model {model_id}'s receipt: HTTP {response.status_code} "
                             f"{response.text[:200]}")

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

    # -- resolution: targets, signatures, the watchtower ------------------------------
    def _story_rounds(self) -> tuple[int, int]:
        """(story (a) round index, story (b) round index), kept distinct and inside the demo's rounds."""
        veto = min(self.s.veto_round_index, self.s.rounds - 1)
        refusal = min(self.s.refusal_round_index, self.s.rounds - 1)
        if refusal == veto:
            refusal = veto - 1 if veto > 0 else veto + 1
        return refusal, veto

    def _publish_targets(self, k: int) -> None:
        """The market-data publisher puts the round's targets on the targets source (a separate process)."""
        round_id = self._round_id(k)
        done = subprocess.run([sys.executable, "-m", "tournament", "targets", "publish", "--round", str(round_id),
                               str(self.targets_paths[k]), "--dir", str(self.targets_dir)],
                              capture_output=True, text=True, timeout=WAIT_S)
        if done.returncode != 0:
            raise DemoFailed(f"publishing round {round_id}'s targets failed: {(done.stderr or done.stdout).strip()}")

    def _published_targets(self, round_id: int) -> bytes:
        return fetch_targets(self.targets_url, round_id)

    def _operator_targets(self, round_id: int) -> Path:
        """The operator reads the targets from the targets source, like everyone else."""
        path = self.out / "operator-targets" / f"round-{round_id}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self._published_targets(round_id))
        return path

    def _signer_name(self, address: Optional[str]) -> str:
        return self.signer_names.get(int(address or "0x0", 16), str(address))

    def _propose(self, round_id: int, log_entry: dict, how: str) -> None:
        """The operator proposes with signatures collected over HTTP; says who signed."""
        self.operator.propose(round_id)
        attempt = self.reader().round(round_id, with_opened_block=False).attempt
        note = self.operator.ctx.folder(round_id).notes().get("proposals", {}).get(str(attempt), {})
        signers = sorted(self._signer_name(a) for a in note.get("signers", []))
        log_entry["signers"] = signers
        for line in note.get("refusals", []):
            log_entry["refusals"].append(line)
            self.echo(f"    not signed: {line}")
        self.echo(f"  round {round_id}: {how}; co-signers {', '.join(signers)} signed over HTTP "
                  f"(threshold 2 of 3); proposed attempt {attempt}")

    def _propose_honestly(self, round_id: int, log_entry: dict, how: str = "scored with the published targets") -> None:
        self.operator.score(round_id, self._operator_targets(round_id))
        self._propose(round_id, log_entry, how)

    def _story_wrong_targets(self, round_id: int, log_entry: dict) -> None:
        """(a) The operator scores against its own, wrong targets: the co-signers refuse to sign."""
        real = pd.read_csv(self.targets_paths[self._index(round_id)])
        wrong = self.out / "operator-targets" / f"wrong-round-{round_id}.csv"
        wrong.parent.mkdir(parents=True, exist_ok=True)
        real.assign(target=np.roll(real["target"].to_numpy(), 17)).to_csv(wrong, index=False)
        self.operator.score(round_id, wrong)
        self.echo(f"  round {round_id}: STORY (a) the operator scored against its own copy of the targets "
                  "(not the published ones) and asks the co-signers to sign")
        try:
            self.operator.propose(round_id)
        except SignatureCollectionError as error:
            for outcome in error.report.failures:
                name = self.signer_urls.get(outcome.who, outcome.who)
                log_entry["refusals"].append(f"{name}: {outcome.reason}")
                self.echo(f"    {name} {outcome.status}: {outcome.reason}")
            self.echo(f"  round {round_id}: the operator cannot propose ({len(error.report.signed)} of 2 signatures); "
                      "it re-scores with the targets source's file")
        else:
            raise DemoFailed(f"round {round_id}: the co-signers signed results scored against wrong targets")
        self._propose_honestly(round_id, log_entry, "re-scored with the published targets")

    def _story_collusion(self, round_id: int, log_entry: dict) -> None:
        """(b) ATTACK: a valid file withheld, two colluding signer keys sign; the watchtower vetoes on its own."""
        ctx = self.operator.ctx
        folder = ctx.folder(round_id)
        targets = self._operator_targets(round_id)
        self.operator.score(round_id, targets)          # the honest scoring first: who is SCORED, with what stake
        leaves, _tree, _hash = propose_step.local_results(ctx, round_id)
        scored = {leaf.model_id for leaf in leaves if leaf.status == SCORED}
        staked = folder.collected()
        victim = max((s for s in staked if s.model_id in scored), key=lambda s: (s.stake_wei, -s.model_id))
        name = next(p.name for p in self.plans if p.model_id == victim.model_id)
        files = folder.received_files(staked)
        files.pop(victim.model_id)
        receipts = [r for r in propose_step.round_receipts(folder, round_id) if r.model_id != victim.model_id]
        wrong = propose_step.compute_scoring(round_id, staked, files, folder.live_ids_path.read_bytes(),
                                             targets.read_bytes(), receipts)
        propose_step.write_artifacts(ctx, folder, wrong)
        colluders = self.signer_keys[:2]
        self.echo(f"  round {round_id}: STORY (b) ATTACK: the operator withholds model {victim.model_id}'s valid file "
                  f"({name}, {int(victim.stake_wei) / NMR:,.2f} NMR; its owner holds an upload receipt) and two "
                  f"colluding signer keys ({', '.join(self._signer_name(k.address) for k in colluders)}) sign the "
                  "wrong root directly, in-process, bypassing their co-signer services")
        propose_step.propose(ctx, LocalKeySigners(colluders), round_id)
        state = self.reader().round(round_id, with_opened_block=False)
        attempt, start = state.attempt, self._now()
        self.echo(f"  round {round_id}: attempt {attempt} proposed (root 0x{state.results_root.hex()[:16]}..); "
                  f"challenge window {(state.challenge_end - start) / 3600:.0f}h; waiting for the watchtower")
        reason, elapsed = self._wait_for_veto(round_id, attempt, state.challenge_end)
        log_entry["veto_reasons"].append(reason)
        self.echo(f"  round {round_id}: the WATCHTOWER VETOED attempt {attempt} on its own, {elapsed:.1f}s later, "
                  f"{(self._now() - start) / 3600:.1f}h into the {(state.challenge_end - start) / 3600:.0f}h window: "
                  f"{reason}")
        for alert in self.webhook.received():
            if "vetoed" in str(alert.get("title", "")):
                self.echo(f"    webhook alert: {alert.get('title')}")
        self.operator.collect(round_id)                   # fetches the withheld file back into the artifacts
        self._propose_honestly(round_id, log_entry, "re-collected and re-scored honestly")

    def _index(self, round_id: int) -> int:
        return round_id - FIRST_ROUND_ID

    def _wait_for_veto(self, round_id: int, attempt: int, challenge_end: int) -> tuple[str, float]:
        """Waits for the watchtower's ResultsVetoed, moving chain time in small steps, never past the window."""
        started = time.monotonic()
        while time.monotonic() - started < WAIT_S:
            self.children.check_all()
            for event in self.reader().round_events(round_id).of("ResultsVetoed"):
                if int(event.args["attempt"]) == attempt:
                    return str(event.args["reason"]), time.monotonic() - started
            if self._now() + 2 * VETO_WAIT_STEP_S < challenge_end:
                increase_time(self.w3, VETO_WAIT_STEP_S)
            time.sleep(1.0)
        raise DemoFailed(f"round {round_id}: the watchtower did not veto attempt {attempt} within {WAIT_S:.0f}s; "
                         f"see {self.children.log_dir / 'watchtower.log'}")

    def _watchtower_decision(self, round_id: int, attempt: int, root: bytes) -> Optional[dict]:
        try:
            state = json.loads((self.watch_state / "state.json").read_text())
        except (OSError, ValueError):
            return None
        return (state.get("decisions") or {}).get(f"{round_id}:{attempt}:0x{root.hex()}")

    def _await_watchtower_pass(self, round_id: int, log_entry: dict) -> None:
        """Before the window closes: the watchtower must have audited the proposal and left it alone."""
        state = self.reader().round(round_id, with_opened_block=False)
        started = time.monotonic()
        while (decision := self._watchtower_decision(round_id, state.attempt, state.results_root)) is None:
            self.children.check_all()
            if time.monotonic() - started > WAIT_S:
                raise DemoFailed(f"round {round_id}: the watchtower did not audit attempt {state.attempt} within "
                                 f"{WAIT_S:.0f}s; see {self.children.log_dir / 'watchtower.log'}")
            time.sleep(0.25)
        if decision.get("verdict") != "PASS":
            raise DemoFailed(f"round {round_id}: the watchtower's audit of the honest attempt {state.attempt} says "
                             f"{decision.get('verdict')}: {decision.get('reason')}")
        self.echo(f"  round {round_id}: watchtower audited attempt {state.attempt}: PASS (left alone)")

    def _resolve_round(self, k: int) -> None:
        round_id = self._round_id(k)
        self._advance_to(self.schedule[round_id][1])
        self._publish_targets(k)
        entry = self.round_log.setdefault(round_id, {"signers": [], "refusals": [], "veto_reasons": []})
        refusal_round, veto_round = self._story_rounds()
        if k == refusal_round:
            self._story_wrong_targets(round_id, entry)
        elif k == veto_round:
            self._story_collusion(round_id, entry)
        else:
            self._propose_honestly(round_id, entry)
        self._await_watchtower_pass(round_id, entry)
        challenge_end = self.reader().round(round_id, with_opened_block=False).challenge_end
        self._advance_to(challenge_end)
        status = self.operator.run(round_id)
        if status.phase != "Settled":
            raise DemoFailed(f"round {round_id} did not settle: {status}")

    def _watchtower_verdicts(self, round_id: int) -> list[str]:
        try:
            decisions = json.loads((self.watch_state / "state.json").read_text()).get("decisions") or {}
        except (OSError, ValueError):
            return []
        out = []
        for key, decision in sorted(decisions.items()):
            rid, attempt, _root = key.split(":")
            if int(rid) == round_id:
                out.append(f"{attempt}: {decision.get('verdict')} ({decision.get('action')})")
        return out

    def _audit(self, round_id: int) -> dict:
        """The auditor's verdict with the targets source's file and every receipt the submission service issued."""
        receipts = parse_receipts(requests.get(f"{self.api_url}/v1/rounds/{round_id}/receipts", timeout=60).content)
        report = verify_round(read_chain_view(self.w3, self.deployment, round_id),
                              read_artifacts(str(self.work_dir), round_id),
                              targets_source=self._published_targets(round_id), receipts=receipts)
        if not report.passed:
            lines = [str(f) for f in report.findings[:10]]
            raise DemoFailed(f"audit of round {round_id} FAILED:\n  " + "\n  ".join(lines))
        return report.to_json()

    # -- reporting ----------------------------------------------------------------
    def _round_summary(self, round_id: int, audit: dict) -> RoundSummary:
        reader = self.reader()
        state = reader.round(round_id)
        vetoed = reader.round_events(round_id).of("ResultsVetoed")
        entry = self.round_log.get(round_id, {})
        return RoundSummary(round_id=round_id, staked=state.staked_count, total_at_risk_wei=state.total_at_risk_wei,
                            payout_factor=state.payout_factor_e18 / 1e18, rewards_wei=state.rewards_paid_wei,
                            burned_wei=state.burned_wei, supply_after_wei=reader.total_supply_wei(), vetoes=len(vetoed),
                            audit=audit["verdict"], scored_at_risk_wei=int(state.scored_at_risk_wei or 0),
                            signers=list(entry.get("signers", [])), refusals=list(entry.get("refusals", [])),
                            veto_reasons=[str(e.args["reason"]) for e in vetoed],
                            watchtower=self._watchtower_verdicts(round_id))

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
        echo(f"{'round':>6} {'staked':>6} {'at risk NMR':>12} {'scored NMR':>11} {'pf':>6} {'rewards NMR':>12} "
             f"{'burned NMR':>11} {'NMR supply after':>17} {'vetoes':>6} {'audit':>6}")
        for r in result.rounds:
            echo(f"{r.round_id:>6} {r.staked:>6} {r.total_at_risk_wei / NMR:>12,.2f} "
                 f"{r.scored_at_risk_wei / NMR:>11,.2f} {r.payout_factor:>6.3f} "
                 f"{r.rewards_wei / NMR:>12,.4f} {r.burned_wei / NMR:>11,.4f} {r.supply_after_wei / NMR:>17,.4f} "
                 f"{r.vetoes:>6} {r.audit:>6}")
        echo("")
        echo("Trust: who signed each accepted proposal, who refused, what the watchtower decided")
        echo(f"{'round':>6} {'signed by':<20} {'refusals':>8} {'watchtower (attempt: verdict)':<44} veto reason")
        for r in result.rounds:
            echo(f"{r.round_id:>6} {', '.join(r.signers):<20} {len(r.refusals):>8} {'; '.join(r.watchtower):<44} "
                 f"{r.veto_reasons[0] if r.veto_reasons else '-'}")
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
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the demo's output
        # The demo prints every refusal itself, with the signer's name: no second copy from the collector's log.
        logging.getLogger("tournament.operator.signatures").setLevel(logging.ERROR)
        started = time.perf_counter()
        self.round_log: dict[int, dict] = {}
        with stop_on_sigterm():   # a SIGTERM still runs the `finally`: no process is left behind
            try:
                with self.clock.phase("set-up: chain, contracts, processes, dataset, models"):
                    self._prepare_out_dir()
                    self._chain()
                    self._services()          # the processes start while the dataset and models are made
                    self._data()
                    self._train_models()
                    self._services_ready()
                return self._run_rounds(started)
            finally:
                self._stop()

    def _stop(self) -> None:
        """Every process the demo started stops, in order: children, servers, then the chain."""
        children: Optional[Children] = getattr(self, "children", None)
        webhook: Optional[AlertWebhook] = getattr(self, "webhook", None)
        api_server = getattr(self, "api_server", None)
        node: Optional[Anvil] = getattr(self, "node", None)
        if children is not None:
            children.stop_all()
        if webhook is not None:
            webhook.close()
        if api_server is not None:
            api_server.shutdown()
        if node is not None:
            node.stop()

    def _describe_processes(self) -> None:
        self.echo("Processes (logs in " + str(self.children.log_dir) + "):")
        for child in self.children.children:
            pid = child.process.pid if child.process is not None else "-"
            self.echo(f"  {child.name:<15} pid {pid:<7} {child.url}")
        self.echo(f"  {'submissions':<15} (thread)    {self.api_url}  receipts signed by "
                  f"{self.receipt_key.address} (RECEIPT_ROLE)")
        self.echo(f"  {'alert webhook':<15} (thread)    http://127.0.0.1:{self.webhook.port}/alerts")
        self.echo("The operator holds no signer key; it asks the three co-signers for 2-of-3 signatures over HTTP.")

    def _run_rounds(self, started: float) -> DemoResult:
        s = self.s
        self.echo(f"anvil on {self.node.rpc_url}; tournament {self.deployment.tournament}; "
                  f"{s.participants} participants x {s.models_per_participant} models; {s.rounds} rounds")
        self._describe_processes()
        with self.clock.phase("participants: keys, deposits, models"):
            self._participants()
        with self.clock.phase("rounds: open, submit, stake, hand in receipts, unstake, collect"):
            self._open_and_stake()
        summaries, audits = [], {}
        for k in range(s.rounds):
            round_id = self._round_id(k)
            with self.clock.phase("resolve: publish targets, score, sign, propose, watch, settle"):
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
                f"  .venv/bin/tournament audit --round {FIRST_ROUND_ID + self._story_rounds()[1]} "
                f"--deployments {self.deployments_dir} --artifacts {self.work_dir}\n"
                f"Each process's log: {self.children.log_dir}; co-signer decisions: "
                f"{self.out / 'signers' / '<name>' / 'decisions.jsonl'}; watchtower state: {self.watch_state}")
        result = DemoResult(summaries, self._leaderboard(), dict(self.clock.timings), self.out, note,
                            self.initial_supply, final_supply, audits)
        (self.out / "summary.json").write_text(json.dumps({
            "rounds": [asdict(r) for r in summaries], "leaderboard": result.leaderboard,
            "timings_s": result.timings_s, "seed": s.seed,
            "deployment": asdict(self.deployment)}, indent=2, default=str) + "\n")
        self._print(result)
        return result


def run_demo(settings: DemoSettings, echo: Callable[[str], None] = print) -> DemoResult:
    return Demo(settings, echo).run()
