"""Notifications of settlement and refund: `tournament participant watch`.

`Watcher.poll()` reads the owner's StakeSettled and StakeRefunded events after the last
block it has seen (through a ChainReader pinned at the head minus `confirmations`), turns
each into one `Notice` (a title and a body in NMR and UTC), hands them to the senders, and
only then remembers the block in its state file, so a crash re-sends rather than loses. A
sender is a callable (the CLI's printer) or an apprise URL (`apprise` is the maintained
notification library: webhooks `json://`, mail `mailtos://`, Slack, Telegram, ...). The
state file is JSON `{"chainId": .., "tournament": .., "owner": .., "lastBlock": ..}`; one
for another chain, tournament or owner is refused rather than silently reused.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from eth_utils import to_checksum_address
from web3 import Web3

from tournament.chain.contracts import Deployment
from tournament.chain.reader import ChainReader
from tournament.chain.types import EventLog
from tournament.protocol.constants import NANOS_PER_UNIT, Status
from tournament.protocol.units import format_nmr

__all__ = ["Notice", "NotifyError", "WatchState", "Watcher", "apprise_sender", "notice_for"]

log = logging.getLogger(__name__)


class NotifyError(RuntimeError):
    """A notification could not be sent or the state file cannot be used (the message says why)."""


@dataclass(frozen=True)
class Notice:
    kind: str          # "settled" or "refunded"
    round_id: int
    model_id: int
    title: str
    body: str
    block_number: int
    tx_hash: str


def notice_for(event: EventLog, names: Optional[dict[int, str]] = None) -> Notice:
    """The notice of one StakeSettled / StakeRefunded event (pure)."""
    a = event.args
    round_id, model_id = int(a["roundId"]), int(a["modelId"])
    name = (names or {}).get(model_id, "")
    model = f"model {model_id}" + (f" ({name})" if name else "")
    if event.name == "StakeRefunded":
        amount = int(a["amount"])
        return Notice("refunded", round_id, model_id, f"Round {round_id}: stake of {model} refunded",
                      f"{format_nmr(amount)} NMR returned in full to your tournament wallet (no score, no burn). "
                      f"tx {event.tx_hash}", event.block_number, event.tx_hash)
    stake, payout = int(a["stake"]), int(a["payout"])
    if int(a["status"]) == Status.SCORED:
        outcome = "reward" if payout > 0 else "burned" if payout < 0 else "no change"
        body = (f"stake {format_nmr(stake)} NMR, CORR {int(a['corr']) / NANOS_PER_UNIT:+.4f}, "
                f"MMC {int(a['mmc']) / NANOS_PER_UNIT:+.4f}: {outcome} {format_nmr(abs(payout))} NMR; "
                f"{format_nmr(stake + payout)} NMR credited to your tournament wallet")
    else:
        body = (f"INVALID submission: stake {format_nmr(stake)} NMR returned without score "
                f"(see the round's scores.csv for the reason)")
    return Notice("settled", round_id, model_id, f"Round {round_id}: {model} settled", body + f". tx {event.tx_hash}",
                  event.block_number, event.tx_hash)


class _quiet_apprise:
    """apprise logs its own errors; ours (NotifyError) is the one line the user sees."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("apprise")
        self.level = self.logger.level
        self.logger.setLevel(logging.CRITICAL)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)


def apprise_sender(urls: Sequence[str]) -> Callable[[Notice], None]:
    """A sender posting each notice to the apprise URLs (raises NotifyError when none accepts it)."""
    import apprise

    client = apprise.Apprise()
    for url in urls:
        with _quiet_apprise():
            added = client.add(url)
        if not added:
            shown = url.split("://")[0] + "://..." if "://" in url else repr(url)  # a URL may hold a password
            raise NotifyError(f"{shown}: not a notification URL apprise understands "
                              "(e.g. json://host/path, mailtos://user:pass@host, slack://...)")

    def send(notice: Notice) -> None:
        with _quiet_apprise():
            delivered = client.notify(title=notice.title, body=notice.body)
        if not delivered:
            raise NotifyError(f"the notification of round {notice.round_id}, model {notice.model_id} was not "
                              "delivered; the watcher will send it again next time")
    return send


@dataclass
class WatchState:
    chain_id: int
    tournament: str
    owner: str
    last_block: int

    @classmethod
    def load(cls, path: Path, chain_id: int, tournament: str, owner: str, start_block: int) -> WatchState:
        if not path.exists():
            return cls(chain_id, tournament, owner, start_block)
        try:
            raw = json.loads(path.read_text())
            state = cls(int(raw["chainId"]), str(raw["tournament"]), str(raw["owner"]), int(raw["lastBlock"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NotifyError(f"{path}: not a watch state file ({type(exc).__name__}); move it away to start over") \
                from None
        if (state.chain_id, state.tournament.lower(), state.owner.lower()) != (chain_id, tournament.lower(),
                                                                               owner.lower()):
            raise NotifyError(f"{path}: the state of {state.owner} on chain {state.chain_id} ({state.tournament}), "
                              f"not of {owner} on chain {chain_id}; give another --state file")
        return state

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps({"chainId": self.chain_id, "tournament": self.tournament,
                                         "owner": self.owner, "lastBlock": self.last_block}, indent=1) + "\n")
        os.replace(temporary, path)


class Watcher:
    """Follows one owner's settlements and refunds from a state file's last block."""

    def __init__(self, w3: Web3, deployment: Deployment, owner: str, state_path: Path,
                 senders: Sequence[Callable[[Notice], None]], *, confirmations: int = 0):
        self.w3 = w3
        self.deployment = deployment
        self.owner = to_checksum_address(owner)
        self.state_path = Path(state_path)
        self.senders = list(senders)
        self.confirmations = confirmations
        self._reader: Optional[ChainReader] = None

    def _head_reader(self) -> ChainReader:
        if self._reader is None:
            self._reader = ChainReader(self.w3, self.deployment, confirmations=self.confirmations)
        else:
            self._reader = self._reader.at("latest", self.confirmations)
        return self._reader

    def poll(self) -> list[Notice]:
        """Sends a notice for every new settlement or refund; returns them (state saved after sending)."""
        reader = self._head_reader()
        state = WatchState.load(self.state_path, reader.chain_id, self.deployment.tournament, self.owner,
                                int(self.deployment.deploy_block) - 1)
        head = reader.block_number
        if head <= state.last_block:
            return []
        filters = {"owner": self.owner}
        events = sorted(reader.events("StakeSettled", filters, from_block=state.last_block + 1)
                        + reader.events("StakeRefunded", filters, from_block=state.last_block + 1),
                        key=lambda e: (e.block_number, e.log_index))
        names = {m.model_id: m.name for m in reader.models_of(self.owner)} if events else {}
        notices = [notice_for(e, names) for e in events]
        for notice in notices:
            for send in self.senders:
                send(notice)
        state.last_block = head
        state.save(self.state_path)
        return notices
