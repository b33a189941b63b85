"""The participant's wallet client: models, deposits, signed uploads, stakes, status, history.

A `Participant` wraps one key (an eth-account `LocalAccount`), a Web3 and the deployment. It
creates models, deposits NMR (approve + deposit, or one transaction with an EIP-2612 permit),
withdraws, submits (validate locally, upload to the operator's submission API with an EIP-712
signature, then stake with the file's keccak256 in the same call), unstakes, and reads its
status and settled history from the chain's events. Every contract revert comes back as a
`ParticipantError` whose message says what was wrong and what to do (e.g. "round 812 closed
at 2026-11-21 18:00 UTC; stakes are locked until resolution"). Amount and multiplier parsing
for humans ("12.5" NMR, "2x") lives here too, so the CLI and the demo convert identically.
No prompts and no printing: the CLI asks for confirmation and prints; the demo drives this
class directly for many synthetic participants.
"""
from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional, Union

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction

from tournament.chain.calls import Calls
from tournament.chain.contracts import Deployment
from tournament.chain.errors import TransactionReverted
from tournament.chain.reader import BlockSpec, ChainReader
from tournament.chain.token import TokenFeatures, allowance_calls, detect_features
from tournament.chain.transactor import Receipt, Transactor
from tournament.chain.types import Status as LeafStatus
from tournament.protocol import units as _units
from tournament.protocol.units import NmrAmountError, format_nmr, format_time  # noqa: F401 (re-exported)
from tournament.protocol.uploads import (
    UPLOAD_DOMAIN_NAME,
    UPLOAD_DOMAIN_VERSION,
    UploadError,
    upload_typed_data,
)
from tournament.protocol.uploads import recover_upload_signer as _recover_upload_signer
from tournament.protocol.uploads import sign_upload as _sign_upload

__all__ = [
    "HistoryRow", "ModelInfo", "Participant", "ParticipantError", "StakeInfo", "Status", "SubmitResult",
    "UPLOAD_DOMAIN_NAME", "UPLOAD_DOMAIN_VERSION", "explain_revert", "format_nmr", "format_time",
    "parse_multiplier", "parse_nmr", "recover_upload_signer", "sign_upload", "upload_typed_data",
]

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_TTL_S = 15 * 60
PERMIT_TTL_S = 60 * 60


class ParticipantError(RuntimeError):
    """Something the participant asked for cannot be done; the message says why and what to do."""


# ------------------------------------------------------------------ human units (pure)

def parse_nmr(text: Union[str, int, Decimal]) -> int:
    """'12.5' NMR -> wei, exactly: tournament.protocol.units.parse_nmr, with the participant's error type."""
    try:
        return _units.parse_nmr(text)
    except NmrAmountError as error:
        raise ParticipantError(str(error)) from None


def parse_multiplier(text: Union[str, int, float]) -> int:
    """A multiplier in hundredths, as the contract takes it.

    '2x' and '2.0' and '0.5' are times (-> 200, 200, 50); a whole number of 10 or more is
    already hundredths ('200' -> 200); a whole number below 10 is times ('2' -> 200, '0' -> 0),
    since no round allows multipliers as small as 0.09x.
    """
    raw = str(text).strip().lower()
    times = raw.endswith("x")
    body = raw[:-1].strip() if times else raw
    if not re.fullmatch(r"\d+(\.\d*)?|\.\d+", body):
        raise ParticipantError(f"multiplier {text!r} is not a number; give e.g. 2x, 0.5 or 200 (hundredths)")
    value = Decimal(body)
    if times or "." in body or value < 10:
        hundredths = value * 100
    else:
        hundredths = value
    if hundredths != hundredths.to_integral_value():
        raise ParticipantError(f"multiplier {text!r} is finer than 0.01x; use at most two decimals")
    if hundredths >= 2**16:
        raise ParticipantError(f"multiplier {text!r} is far above any round's bounds")
    return int(hundredths)


# ------------------------------------------------------------------ signed uploads (pure)
# The Upload message lives in tournament.protocol.uploads; these keep the participant's error type.

def sign_upload(account: LocalAccount, chain_id: int, tournament: str, round_id: int, model_id: int,
                file_hash: Union[bytes, str], expiry: int) -> str:
    """0x-hex 65-byte signature of the Upload message (tournament.protocol.uploads)."""
    try:
        return _sign_upload(account, chain_id, tournament, round_id, model_id, file_hash, expiry)
    except UploadError as exc:
        raise ParticipantError(str(exc)) from None


def recover_upload_signer(signature: str, chain_id: int, tournament: str, round_id: int, model_id: int,
                          file_hash: Union[bytes, str], expiry: int) -> str:
    """The address that signed the Upload message; raises ValueError for a malformed signature."""
    return _recover_upload_signer(signature, chain_id, tournament, round_id, model_id, file_hash, expiry)


# ------------------------------------------------------------------ revert messages

def _error_fields(error: str) -> dict[str, str]:
    inner = error.split("(", 1)[1].rstrip(")") if "(" in error else ""
    return dict(re.findall(r"(\w+)=([^,]*)", inner))


def explain_revert(exc: TransactionReverted, action: str = "") -> str:
    """A sentence for a decoded custom error: what was wrong and what to do."""
    f = {k: v.strip() for k, v in _error_fields(exc.error).items()}
    name = exc.error_name
    nmr = lambda key: format_nmr(int(f[key])) if key in f else "?"  # noqa: E731
    messages = {
        "RoundNotOpen": lambda: (f"round {f.get('roundId')} closed at {format_time(int(f['closeTime']))}; "
                                 "stakes are locked until resolution"),
        "UnknownRound": lambda: f"round {f.get('roundId')} does not exist; check the round number",
        "InsufficientBalance": lambda: (f"your tournament wallet holds {nmr('balance')} NMR but {nmr('needed')} NMR "
                                        "is needed; deposit more first (`tournament participant deposit`)"),
        "UnknownModel": lambda: f"model {f.get('modelId')} does not exist; create it with `create-model`",
        "NotModelOwner": lambda: (f"model {f.get('modelId')} belongs to {f.get('owner')}, not to you "
                                  f"({f.get('caller')}); use one of your own models"),
        "InvalidModelName": lambda: f"a model name must be 1 to {f.get('maxLength')} bytes, got {f.get('length')}",
        "MultiplierOutOfBounds": lambda: (f"{f.get('which', '').strip(chr(39))} multiplier {int(f['value']) / 100:g}x "
                                          f"is outside this round's bounds {int(f['min']) / 100:g}x to "
                                          f"{int(f['max']) / 100:g}x; choose one inside"),
        "StakeBelowMinimum": lambda: (f"the stake would be {nmr('total')} NMR, below the round's minimum of "
                                      f"{nmr('minStake')} NMR; stake more (or unstake everything)"),
        "InsufficientStake": lambda: (f"you have {nmr('staked')} NMR staked and cannot unstake {nmr('requested')} NMR"),
        "ZeroAmount": lambda: "the amount must be more than 0",
        "EmptySubmissionHash": lambda: "a stake needs the hash of an uploaded predictions file",
        "EnforcedPause": lambda: "the tournament is paused; only withdrawals of free balance work until it resumes",
        "ERC20InsufficientBalance": lambda: (f"your NMR token balance is {nmr('balance')} NMR, "
                                             f"{nmr('needed')} NMR needed; get NMR first"),
        "ERC20InsufficientAllowance": lambda: (f"the tournament may move {nmr('allowance')} NMR of yours, "
                                               f"{nmr('needed')} NMR needed; deposit again (it approves)"),
    }
    try:
        text = messages[name]() if name in messages else f"the contract refused it: {exc.error}"
    except (KeyError, ValueError):
        text = f"the contract refused it: {exc.error}"
    return f"{action}: {text}" if action else text


# ------------------------------------------------------------------ results

@dataclass
class ModelInfo:
    model_id: int
    name: str


@dataclass
class StakeInfo:
    round_id: int
    model_id: int
    model_name: str
    amount_wei: int
    corr_mult: int          # hundredths
    mmc_mult: int           # hundredths
    submission_hash: str    # the commitment (0x-hex)
    phase: str              # Open, Closed, Resolvable, Proposed, Accepted, Refunding, Settled
    close_time: int
    resolve_time: int
    closed: bool            # settled or refunded


@dataclass
class Status:
    address: str
    eth_wei: int
    nmr_wei: int            # NMR in the participant's own address
    wallet_wei: int         # free NMR in the tournament wallet
    models: list[ModelInfo]
    stakes: list[StakeInfo]  # every non-zero stake not yet settled or refunded

    @property
    def open_stakes(self) -> list[StakeInfo]:
        return [s for s in self.stakes if s.phase == "Open"]

    @property
    def pending_stakes(self) -> list[StakeInfo]:
        """Closed stakes waiting for results or settlement."""
        return [s for s in self.stakes if s.phase != "Open"]

    @property
    def at_risk_wei(self) -> int:
        return sum(s.amount_wei for s in self.stakes)


@dataclass
class HistoryRow:
    round_id: int
    model_id: int
    model_name: str
    stake_wei: int
    status: str             # SCORED, INVALID, REFUNDED
    corr_nanos: int
    mmc_nanos: int
    payout_wei: int         # signed: reward > 0, loss < 0 (0 for INVALID and refunds)
    burned_wei: int
    cumulative_payout_wei: int
    cumulative_stake_wei: int
    block_number: int
    tx_hash: str

    @property
    def corr(self) -> float:
        return self.corr_nanos / 1e9

    @property
    def mmc(self) -> float:
        return self.mmc_nanos / 1e9

    @property
    def cumulative_return(self) -> float:
        return self.cumulative_payout_wei / self.cumulative_stake_wei if self.cumulative_stake_wei else 0.0


@dataclass
class SubmitResult:
    round_id: int
    model_id: int
    submission_hash: str
    upload: dict            # the API's JSON answer
    stake_tx: Optional[str]
    total_stake_wei: int


# ------------------------------------------------------------------ the client

class Participant:
    """One participant's key on one deployment; optionally the operator's submission API."""

    def __init__(self, w3: Web3, deployment: Deployment, account: LocalAccount, api_url: Optional[str] = None,
                 *, transactor: Optional[Transactor] = None, http: Optional[requests.Session] = None,
                 upload_ttl_s: int = DEFAULT_UPLOAD_TTL_S, timeout_s: float = 60.0,
                 read_block: BlockSpec = "latest", confirmations: int = 0):
        self.w3 = w3
        self.deployment = deployment
        self.account = account
        self.api_url = api_url.rstrip("/") if api_url else None
        # Transactions wait for the same confirmations the reads keep below the head, and are
        # re-checked (and re-sent) after that wait if a reorg took them out.
        self.tx = transactor or Transactor(w3, account, confirmations=confirmations)
        self.calls = Calls(w3, deployment)
        self._token_features: Optional[TokenFeatures] = None
        self.read_block = read_block        # status and history read at this block ...
        self.confirmations = confirmations  # ... or that many blocks below the head
        self._reader: Optional[ChainReader] = None
        self.http = http or requests.Session()
        self.upload_ttl_s = upload_ttl_s
        self.timeout_s = timeout_s

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def chain_id(self) -> int:
        return self.tx.chain_id  # read once by the Transactor

    # ---------------------------------------------------------------- plumbing
    def _send(self, fn: ContractFunction, action: str) -> Receipt:
        try:
            return self.tx.transact(fn, action)
        except TransactionReverted as exc:
            raise ParticipantError(explain_revert(exc, action)) from None

    def _call(self, fn: ContractFunction, action: str) -> Any:
        try:
            return self.tx.call(fn, action)
        except TransactionReverted as exc:
            raise ParticipantError(explain_revert(exc, action)) from None

    def reader(self) -> ChainReader:
        """A ChainReader pinned now (at `read_block` / `confirmations`); one per question asked."""
        if self._reader is None:
            self._reader = ChainReader(self.w3, self.deployment, self.read_block, confirmations=self.confirmations)
        else:
            self._reader = self._reader.at(self.read_block, self.confirmations)
        return self._reader

    def chain_now(self) -> int:
        """Chain time (the pinned block's timestamp)."""
        return self.reader().now()

    # ---------------------------------------------------------------- models
    def models(self) -> list[ModelInfo]:
        """This key's models, from its ModelCreated events (id order)."""
        return [ModelInfo(m.model_id, m.name) for m in self.reader().models_of(self.address)]

    def resolve_model(self, model: Union[int, str]) -> int:
        """A model id from an id (int or digits) or one of this key's model names."""
        if isinstance(model, int) or (isinstance(model, str) and model.strip().isdigit()):
            return int(model)
        matches = [m.model_id for m in self.models() if m.name == model]
        if not matches:
            raise ParticipantError(f"you ({self.address}) have no model named {model!r}; "
                                   "see `tournament participant status` or create it with `create-model`")
        if len(matches) > 1:
            raise ParticipantError(f"you have {len(matches)} models named {model!r} (ids {matches}); use the id")
        return matches[0]

    def create_model(self, name: str) -> int:
        """Creates a model owned by this key; returns its id."""
        if not name or len(name.encode()) > 64:
            raise ParticipantError(f"a model name must be 1 to 64 bytes, got {len(name.encode())}")
        receipt = self._send(self.calls.create_model(name), f"creating model {name!r}")
        model_id = self.calls.model_created(receipt)
        log.info("%s created model %d (%s)", self.address, model_id, name)
        return model_id

    # ---------------------------------------------------------------- wallet
    def token_features(self) -> TokenFeatures:
        """Whether the deployment's token has EIP-2612 permit and the legacy changeApproval (detected once)."""
        if self._token_features is None:
            self._token_features = detect_features(self.w3, self.calls.nmr_address, self.address,
                                                   self.calls.tournament_address)
        return self._token_features

    def deposit(self, amount_wei: int, permit: bool = False) -> str:
        """Moves NMR from this address into its tournament wallet; returns the deposit tx hash.

        Without `permit`: raises the allowance to the amount first if it is short, by the
        token's rule (from zero: `approve`; from a leftover non-zero allowance: `changeApproval`
        on the legacy NMR, else `approve(0)` then `approve`), then deposits.
        With `permit`: signs an EIP-2612 permit and deposits in one transaction; a token without
        permit (the mainnet NMR) is one clear error (the CLI then falls back to approve).
        """
        amount_wei = self._positive(amount_wei, "deposit")
        reader = self.reader()
        held = reader.token_balance_wei(self.address)
        if held < amount_wei:
            raise ParticipantError(f"depositing {format_nmr(amount_wei)} NMR: this address holds only "
                                   f"{format_nmr(held)} NMR; get NMR first")
        action = f"depositing {format_nmr(amount_wei)} NMR"
        if permit:
            if not self.token_features().permit:
                raise ParticipantError(f"the token at {self.calls.nmr_address} has no EIP-2612 permit (like the "
                                       "mainnet NMR): deposit without --permit (approve, then deposit)")
            deadline = reader.now() + PERMIT_TTL_S
            v, r, s = self._sign_permit(reader, amount_wei, deadline)
            fn = self.calls.deposit_with_permit(amount_wei, deadline, v, r, s)
        else:
            allowance = reader.allowance_wei(self.address)
            if allowance < amount_wei:
                for call, description in allowance_calls(self.w3, self.token_features(), self.calls.tournament_address,
                                                         allowance, amount_wei):
                    self._send(call, f"{description} for the tournament")
            fn = self.calls.deposit(amount_wei)
        return self._send(fn, action)["transactionHash"].hex()

    def _sign_permit(self, reader: ChainReader, amount_wei: int, deadline: int) -> tuple[int, bytes, bytes]:
        from tournament.protocol.signing import sign_permit
        return sign_permit(self.account, token=self.calls.nmr_address, chain_id=self.chain_id,
                           spender=self.calls.tournament_address, value=amount_wei,
                           nonce=reader.permit_nonce(self.address), deadline=deadline)

    def withdraw(self, amount_wei: int) -> str:
        """Sends free NMR from the tournament wallet back to this address."""
        amount_wei = self._positive(amount_wei, "withdraw")
        balance = self.reader().wallet_balance_wei(self.address)
        if amount_wei > balance:
            # Not the contract's "deposit more first": more NMR in the wallet is not what a withdrawal needs.
            raise ParticipantError(f"withdrawing {format_nmr(amount_wei)} NMR: your tournament wallet holds "
                                   f"{format_nmr(balance)} NMR; withdraw at most that (`withdraw all`); staked NMR "
                                   "comes back to the wallet when its round settles")
        receipt = self._send(self.calls.withdraw(amount_wei),
                             f"withdrawing {format_nmr(amount_wei)} NMR")
        return receipt["transactionHash"].hex()

    @staticmethod
    def _positive(amount_wei: int, what: str) -> int:
        if not isinstance(amount_wei, int) or isinstance(amount_wei, bool) or amount_wei <= 0:
            raise ParticipantError(f"{what}: the amount must be a positive number of NMR, got {amount_wei!r}")
        return amount_wei

    # ---------------------------------------------------------------- rounds and stakes
    def round_info(self, round_id: int) -> tuple[str, int, int]:
        """(phase, closeTime, resolveTime) of a round; raises for an unknown round."""
        return self._round_info(self.reader(), round_id)

    @staticmethod
    def _round_info(reader: ChainReader, round_id: int) -> tuple[str, int, int]:
        state = reader.round(round_id, with_opened_block=False)
        if not state.exists:
            raise ParticipantError(f"round {round_id} does not exist (not opened yet); check the round number")
        return state.phase.label, state.close_time, state.resolve_time

    def _require_open(self, round_id: int) -> tuple[int, int]:
        reader = self.reader()
        _phase, close_time, resolve_time = self._round_info(reader, round_id)
        if reader.now() >= close_time:
            raise ParticipantError(f"round {round_id} closed at {format_time(close_time)}; "
                                   "stakes are locked until resolution")
        return close_time, resolve_time

    def _require_owner(self, model_id: int) -> None:
        owner = self.reader().model_owner(model_id)
        if owner is None:
            raise ParticipantError(f"model {model_id} does not exist; create it with `create-model`")
        if owner.lower() != self.address.lower():
            raise ParticipantError(f"model {model_id} belongs to {owner}, not to you ({self.address}); "
                                   "use one of your own models")

    def stake_of(self, round_id: int, model_id: int) -> tuple[int, int, int]:
        """(amount_wei, corr_mult, mmc_mult) of (round, model); zeros when none."""
        amount_wei, corr_mult, mmc_mult, _closed = self.reader().stake_of(round_id, model_id)
        return amount_wei, corr_mult, mmc_mult

    def live_ids(self, round_id: int) -> list[str]:
        """The round's live ids as the submission API publishes them."""
        response = self._api("GET", f"/v1/rounds/{round_id}/live_ids")
        import pandas as pd  # only when validating
        try:
            return pd.read_csv(io.BytesIO(response.content), dtype={"id": str})["id"].tolist()
        except (ValueError, KeyError) as exc:
            raise ParticipantError(f"the live ids of round {round_id} from the API cannot be read ({exc}); "
                                   "pass --live-ids FILE instead") from None

    def upload(self, round_id: int, model_id: int, raw: bytes) -> dict:
        """Uploads a predictions file for (round, model), signed by this key; the API's answer."""
        from tournament.protocol.submissions import submission_hash
        digest = "0x" + submission_hash(raw).hex()
        expiry = self.chain_now() + self.upload_ttl_s
        signature = sign_upload(self.account, self.chain_id, self.calls.tournament_address, round_id, model_id,
                                digest, expiry)
        response = self._api("POST", f"/v1/rounds/{round_id}/models/{model_id}/submission", data=raw, headers={
            "Content-Type": "application/octet-stream", "X-Signature": signature, "X-Expiry": str(expiry),
            "X-Submission-Hash": digest})
        return response.json()

    def _api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if not self.api_url:
            raise ParticipantError("no submission API URL; pass --api URL (or set TOURNAMENT_API)")
        url = self.api_url + path
        try:
            response = self.http.request(method, url, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            raise ParticipantError(f"the submission API at {self.api_url} did not answer ({type(exc).__name__}); "
                                   "check the URL and that the service is running") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("error") or response.text
            except ValueError:
                message = response.text.strip()[:300] or response.reason
            raise ParticipantError(f"the submission API refused it (HTTP {response.status_code}): {message}")
        return response

    def submit(self, round_id: int, model: Union[int, str], file_path: Union[str, Path], stake_wei: int,
               corr_mult: int, mmc_mult: int = 0, *, live_ids: Optional[Sequence[str]] = None) -> SubmitResult:
        """Validates the file, uploads it, then stakes `stake_wei` more on it with its hash.

        `stake_wei` may be 0 to only re-commit a new file (and multipliers) on an existing stake.
        Live ids come from `live_ids` or the API. Nothing is staked if any step before fails.
        """
        from tournament.protocol.submissions import validate_predictions

        model_id = self.resolve_model(model)
        path = Path(file_path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ParticipantError(f"{path}: cannot read the file ({exc.strerror}); check the path") from None
        self._require_open(round_id)
        self._require_owner(model_id)
        existing, _, _ = self.stake_of(round_id, model_id)
        if stake_wei < 0:
            raise ParticipantError("the stake must not be negative")
        if stake_wei == 0 and existing == 0:
            raise ParticipantError(f"model {model_id} has no stake in round {round_id}; give --stake above 0")
        balance = self.reader().wallet_balance_wei(self.address)
        if balance < stake_wei:
            raise ParticipantError(f"staking {format_nmr(stake_wei)} NMR: your tournament wallet holds "
                                   f"{format_nmr(balance)} NMR; deposit more first (`tournament participant deposit`)")
        ids = list(live_ids) if live_ids is not None else self.live_ids(round_id)
        result = validate_predictions(raw, ids, name=path.name)
        if not result.valid:
            raise ParticipantError(result.message)
        digest = "0x" + result.submission_hash.hex()
        stake_fn = self.calls.stake(round_id, model_id, stake_wei, corr_mult, mmc_mult, bytes.fromhex(digest[2:]))
        action = f"staking {format_nmr(stake_wei)} NMR on model {model_id} in round {round_id}"
        # Simulate the stake before uploading: an upload whose stake then fails would leave the
        # API's latest file different from the stake's commitment.
        self._call(stake_fn, action)
        answer = self.upload(round_id, model_id, raw)
        if answer.get("submissionHash", "").lower() != digest:
            raise ParticipantError(f"the submission API stored {answer.get('submissionHash')} instead of {digest}; "
                                   "nothing was staked; retry the upload")
        receipt = self._send(stake_fn, action)
        total = existing + stake_wei
        log.info("%s: model %d round %d staked %s NMR (total %s) on %s", self.address, model_id, round_id,
                 format_nmr(stake_wei), format_nmr(total), digest)
        return SubmitResult(round_id, model_id, digest, answer, receipt["transactionHash"].hex(), total)

    def unstake(self, round_id: int, model: Union[int, str], amount_wei: Optional[int] = None) -> str:
        """Moves `amount_wei` (all when None) of a stake back to the wallet while the round is open."""
        model_id = self.resolve_model(model)
        self._require_open(round_id)
        self._require_owner(model_id)
        staked, _, _ = self.stake_of(round_id, model_id)
        if staked == 0:
            raise ParticipantError(f"model {model_id} has no stake in round {round_id}; nothing to unstake")
        amount = staked if amount_wei is None else self._positive(amount_wei, "unstake")
        receipt = self._send(self.calls.unstake(round_id, model_id, amount),
                             f"unstaking {format_nmr(amount)} NMR of model {model_id} in round {round_id}")
        return receipt["transactionHash"].hex()

    # ---------------------------------------------------------------- reading
    def status(self) -> Status:
        """Balances, models, and every stake not yet settled or refunded (open and pending).

        Everything at one block: the owner's StakeChanged events (commitment rule in the reader),
        then the rounds and the stakes' closed flags in batches, never one call per stake.
        """
        reader = self.reader()
        models = [ModelInfo(m.model_id, m.name) for m in reader.models_of(self.address)]
        names = {m.model_id: m.name for m in models}
        latest = {key: value for key, value in reader.owner_commitments(self.address).items()
                  if int(value[0].args["total"]) != 0}
        rounds = reader.rounds(r for r, _ in latest)
        views = reader.stake_views(latest)
        stakes = []
        for (round_id, model_id), (event, commitment) in sorted(latest.items()):
            if views[(round_id, model_id)][3]:  # closed: settled or refunded
                continue
            state = rounds[round_id]
            stakes.append(StakeInfo(round_id, model_id, names.get(model_id, ""), int(event.args["total"]),
                                    int(event.args["corrMult"]), int(event.args["mmcMult"]), "0x" + commitment.hex(),
                                    state.phase.label, state.close_time, state.resolve_time, False))
        balances = reader.balances(self.address)
        return Status(address=self.address, eth_wei=balances.eth_wei, nmr_wei=balances.nmr_wei,
                      wallet_wei=balances.wallet_wei, models=models, stakes=stakes)

    def history(self) -> list[HistoryRow]:
        """Every settled or refunded stake of this key, in chain order, with running totals."""
        reader = self.reader()
        names = {m.model_id: m.name for m in reader.models_of(self.address)}
        events = reader.owner_outcomes(self.address)
        rows: list[HistoryRow] = []
        cumulative_payout = cumulative_stake = 0
        for event in events:
            args = event.args
            round_id, model_id = int(args["roundId"]), int(args["modelId"])
            if event.name == "StakeSettled":
                stake_wei, payout, burned = int(args["stake"]), int(args["payout"]), int(args["burned"])
                code = int(args["status"])
                status = LeafStatus(code).name if code in set(LeafStatus) else str(code)
                corr, mmc = int(args["corr"]), int(args["mmc"])
            else:
                stake_wei, payout, burned, status, corr, mmc = int(args["amount"]), 0, 0, "REFUNDED", 0, 0
            cumulative_payout += payout
            cumulative_stake += stake_wei
            rows.append(HistoryRow(round_id, model_id, names.get(model_id, ""), stake_wei, status, corr, mmc,
                                   payout, burned, cumulative_payout, cumulative_stake,
                                   event.block_number, event.tx_hash))
        return rows
