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
from typing import Optional

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
    _participant: object = None

    def participant(self):
        """The Participant for these options (connects and loads the key once)."""
        if self._participant is None:
            from tournament.chain.contracts import Deployment
            from tournament.chain.keys import load_account
            from tournament.chain.rpc import connect
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
                w3 = connect(self.rpc)
                deployment = Deployment.for_rpc(w3, self.deployments)   # chain id + genesis, identity checked
                self._participant = Participant(w3, deployment, account, self.api,
                                                confirmations=self.confirmations)
        return self._participant

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
@click.pass_context
def participant(ctx: click.Context, rpc: str, deployments: Optional[Path], keystore: Optional[Path],
                password_env: str, key_env: str, api: Optional[str], confirmations: int) -> None:
    """Your models, wallet, submissions and stakes, on your own key."""
    ctx.obj = Settings(rpc, deployments, keystore, password_env, key_env, api, confirmations)


@participant.command("new-key")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
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
@click.pass_obj
def address(settings: Settings) -> None:
    """Print the address of your key."""
    click.echo(settings.participant().address)


@participant.command("create-model")
@click.argument("name")
@yes_option
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
