"""`tournament operator ...`: the operator's round pipeline from the command line.

Every command is a thin wrapper over `tournament.operator.pipeline.Operator`: it connects to the RPC,
loads the deployment file of the chain (chain id and genesis hash; its contracts checked at the
RPC), takes the work folder's operator lock for that chain (one process at a time), loads the
operator key (OPERATOR_KEY or
--operator-keystore; --anvil-keys for a local chain), runs one step and prints one line per
thing done. `propose` and `run` collect the oracle signatures over HTTP from the co-signers
given with `--signer URL` (repeatable): the operator host holds no signer key. Signing with
keys held by this process (`--local-signer-keys`: ORACLE_SIGNER_KEYS, --signer-keystore, or
anvil's keys with --anvil-keys) is for local development and tests only. Failures exit 1
with a one-line message (the traceback only with `tournament -v`).
"""
from __future__ import annotations

import functools
import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

log = logging.getLogger(__name__)

DEFAULT_RPC = "http://127.0.0.1:8545"
ANVIL_OPERATOR_INDEX = 1
ANVIL_SIGNER_INDICES = (7, 8, 9)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_duration(text: str) -> int:
    """'7d', '12h', '30m', '45s', '2w' or plain seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", str(text))
    if not match:
        raise click.BadParameter(f"{text!r}: use a number with a unit, like 7d, 12h, 30m or 45s")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def _verbose() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return bool(root and root.params.get("verbose"))


def failures_exit(fn):
    """Expected failures become `Error: <message>` and exit 1; -v shows the traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from tournament.chain.client import ChainError
        from tournament.chain.keys import KeyLoadError
        from tournament.guardian.actions import GuardianError
        from tournament.operator.common import OperatorError
        from tournament.operator.sources import SourceError
        from tournament.protocol.artifacts import ArtifactsError
        from tournament.protocol.results import ResultsError
        from tournament.protocol.signing import SigningError
        try:
            return fn(*args, **kwargs)
        except (OperatorError, ChainError, SourceError, KeyLoadError, SigningError, ArtifactsError,
                ResultsError, GuardianError, OSError) as exc:
            if _verbose():
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
    return wrapper


if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from tournament.operator.pipeline import Operator
    from tournament.operator.signatures import SignatureSource


class Settings:
    """The click options of an operator command, as attributes (the ones read here are declared)."""

    rpc: str
    work: str
    deployments: Optional[str]
    confirmations: int
    operator_keystore: Optional[str]
    anvil_keys: bool
    max_batch: Optional[int]
    max_fee_gwei: Optional[float]
    tx_gas_cap: Optional[int]
    signer_timeout: float
    signer_attempts: int
    signer_keystore: tuple[str, ...]

    def __init__(self, **options: object) -> None:
        self.__dict__.update(options)


def _operator_account(s: Settings) -> Optional[LocalAccount]:
    from tournament.chain.keys import anvil_test_accounts, key_from_env, load_keystore
    if s.anvil_keys:
        return anvil_test_accounts(10)[ANVIL_OPERATOR_INDEX]
    if s.operator_keystore:
        return load_keystore(s.operator_keystore, password_env="OPERATOR_KEYSTORE_PASSWORD"
                             if os.environ.get("OPERATOR_KEYSTORE_PASSWORD") else None,
                             prompt=lambda q: click.prompt(q, hide_input=True))
    if os.environ.get("OPERATOR_KEY"):
        return key_from_env("OPERATOR_KEY")
    return None  # steps that send transactions say what is missing


def _signer_accounts(s: Settings) -> list[LocalAccount]:
    from tournament.chain.keys import KeyLoadError, anvil_test_accounts, key_from_env, load_keystore
    if s.anvil_keys:
        keys = anvil_test_accounts(10)
        return [keys[i] for i in ANVIL_SIGNER_INDICES]
    accounts = [load_keystore(path, password_env="ORACLE_SIGNER_KEYSTORE_PASSWORD"
                              if os.environ.get("ORACLE_SIGNER_KEYSTORE_PASSWORD") else None,
                              prompt=lambda q: click.prompt(q, hide_input=True))
                for path in s.signer_keystore]
    text = os.environ.get("ORACLE_SIGNER_KEYS", "")
    for n, part in enumerate(p for p in text.split(",") if p.strip()):
        try:
            accounts.append(key_from_env("KEY", environ={"KEY": part.strip()}))
        except KeyLoadError:
            raise KeyLoadError(f"ORACLE_SIGNER_KEYS: entry {n + 1} is not a private key "
                               "(comma-separated 64-hex-digit keys)") from None
    return accounts


def _signature_source(s: Settings) -> Optional[SignatureSource]:
    """Co-signers over HTTP (--signer URL ...), or local keys with --local-signer-keys (dev/test only)."""
    from tournament.operator.common import OperatorError
    from tournament.operator.signatures import HttpSignatureCollector, LocalKeySigners
    urls = list(getattr(s, "signer", ()) or ())
    local = bool(getattr(s, "local_signer_keys", False))
    if urls and local:
        raise OperatorError("give either --signer URL (co-signers) or --local-signer-keys (dev/test), not both")
    if urls:
        return HttpSignatureCollector(urls, timeout_s=s.signer_timeout, attempts=s.signer_attempts)
    if local:
        accounts = _signer_accounts(s)
        if not accounts:
            raise OperatorError("--local-signer-keys: no keys given (ORACLE_SIGNER_KEYS, --signer-keystore, "
                                "or --anvil-keys on a local chain)")
        return LocalKeySigners(accounts)
    return None  # propose says what is missing


def make_operator(s: Settings, source: Optional[str] = None, need_signers: bool = False,
                  lock: bool = True) -> Operator:
    """The Operator for these options; `lock` takes the work folder's lock for this chain (every
    command that may send transactions: two operators on one key replace each other's)."""
    from tournament.chain.client import connect, load_contracts
    from tournament.operator.lock import OperatorLock
    from tournament.operator.pipeline import Operator
    from tournament.operator.settle import DEFAULT_TX_GAS_CAP
    signatures = _signature_source(s) if need_signers else None
    w3 = connect(s.rpc)
    deployment, _, _ = load_contracts(w3, Path(s.deployments) if s.deployments else None)
    if lock:
        OperatorLock(Path(s.work), deployment.chain_id, deployment.tournament).acquire()   # released at exit
    template = getattr(s, "artifacts_url", None)
    max_fee_gwei = getattr(s, "max_fee_gwei", None)
    tx_gas_cap = DEFAULT_TX_GAS_CAP if getattr(s, "tx_gas_cap", None) is None else s.tx_gas_cap
    return Operator(w3, deployment, _operator_account(s), (), Path(s.work), source,
                    confirmations=s.confirmations, max_batch_leaves=s.max_batch, signatures=signatures,
                    artifacts_url_for=(lambda round_id: template.format(round=round_id)) if template else None,
                    max_fee_per_gas_wei=None if max_fee_gwei is None else int(max_fee_gwei * 10**9),
                    tx_gas_cap=tx_gas_cap)


def common(fn):
    """Options every operator command takes."""
    options = [
        click.option("--rpc", default=lambda: os.environ.get("TOURNAMENT_RPC", DEFAULT_RPC), show_default=DEFAULT_RPC,
                     help="JSON-RPC URL of the chain (env TOURNAMENT_RPC)."),
        click.option("--work", default="tournament-data", show_default=True, type=click.Path(file_okay=False),
                     help="Operator work folder (rounds/<id>/...)."),
        click.option("--deployments", default=None, type=click.Path(file_okay=False),
                     help="Folder with <chainId>.json from scripts/deploy.py (default: ./deployments)."),
        click.option("--confirmations", default=0, show_default=True, type=click.IntRange(0),
                     help="Blocks to wait after each receipt (0 on a local chain)."),
        click.option("--operator-keystore", default=None, type=click.Path(dir_okay=False, exists=True),
                     help="Operator keystore (password: env OPERATOR_KEYSTORE_PASSWORD or prompt); "
                          "default: env OPERATOR_KEY."),
        click.option("--anvil-keys", is_flag=True,
                     help="Local chain only: anvil's public test keys (1 operator; 7-9 signers with "
                          "--local-signer-keys)."),
        click.option("--max-batch", default=None, type=click.IntRange(1),
                     help="Cap on stakes per settle transaction (default: sized from measured gas)."),
        click.option("--max-fee-gwei", default=None, type=click.FloatRange(min=0, min_open=True),
                     help="Never pay more than this per gas (EIP-1559 maxFeePerGas); above it nothing is sent."),
        click.option("--tx-gas-cap", default=None, type=click.IntRange(21_000),
                     help="Most gas one transaction may use (settle batches are sized to it); "
                          "default 16,777,216 (EIP-7825), or half the block if smaller."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def signing(fn):
    """Options of the commands that get results signed (propose, run)."""
    options = [
        click.option("--signer", multiple=True, metavar="URL",
                     help="A co-signer's URL (POST {URL}/v1/sign), repeatable: signatures are collected from "
                          "these until the signer set's threshold; this host holds no signer key."),
        click.option("--signer-timeout", default=300.0, show_default=True, type=click.FloatRange(0.1),
                     help="Seconds to wait for each co-signer's answer (it recomputes the round first)."),
        click.option("--signer-attempts", default=3, show_default=True, type=click.IntRange(1),
                     help="Tries per co-signer that is down, slow or busy."),
        click.option("--artifacts-url", default=None, metavar="TEMPLATE",
                     help="Where co-signers can read the published artifacts, e.g. "
                          "https://host/rounds/{round}/artifacts/ ({round} is replaced)."),
        click.option("--local-signer-keys", is_flag=True,
                     help="DEV/TEST ONLY: sign in this process with keys from ORACLE_SIGNER_KEYS, "
                          "--signer-keystore, or anvil's (--anvil-keys). Whoever runs it holds the m-of-n."),
        click.option("--signer-keystore", multiple=True, type=click.Path(dir_okay=False, exists=True),
                     help="DEV/TEST ONLY, with --local-signer-keys: an oracle signer keystore, repeatable "
                          "(password: env ORACLE_SIGNER_KEYSTORE_PASSWORD or prompt)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group()
def operator() -> None:
    """Run rounds: open, collect, score, propose, settle (each step idempotent and resumable)."""


@operator.command("open-round")
@click.option("--round", "round_id", required=True, type=click.IntRange(1))
@click.option("--close-in", default="7d", show_default=True, help="Staking closes this long from now (chain time).")
@click.option("--resolve-after", default="28d", show_default=True, help="Targets are known this long after close.")
@click.option("--live-ids", required=True, type=click.Path(dir_okay=False, exists=True),
              help="CSV with a column `id`: the round's live ids.")
@common
@failures_exit
def open_round(round_id, close_in, resolve_after, live_ids, **options):
    """Publish the live ids and open the round on-chain."""
    op = make_operator(Settings(**options))
    close_time = op.now() + parse_duration(close_in)
    status = op.open_round(round_id, close_time, close_time + parse_duration(resolve_after), Path(live_ids))
    click.echo(str(status))


@operator.command()
@click.option("--round", "round_id", required=True, type=click.IntRange(1))
@click.option("--source", required=True, help="Submission store: a folder (<0x-keccak> files) or the API's URL.")
@common
@failures_exit
def collect(round_id, source, **options):
    """Fetch every committed file of a closed round and check its hash."""
    click.echo(str(make_operator(Settings(**options), source).collect(round_id)))


@operator.command()
@click.option("--round", "round_id", required=True, type=click.IntRange(1))
@click.option("--targets", default=None, type=click.Path(dir_okay=False, exists=True),
              help="CSV id,target (copied into the round folder; default: the one already there).")
@common
@failures_exit
def score(round_id, targets, **options):
    """Validate and score the collected files; write the artifacts folder and leaves."""
    click.echo(str(make_operator(Settings(**options)).score(round_id, targets)))


@operator.command()
@click.option("--round", "round_id", required=True, type=click.IntRange(1))
@signing
@common
@failures_exit
def propose(round_id, **options):
    """Collect m-of-n signatures from the co-signers (--signer URL ...) and propose the results (once per attempt)."""
    click.echo(str(make_operator(Settings(**options), need_signers=True).propose(round_id)))


@operator.command()
@click.option("--round", "round_id", required=True, type=click.IntRange(1))
@common
@failures_exit
def settle(round_id, **options):
    """Settle every unsettled stake of an accepted round in gas-sized batches."""
    click.echo(str(make_operator(Settings(**options)).settle(round_id)))


@operator.command()
@click.option("--round", "round_id", required=True, type=click.IntRange(1))
@click.option("--targets", default=None, type=click.Path(dir_okay=False, exists=True))
@click.option("--source", default=None, help="Submission store (folder or URL); needed to collect.")
@click.option("--wait", is_flag=True, help="Keep going: sleep until the next step is due, until settled.")
@click.option("--max-wait", default="0", help="With --wait, give up after this long (e.g. 2d; 0 = no limit).")
@signing
@common
@failures_exit
def run(round_id, targets, source, wait, max_wait, **options):
    """Do every step that is due for the round."""
    op = make_operator(Settings(**options), source, need_signers=True)
    status = op.run(round_id, targets, wait=wait, max_wait_s=parse_duration(max_wait))
    click.echo(str(status))


@operator.command()
@click.option("--round", "round_id", required=True, type=click.IntRange(1))
@common
@failures_exit
def status(round_id, **options):
    """Show the round's phase, attempt, closed stakes and the operator's next action."""
    click.echo(str(make_operator(Settings(**options), lock=False).next_action(round_id)))


@operator.command()
@click.option("--round", "round_id", required=True, type=click.IntRange(1))
@click.option("--targets", required=True, type=click.Path(dir_okay=False, exists=True),
              help="The targets known so far: id,target (CSV or Parquet) for some of the live ids.")
@click.option("--work", default="tournament-data", show_default=True, type=click.Path(file_okay=False),
              help="Operator work folder (rounds/<id>/...).")
@failures_exit
def provisional(round_id, targets, work):
    """Publish PROVISIONAL scores of a resolving round on the targets known so far (no chain, no payout)."""
    import time

    from tournament.operator.provisional import publish_provisional
    path, rows = publish_provisional(work, round_id, targets, int(time.time()))
    known = f"{rows[0].ids_scored}/{rows[0].ids_total} ids" if rows else "no stakes"
    click.echo(f"round {round_id}: provisional scores of {len(rows)} stakes on {known} -> {path}")
