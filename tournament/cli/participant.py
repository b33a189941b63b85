"""`tournament participant`: a data scientist's wallet client on their own key.

Keys come from an eth-account keystore (`new-key`; its password from an environment variable
or a hidden prompt) or from a hex private key in an environment variable; a key is never
printed. Amounts are NMR ("12.5", converted to wei exactly); multipliers are "2x", "0.5" or
hundredths ("200"). Every transaction is summarised and confirmed first (`--yes` skips the
question). The work is done by `tournament.participant.client.Participant`; this module only reads
options, asks and prints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import click

DEFAULT_RPC = "http://127.0.0.1:8545"
DEFAULT_PASSWORD_ENV = "TOURNAMENT_KEYSTORE_PASSWORD"
DEFAULT_KEY_ENV = "TOURNAMENT_PRIVATE_KEY"


@dataclass
class Settings:
    rpc: str
    deployments: Optional[Path]
    keystore: Optional[Path]
    password_env: str
    key_env: str
    api: Optional[str]
    confirmations: int = 0
    cache: Optional[str] = None
    _participant: object = None
    _connection: Optional[tuple] = None

    def participant(self):
        """The Participant for these options (connects and loads the key once)."""
        if self._participant is None:
            from tournament.chain.keys import load_account
            from tournament.participant.client import Participant

            with errors():
                if self.keystore is not None:
                    account = load_account(keystore=self.keystore, password_env=self._password_env_if_set(),
                                           prompt=lambda q: click.prompt(q, hide_input=True))
                else:
                    if not os.environ.get(self.key_env):
                        raise click.ClickException(
                            f"no key: pass --keystore FILE (create one with `tournament participant new-key FILE`) "
                            f"or put a private key in the environment variable {self.key_env}")
                    account = load_account(key_env=self.key_env)
                w3, deployment = self.connection()
                self._participant = Participant(w3, deployment, account, self.api,
                                                confirmations=self.confirmations)
        return self._participant

    def connection(self):
        """(Web3, Deployment) for --rpc and --deployments, without a key (read-only commands)."""
        from tournament.chain.contracts import Deployment
        from tournament.chain.rpc import connect
        from tournament.cli.errors import remember_contract

        if self._connection is not None:
            return self._connection
        if not str(self.rpc).startswith(("http://", "https://")):
            raise click.ClickException(f"RPC URL {self.rpc!r} must start with http:// or https://, "
                                       "e.g. --rpc http://127.0.0.1:8545")
        with errors():
            w3 = connect(self.rpc)
            # chain id + genesis pick the file; the code at both addresses and the token are checked
            deployment = Deployment.for_rpc(w3, self.deployments)
            from tournament.chain.event_cache import attach_event_cache, cache_from_option
            attach_event_cache(w3, cache_from_option(self.cache))
        remember_contract(deployment.tournament, deployment.chain_id)
        self._connection = (w3, deployment)
        return self._connection

    def reader(self):
        """A ChainReader at the head (minus --confirmations): the participant's if a key is given."""
        from tournament.chain.reader import ChainReader
        if self.has_key():
            return self.participant().reader()
        w3, deployment = self.connection()
        return ChainReader(w3, deployment, confirmations=self.confirmations)

    def has_key(self) -> bool:
        return self.keystore is not None or bool(os.environ.get(self.key_env))

    def _password_env_if_set(self) -> Optional[str]:
        return self.password_env if os.environ.get(self.password_env) else None


class errors:
    """Turns the library's clear errors into click errors (message only, no traceback)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        from tournament.chain.errors import ChainError
        from tournament.chain.keys import KeyLoadError
        from tournament.participant.client import ParticipantError

        if exc is not None and isinstance(exc, (ParticipantError, ChainError, KeyLoadError)):
            raise click.ClickException(str(exc)) from None
        return False


def confirm(summary: list[str], yes: bool) -> None:
    click.echo("\n".join(summary))
    if not yes:
        click.confirm("Send this transaction?", abort=True, default=False)


def nmr_amount(text: str) -> int:
    from tournament.participant.client import ParticipantError, parse_nmr
    try:
        return parse_nmr(text)
    except ParticipantError as exc:
        raise click.BadParameter(str(exc)) from None


def multiplier(text: str) -> int:
    from tournament.participant.client import ParticipantError, parse_multiplier
    try:
        return parse_multiplier(text)
    except ParticipantError as exc:
        raise click.BadParameter(str(exc)) from None


yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


def nmr_column(amount_wei: Optional[int], width: int = 14, places: int = 4) -> str:
    """An NMR amount rounded to `places` decimals, right-aligned in `width` characters."""
    from tournament.protocol.units import format_nmr
    return f"{format_nmr(amount_wei, places):>{width}}"


# Group options (`tournament participant --rpc URL status`) are accepted after the subcommand
# too (`tournament participant status --rpc URL`), as the operator's and the auditor's are.
# There they default to None and override the group's value only when given.
def _override(ctx: click.Context, param: click.Parameter, value: object) -> object:
    if value is not None and value != ():
        settings = ctx.find_object(Settings)
        if settings is not None:
            setattr(settings, str(param.name), value)
            settings._participant = None
            settings._connection = None
    return value


def group_options(fn):
    """The group's connection options, accepted after the subcommand as well."""
    options = [
        click.option("--rpc", default=None, expose_value=False, callback=_override, help="JSON-RPC URL of the chain."),
        click.option("--deployments", default=None, expose_value=False, callback=_override,
                     type=click.Path(file_okay=False, path_type=Path), help="Directory with <chainId>.json files."),
        click.option("--keystore", default=None, expose_value=False, callback=_override,
                     type=click.Path(dir_okay=False, path_type=Path), help="Encrypted keystore with your key."),
        click.option("--password-env", default=None, expose_value=False, callback=_override,
                     help="Environment variable holding the keystore password."),
        click.option("--key-env", default=None, expose_value=False, callback=_override,
                     help="Environment variable holding a hex private key."),
        click.option("--api", default=None, expose_value=False, callback=_override,
                     help="The operator's submission API URL."),
        click.option("--confirmations", default=None, expose_value=False, callback=_override,
                     type=click.IntRange(min=0), help="Read the chain this many blocks below its head."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group("participant")
@click.option("--rpc", default=DEFAULT_RPC, show_default=True, envvar="TOURNAMENT_RPC",
              help="JSON-RPC URL of the chain (env TOURNAMENT_RPC).")
@click.option("--deployments", type=click.Path(file_okay=False, path_type=Path), envvar="TOURNAMENT_DEPLOYMENTS",
              help="Directory with <chainId>.json deployment files (env TOURNAMENT_DEPLOYMENTS).")
@click.option("--keystore", type=click.Path(dir_okay=False, path_type=Path), envvar="TOURNAMENT_KEYSTORE",
              help="Encrypted keystore with your key (env TOURNAMENT_KEYSTORE).")
@click.option("--password-env", default=DEFAULT_PASSWORD_ENV, show_default=True,
              help="Environment variable holding the keystore password (else you are asked).")
@click.option("--key-env", default=DEFAULT_KEY_ENV, show_default=True,
              help="Environment variable holding a hex private key, used when no keystore is given.")
@click.option("--api", envvar="TOURNAMENT_API", help="The operator's submission API URL (env TOURNAMENT_API).")
@click.option("--confirmations", type=click.IntRange(min=0), default=0, show_default=True,
              envvar="TOURNAMENT_CONFIRMATIONS",
              help="Reorg safety: read the chain this many blocks below its head, and wait this many blocks after "
                   "each transaction (re-sent if a reorg drops it).")
@click.option("--cache", default=None, metavar="DIR|off",
              help="Local event cache (SQLite): later reads ask the RPC only for new blocks. Default: "
                   "$TOURNAMENT_EVENT_CACHE, else ~/.cache/tournament/; 'off' disables it.")
@click.pass_context
def participant(ctx: click.Context, rpc: str, deployments: Optional[Path], keystore: Optional[Path],
                password_env: str, key_env: str, api: Optional[str], confirmations: int, cache: Optional[str]) -> None:
    """Your models, wallet, submissions and stakes, on your own key."""
    ctx.obj = Settings(rpc, deployments, keystore, password_env, key_env, api, confirmations, cache)


@participant.command("new-key")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@group_options
@click.pass_obj
def new_key(settings: Settings, path: Path) -> None:
    """Create a fresh key in an encrypted keystore at PATH (prints the address only)."""
    from tournament.chain.keys import new_keystore

    password = os.environ.get(settings.password_env)
    if not password:
        password = click.prompt("Password for the new keystore", hide_input=True, confirmation_prompt=True)
    with errors():
        address = new_keystore(path, password)
    click.echo(f"new key {address} in {path}")
    click.echo("keep the keystore and its password safe: nobody can recover them")


@participant.command("address")
@group_options
@click.pass_obj
def address(settings: Settings) -> None:
    """Print the address of your key."""
    click.echo(settings.participant().address)


@participant.command("create-model")
@click.argument("name")
@yes_option
@group_options
@click.pass_obj
def create_model(settings: Settings, name: str, yes: bool) -> None:
    """Create a model named NAME owned by your key."""
    p = settings.participant()
    confirm([f"create model {name!r} owned by {p.address}"], yes)
    with errors():
        model_id = p.create_model(name)
    click.echo(f"model {model_id} ({name}) created")


@participant.command("deposit")
@click.argument("amount", type=str)
@click.option("--permit", is_flag=True, help="One transaction with an EIP-2612 permit instead of approve + deposit.")
@yes_option
@group_options
@click.pass_obj
def deposit(settings: Settings, amount: str, permit: bool, yes: bool) -> None:
    """Move AMOUNT NMR from your address into your tournament wallet."""
    from tournament.participant.client import format_nmr
    amount_wei = nmr_amount(amount)
    p = settings.participant()
    if permit:
        with errors():
            has_permit = p.token_features().permit
        if not has_permit:
            click.echo(f"the token at {p.calls.nmr_address} has no permit (like the mainnet NMR): "
                       "approving, then depositing instead")
            permit = False
    confirm([f"deposit {format_nmr(amount_wei)} NMR from {p.address} into the tournament wallet"
             + (" (with a permit)" if permit else " (approve, then deposit)")], yes)
    with errors():
        tx = p.deposit(amount_wei, permit=permit)
        wallet = p.reader().wallet_balance_wei(p.address)
    click.echo(f"deposited {format_nmr(amount_wei)} NMR (tx 0x{tx.removeprefix('0x')}); "
               f"wallet {format_nmr(wallet)} NMR")


@participant.command("withdraw")
@click.argument("amount", type=str)
@yes_option
@group_options
@click.pass_obj
def withdraw(settings: Settings, amount: str, yes: bool) -> None:
    """Send AMOUNT NMR (or `all`) from your tournament wallet back to your address."""
    from tournament.participant.client import format_nmr
    p = settings.participant()
    with errors():
        amount_wei = p.reader().wallet_balance_wei(p.address) if amount == "all" else nmr_amount(amount)
        if amount_wei == 0:
            raise click.ClickException("your tournament wallet is empty; nothing to withdraw")
    confirm([f"withdraw {format_nmr(amount_wei)} NMR from the tournament wallet to {p.address}"], yes)
    with errors():
        tx = p.withdraw(amount_wei)
    click.echo(f"withdrew {format_nmr(amount_wei)} NMR (tx 0x{tx.removeprefix('0x')})")


@participant.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--round", "round_id", required=True, type=int, help="Round number.")
@click.option("--model", required=True, help="Model id or name.")
@click.option("--stake", "stake", required=True, help="NMR to add to the stake (0 to only replace the file).")
@click.option("--corr-mult", required=True, help="CORR multiplier: 2x, 0.5 or hundredths (200).")
@click.option("--mmc-mult", default="0", show_default=True, help="MMC multiplier, same forms.")
@click.option("--live-ids", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Validate against this live_ids.csv instead of the one the API publishes.")
@yes_option
@group_options
@click.pass_obj
def submit(settings: Settings, file: Path, round_id: int, model: str, stake: str, corr_mult: str, mmc_mult: str,
           live_ids: Optional[Path], yes: bool) -> None:
    """Validate FILE, upload it to the submission API, then stake on it with its hash."""
    from tournament.participant.client import format_nmr
    from tournament.protocol.submissions import submission_hash
    stake_wei, corr, mmc = nmr_amount(stake), multiplier(corr_mult), multiplier(mmc_mult)
    p = settings.participant()
    with errors():
        model_id = p.resolve_model(model)
        ids = None
        if live_ids is not None:
            from tournament.data.synthetic import read_live_ids
            ids = list(read_live_ids(live_ids))
    digest = "0x" + submission_hash(file.read_bytes()).hex()
    confirm([f"round {round_id}, model {model_id}: upload {file.name} ({digest})",
             f"then stake {format_nmr(stake_wei)} NMR at corr {corr / 100:g}x, mmc {mmc / 100:g}x from {p.address}"],
            yes)
    with errors():
        result = p.submit(round_id, model_id, file, stake_wei, corr, mmc, live_ids=ids)
    click.echo(f"uploaded {result.submission_hash} ({result.upload.get('status')}); "
               f"stake on model {model_id} in round {round_id} is now {format_nmr(result.total_stake_wei)} NMR "
               f"(tx 0x{result.stake_tx.removeprefix('0x')})")


@participant.command("unstake")
@click.option("--round", "round_id", required=True, type=int, help="Round number.")
@click.option("--model", required=True, help="Model id or name.")
@click.argument("amount", required=False)
@yes_option
@group_options
@click.pass_obj
def unstake(settings: Settings, round_id: int, model: str, amount: Optional[str], yes: bool) -> None:
    """Take AMOUNT NMR (default: all) of a stake back while the round is open."""
    from tournament.participant.client import format_nmr
    amount_wei = nmr_amount(amount) if amount else None
    p = settings.participant()
    with errors():
        model_id = p.resolve_model(model)
        staked, _, _ = p.stake_of(round_id, model_id)
    shown = format_nmr(amount_wei) if amount_wei is not None else f"all {format_nmr(staked)}"
    confirm([f"unstake {shown} NMR of model {model_id} in round {round_id} back to the wallet of {p.address}"], yes)
    with errors():
        tx = p.unstake(round_id, model_id, amount_wei)
    click.echo(f"unstaked (tx 0x{tx.removeprefix('0x')})")


@participant.command("status")
@group_options
@click.pass_obj
def status(settings: Settings) -> None:
    """Balances, models, open stakes and stakes waiting for results."""
    from tournament.participant.client import format_nmr, format_time
    p = settings.participant()
    with errors():
        s = p.status()
    click.echo(f"address          {s.address}")
    click.echo(f"NMR (address)    {format_nmr(s.nmr_wei)}")
    click.echo(f"NMR (wallet)     {format_nmr(s.wallet_wei)}")
    click.echo(f"NMR (at stake)   {format_nmr(s.at_risk_wei)}")
    click.echo(f"ETH (gas)        {format_nmr(s.eth_wei, 6)}")
    click.echo("models           " + (", ".join(f"{m.model_id} {m.name}" for m in s.models) or "none"))
    for title, rows in (("open rounds", s.open_stakes), ("closed, waiting for results", s.pending_stakes)):
        click.echo(f"\n{title}:")
        if not rows:
            click.echo("  none")
        for r in rows:
            when = f"closes {format_time(r.close_time)}" if r.phase == "Open" else \
                f"{r.phase}; resolves {format_time(r.resolve_time)}"
            click.echo(f"  round {r.round_id:>5}  model {r.model_id} {r.model_name:<16} {format_nmr(r.amount_wei):>14} NMR"
                       f"  corr {r.corr_mult / 100:g}x mmc {r.mmc_mult / 100:g}x  {when}  file {r.submission_hash[:12]}…")


@participant.command("history")
@click.option("--csv", "as_csv", is_flag=True, help="Machine-readable CSV (amounts in wei) instead of a table.")
@group_options
@click.pass_obj
def history(settings: Settings, as_csv: bool) -> None:
    """Every settled round: stake, corr, mmc, payout, burned, cumulative earnings and return."""
    from tournament.participant.client import format_nmr
    p = settings.participant()
    with errors():
        rows = p.history()
    if as_csv:
        click.echo("round_id,model_id,model_name,status,stake_wei,corr_nanos,mmc_nanos,payout_wei,burned_wei,"
                   "cumulative_payout_wei,cumulative_stake_wei,tx_hash")
        for r in rows:
            click.echo(f"{r.round_id},{r.model_id},{r.model_name},{r.status},{r.stake_wei},{r.corr_nanos},"
                       f"{r.mmc_nanos},{r.payout_wei},{r.burned_wei},{r.cumulative_payout_wei},"
                       f"{r.cumulative_stake_wei},{r.tx_hash}")
        return
    if not rows:
        click.echo("no settled stakes yet")
        return
    click.echo(f"{'round':>6} {'model':<18} {'status':<8} {'stake':>12} {'corr':>9} {'mmc':>9} {'payout':>12} "
               f"{'burned':>10} {'cum. payout':>12} {'cum. return':>11}")
    for r in rows:
        click.echo(f"{r.round_id:>6} {str(r.model_id) + ' ' + r.model_name:<18.18} {r.status:<8} "
                   f"{format_nmr(r.stake_wei, 4):>12} {r.corr:>+9.5f} {r.mmc:>+9.5f} {format_nmr(r.payout_wei, 4):>12} "
                   f"{format_nmr(r.burned_wei, 4):>10} {format_nmr(r.cumulative_payout_wei, 4):>12} "
                   f"{r.cumulative_return:>+10.2%}")


# ---------------------------------------------------------------------------- diagnostics (no chain)

def _read_table(path: Path, what: str) -> Any:
    from tournament.participant.diagnostics import DiagnosticsError
    from tournament.participant.diagnostics_files import read_table
    try:
        return read_table(path, what)
    except DiagnosticsError as exc:
        raise click.ClickException(str(exc)) from None


def _read_data(data_dir: Path, split: str) -> tuple[Any, list[str]]:
    from tournament.participant.diagnostics import DiagnosticsError
    from tournament.participant.diagnostics_files import read_data
    try:
        return read_data(data_dir, split)
    except DiagnosticsError as exc:
        raise click.ClickException(str(exc)) from None


def _prediction_column(frame: Any, path: Path) -> Any:
    from tournament.participant.diagnostics import DiagnosticsError
    from tournament.participant.diagnostics_files import prediction_column
    try:
        return prediction_column(frame, str(path))
    except DiagnosticsError as exc:
        raise click.ClickException(str(exc)) from None


@participant.command("diagnostics")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Data folder (`tournament data generate`): your ids are joined to its validation set.")
@click.option("--meta-model", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="id,prediction file to measure MMC against (default: the example model).")
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the SVG chart (default: FILE's name + .diagnostics.svg, next to it).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@group_options
@click.pass_obj
def diagnostics(settings: Settings, file: Path, data_dir: Path, meta_model: Optional[Path], chart: Optional[Path],
                as_json: bool) -> None:
    """Per-era CORR, MMC, FNC, feature exposure and drawdown of your VALIDATION predictions in FILE."""
    import json

    from tournament.participant.diagnostics import DiagnosticsError
    from tournament.participant.diagnostics_files import diagnose_file

    try:
        report, svg = diagnose_file(file, data_dir, meta_model=meta_model)
    except DiagnosticsError as exc:
        raise click.ClickException(str(exc)) from None
    chart_path = chart or file.with_name(file.name + ".diagnostics.svg")
    try:
        chart_path.write_text(svg)
    except OSError as exc:
        raise click.ClickException(f"{chart_path}: cannot write the chart ({exc.strerror})") from None
    if as_json:
        out = report.as_dict()
        out["chart"] = str(chart_path)
        click.echo(json.dumps(out, indent=1, default=float))
        return
    click.echo(f"{file.name}: {report.ids:,} ids over {report.eras} validation eras")
    click.echo(f"  {'':24} {'mean':>9} {'std':>8} {'sharpe':>8}")
    for label, stats in (("CORR", report.corr), (f"MMC (vs {report.meta_model})", report.mmc),
                         ("FNC (feature-neutral)", report.fnc)):
        click.echo(f"  {label:24.24} {stats.mean:>+9.5f} {stats.std:>8.5f} {stats.sharpe:>+8.3f}")
    click.echo(f"  max drawdown of cumulative CORR   {report.max_drawdown:.5f}")
    click.echo(f"  feature exposure: max {report.max_feature_exposure:.4f}, RMS {report.rms_feature_exposure:.4f} "
               f"(mean over eras; most exposed: {report.worst_feature})")
    click.echo(f"  correlation with the example model {report.corr_with_example:+.4f}")
    click.echo(f"  chart: {chart_path}")


@participant.command("neutralize")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Data folder: FILE's ids are looked up in its validation set, then its live set.")
@click.option("--proportion", default=0.5, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Share of the features' linear projection to remove (1 = fully neutral).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the neutralized id,prediction file (values in (0, 1), ranked per era).")
@group_options
@click.pass_obj
def neutralize_cmd(settings: Settings, file: Path, data_dir: Path, proportion: float, out_path: Path) -> None:
    """Remove PROPORTION of your predictions' linear exposure to the features, era by era."""
    import pandas as pd

    from tournament.participant import diagnostics as dg

    predictions = _read_table(file, "predictions")
    column = _prediction_column(predictions, file)
    for split in ("validation", "live"):
        frame, features = _read_data(data_dir, split)
        if predictions.index.isin(frame.index).all():
            break
    else:
        raise click.ClickException(f"{file.name}: its ids are neither all validation nor all live ids of {data_dir}")
    rows = frame.loc[predictions.index]
    eras = rows["era"].astype(str).to_numpy()
    try:
        values = pd.to_numeric(column, errors="raise").to_numpy(float)
        neutral = dg.neutralize_by_era(values, rows[features].to_numpy(float), eras, proportion)
    except (ValueError, dg.DiagnosticsError) as exc:
        raise click.ClickException(f"{file.name}: {exc}") from None
    ranked = dg.to_submission(neutral, eras)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": predictions.index, "prediction": ranked}).to_csv(out_path, index=False)
    click.echo(f"neutralized {len(ranked):,} {split} predictions by {proportion:g} over {len(set(eras))} era(s) "
               f"-> {out_path}")


# ---------------------------------------------------------------------------- rounds and results

@participant.command("rounds")
@click.option("--all", "show_all", is_flag=True, help="Also settled rounds you had no stake in.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Newest rounds shown.")
@click.option("--data-url", envvar="TOURNAMENT_DATA_URL",
              help="Folder or URL of the live features (live.parquet) (env TOURNAMENT_DATA_URL).")
@group_options
@click.pass_obj
def rounds_cmd(settings: Settings, show_all: bool, limit: int, data_url: Optional[str]) -> None:
    """Rounds with their phase, close and resolve times (UTC), your stakes and the live data to download."""
    from tournament.participant.client import format_time
    from tournament.participant.rounds import list_rounds, live_data

    reader = settings.reader()
    owner = settings.participant().address if settings.has_key() else None
    with errors():
        rows = list_rounds(reader, owner, include_settled=show_all, limit=limit)
    if not rows:
        click.echo("no rounds opened yet")
        return
    click.echo(f"chain time {format_time(reader.now())}" + (f"; stakes of {owner}" if owner else
                                                             "; give a key to see your stakes"))
    click.echo(f"{'round':>6}  {'phase':<10} {'closes (UTC)':<21} {'resolves (UTC)':<21} {'models':>6} "
               f"{'at risk NMR':>14} {'your stake NMR':>15}")
    for r in rows:
        mine = nmr_column(r.my_stake_wei, 15) if r.my_stakes else f"{'-':>15}"
        click.echo(f"{r.round_id:>6}  {r.phase:<10} {format_time(r.close_time):<21} {format_time(r.resolve_time):<21} "
                   f"{r.staked_count:>6} {nmr_column(r.total_at_risk_wei)} {mine}")
        for s in r.my_stakes:
            click.echo(f"{'':8}model {s.model_id} {s.model_name:<16.16} {nmr_column(s.amount_wei)} NMR  "
                       f"corr {s.corr_mult / 100:g}x mmc {s.mmc_mult / 100:g}x  file {s.submission_hash[:12]}…")
    open_rows = [r for r in rows if r.open]
    if open_rows:
        click.echo("\nlive data of the open rounds:")
    for r in open_rows:
        where = live_data(r, settings.api, data_url)
        click.echo(f"  round {r.round_id}: live ids   {where.live_ids_url or '(give --api URL)'}"
                   f"  (keccak256 must be {where.live_ids_hash})")
        click.echo(f"  {'':{len(str(r.round_id)) + 8}}live features {where.live_features or '(give --data-url)'}")


@participant.command("provisional")
@click.option("--round", "round_id", required=True, type=int, help="Round number.")
@click.option("--source", envvar="TOURNAMENT_PROVISIONAL", required=True,
              help="Where the operator publishes them: its work folder, a base URL, or a URL with {round} "
                   "(env TOURNAMENT_PROVISIONAL).")
@click.option("--all", "show_all", is_flag=True, help="Every model of the round, not only yours.")
@group_options
@click.pass_obj
def provisional_cmd(settings: Settings, round_id: int, source: str, show_all: bool) -> None:
    """PROVISIONAL scores of a resolving round (targets known so far): never results, never payouts."""
    import requests

    from tournament.participant.client import format_time
    from tournament.participant.rounds import ProvisionalError, parse_provisional, provisional_location

    where = provisional_location(source, round_id)
    if where.startswith(("http://", "https://")):
        try:
            answer = requests.get(where, timeout=30)
        except requests.RequestException as exc:
            raise click.ClickException(f"{where} did not answer ({type(exc).__name__}); check --source") from None
        if answer.status_code == 404:
            raise click.ClickException(f"no provisional scores of round {round_id} published at {where} yet")
        if answer.status_code >= 400:
            raise click.ClickException(f"{where}: HTTP {answer.status_code}")
        raw = answer.content
    else:
        try:
            raw = Path(where).read_bytes()
        except OSError:
            raise click.ClickException(f"no provisional scores of round {round_id} at {where} yet "
                                       "(the operator publishes them with `tournament operator provisional`)") from None
    try:
        rows = parse_provisional(raw, round_id)
    except ProvisionalError as exc:
        raise click.ClickException(f"{where}: {exc}") from None
    mine: Optional[set[int]] = None
    if not show_all and settings.has_key():
        mine = {m.model_id for m in settings.participant().models()}
        rows = [r for r in rows if r.model_id in mine]
    click.echo(f"PROVISIONAL scores of round {round_id}: NOT the round's results and NOT payouts; "
               "they change as targets arrive")
    if not rows:
        click.echo("  none of your models" if mine is not None else "  no rows")
        return
    first = rows[0]
    click.echo(f"as of {format_time(first.as_of)}, on {first.ids_scored:,} of {first.ids_total:,} live ids "
               f"({first.ids_scored / first.ids_total:.0%}) with a known target")
    click.echo(f"  {'model':>6} {'status':<9} {'corr (prov.)':>13} {'mmc (prov.)':>12}  note")
    for r in rows:
        corr = f"{r.corr:+.5f}" if r.corr is not None else "-"
        mmc = f"{r.mmc:+.5f}" if r.mmc is not None else "-"
        click.echo(f"  {r.model_id:>6} {r.status:<9} {corr:>13} {mmc:>12}  {r.message}")


@participant.command("leaderboard")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="Rows shown.")
@click.option("--csv", "as_csv", is_flag=True, help="Machine-readable CSV (amounts in wei).")
@group_options
@click.pass_obj
def leaderboard_cmd(settings: Settings, limit: int, as_csv: bool) -> None:
    """Every model's settled rounds: mean CORR and MMC per round, NMR earned, return, reputation."""
    from tournament.participant.leaderboard import REPUTATION_ROUNDS, read_leaderboard

    reader = settings.reader()
    with errors():
        rows = read_leaderboard(reader)
    if as_csv:
        click.echo("model_id,model_name,owner,rounds,invalid,refunded,mean_corr,mean_mmc,earned_wei,staked_wei,"
                   "return,reputation")
        for r in rows:
            click.echo(f"{r.model_id},{r.model_name},{r.owner},{r.rounds},{r.invalid},{r.refunded},"
                       f"{'' if r.mean_corr is None else repr(r.mean_corr)},{'' if r.mean_mmc is None else repr(r.mean_mmc)},"
                       f"{r.earned_wei},{r.staked_wei},{r.return_ratio!r},{'' if r.reputation is None else repr(r.reputation)}")
        return
    if not rows:
        click.echo("no settled stakes yet")
        return
    click.echo(f"{'#':>3} {'model':<22} {'rounds':>6} {'corr/round':>10} {'mmc/round':>10} {'NMR earned':>14} "
               f"{'return':>8} {f'reputation ({REPUTATION_ROUNDS}r)':>17}")
    dash = "-"
    for rank, r in enumerate(rows[:limit], start=1):
        extra = (f"  ({r.invalid} invalid)" if r.invalid else "") + (f"  ({r.refunded} refunded)" if r.refunded else "")
        click.echo(f"{rank:>3} {str(r.model_id) + ' ' + r.model_name:<22.22} {r.rounds:>6} "
                   f"{f'{r.mean_corr:+.5f}' if r.mean_corr is not None else dash:>10} "
                   f"{f'{r.mean_mmc:+.5f}' if r.mean_mmc is not None else dash:>10} "
                   f"{nmr_column(r.earned_wei)} {r.return_ratio:>+8.2%} "
                   f"{f'{r.reputation:+.5f}' if r.reputation is not None else dash:>17}{extra}")


@participant.command("watch")
@click.option("--once", is_flag=True, help="Check once and exit (for cron) instead of polling.")
@click.option("--notify", "notify_urls", multiple=True, metavar="APPRISE_URL",
              help="Also send each notice there (apprise: json://host/path, mailtos://..., slack://...); repeatable.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path.home() / ".tournament" / "watch.json", show_default=True,
              help="JSON file remembering the last block seen.")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between checks.")
@group_options
@click.pass_obj
def watch(settings: Settings, once: bool, notify_urls: tuple[str, ...], state_path: Path, interval: float) -> None:
    """Tell you when a stake of your models is settled or refunded (stdout, and apprise URLs)."""
    import time

    from tournament.participant.notify import NotifyError, Watcher, apprise_sender

    p = settings.participant()
    senders = [lambda n: click.echo(f"{n.title}: {n.body}")]
    try:
        if notify_urls:
            senders.append(apprise_sender(notify_urls))
        watcher = Watcher(p.w3, p.deployment, p.address, state_path, senders, confirmations=settings.confirmations)
        while True:
            with errors():
                notices = watcher.poll()
            if once:
                if not notices:
                    click.echo("no new settlements or refunds")
                return
            time.sleep(interval)
    except NotifyError as exc:
        raise click.ClickException(str(exc)) from None
