"""What the explorer's contract, transaction and address pages read from the chain.

Each function takes the ChainReader of the current head (ExplorerData.reader()) and returns
plain records for the templates; values stay raw (wei, seconds, bytes) and the templates
format them (tournament.auditor.explorer.pages). Everything is read at the reader's pinned
block, so one page never mixes two states of the chain.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from tournament.auditor.explorer.pages import ROLE_NAMES, Cell, cell, named
from tournament.chain.reader import ChainReader, chain_time
from tournament.chain.types import EventLog, Phase, Status

__all__ = ["AddressActivity", "ContractInfo", "TxPage", "read_address", "read_contract", "read_tx",
           "role_holders", "verification_files"]

log = logging.getLogger(__name__)

BURN_METHODS = {0: "burn(uint256): the token's own burn", 1: "mint(uint256): the legacy mainnet NMR's burn"}


def _view(reader: ChainReader, contract: Any, name: str, *args: Any) -> Any:
    """One view of `contract` at the reader's pin; None when the deployed contract lacks it (older ABI)."""
    try:
        return getattr(contract.functions, name)(*args).call(block_identifier=reader.block_number)
    except Exception as error:   # a view the deployed bytecode does not have: shown as unknown
        log.info("view %s unavailable: %s", name, error)
        return None


# ------------------------------------------------------------------ roles

def role_holders(reader: ChainReader) -> dict[str, list[dict]]:
    """{role name: [{address, tx, block}]} replayed from RoleGranted/RoleRevoked, in chain order; every
    known role is listed, an empty list when nobody holds it."""
    changes = [(e, True) for e in reader.events("RoleGranted")] + [(e, False) for e in reader.events("RoleRevoked")]
    holders: dict[str, dict[str, Optional[EventLog]]] = {name: {} for name in ROLE_NAMES.values()}
    for event, granted in sorted(changes, key=lambda c: (c[0].block_number, c[0].log_index)):
        role = "0x" + bytes(event.args["role"]).hex()
        name = ROLE_NAMES.get(role, role)
        account = to_checksum_address(event.args["account"])
        holders.setdefault(name, {})[account] = event if granted else None
    out: dict[str, list[dict]] = {}
    for name in sorted(holders, key=lambda n: (n != "DEFAULT_ADMIN_ROLE", n)):
        out[name] = [{"address": a, "tx": e.tx_hash, "block": e.block_number}
                     for a, e in holders[name].items() if e is not None]
    return out


# ------------------------------------------------------------------ the contract page

@dataclass
class ContractInfo:
    tournament: str
    nmr: str
    block_number: int
    chain_time: int
    tournament_time: Optional[int]
    paused: Optional[bool]
    pause_history: list[EventLog]
    config: dict
    roles: dict[str, list[dict]]
    signers: tuple[str, ...]
    threshold: int
    signer_version: int
    signer_history: list[EventLog]
    reward_pool_wei: Optional[int]
    accounted_nmr_wei: Optional[int]
    token_balance_wei: int
    total_supply_wei: int
    burn_method: str
    last_round_id: Optional[int]
    last_model_id: Optional[int]
    funding: list[EventLog]
    domain: dict
    files: list[dict] = field(default_factory=list)

    @property
    def surplus_wei(self) -> Optional[int]:
        """NMR the contract holds beyond what it owes (a donation; recoverable by the admin)."""
        return None if self.accounted_nmr_wei is None else self.token_balance_wei - self.accounted_nmr_wei

    @property
    def paused_for_s(self) -> Optional[int]:
        """Seconds the tournament clock lags the chain: the time spent paused (the v2 clock)."""
        return None if self.tournament_time is None else self.chain_time - self.tournament_time


def read_contract(reader: ChainReader, deployments_dir: Optional[Path]) -> ContractInfo:
    t, token = reader.tournament, reader.nmr
    signer_set = reader.signer_set()
    burn = _view(reader, t, "burnMethod")
    domain_raw = _view(reader, t, "eip712Domain")
    domain = {"name": domain_raw[1], "version": domain_raw[2], "chainId": domain_raw[3],
              "verifyingContract": domain_raw[4]} if domain_raw else {}
    pauses = sorted(reader.events("Paused") + reader.events("Unpaused"), key=lambda e: (e.block_number, e.log_index))
    funding = sorted(reader.events("RewardsFunded") + reader.events("RewardsWithdrawn"),
                     key=lambda e: (e.block_number, e.log_index))
    return ContractInfo(
        tournament=str(t.address), nmr=str(token.address), block_number=reader.block_number,
        chain_time=reader.now(), tournament_time=_view(reader, t, "tournamentTime"),
        paused=_view(reader, t, "paused"), pause_history=pauses, config=reader.config().as_abi_dict(),
        roles=role_holders(reader), signers=signer_set.signers, threshold=signer_set.threshold,
        signer_version=signer_set.version, signer_history=reader.events("SignersUpdated"),
        reward_pool_wei=_view(reader, t, "rewardPool"), accounted_nmr_wei=_view(reader, t, "accountedNmr"),
        token_balance_wei=reader.token_balance_wei(str(t.address)), total_supply_wei=reader.total_supply_wei(),
        burn_method=BURN_METHODS.get(burn, f"unknown ({burn})") if burn is not None else "unknown (no burnMethod view)",
        last_round_id=_view(reader, t, "lastRoundId"), last_model_id=_view(reader, t, "lastModelId"),
        funding=funding, domain=domain, files=verification_files(deployments_dir, reader.chain_id))


def verification_files(deployments_dir: Optional[Path], chain_id: int) -> list[dict]:
    """Files of `<deployments>/<chainId>/` (source verification inputs, flattened sources, metadata):
    [{path, size, sha256, keccak256}], served at /contract/files/<path>."""
    folder = verification_folder(deployments_dir, chain_id)
    if folder is None:
        return []
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        out.append({"path": path.relative_to(folder).as_posix(), "size": len(raw),
                    "sha256": hashlib.sha256(raw).hexdigest(), "keccak256": "0x" + keccak(raw).hex()})
    return out


def verification_folder(deployments_dir: Optional[Path], chain_id: int) -> Optional[Path]:
    if deployments_dir is None:
        return None
    folder = Path(deployments_dir) / str(chain_id)
    return folder if folder.is_dir() else None


# ------------------------------------------------------------------ transactions

@dataclass
class Arg:
    name: str
    type: str
    value: Cell
    rows: list[dict] = field(default_factory=list)   # a list of structs (leaves) as table rows


@dataclass
class TxPage:
    tx_hash: str
    block_number: int
    timestamp: int
    sender: str
    to: Optional[str]
    to_label: str
    status: int
    gas_used: int
    function: str
    signature: str
    args: list[Arg]
    events: list[EventLog]
    transfers: list[dict]          # NMR Transfer events: from, to, amount (wei), burn (to zero)
    settlements: list[dict]        # StakeSettled of this tx: ONE table
    refunds: list[dict]            # StakeRefunded of this tx
    settlement_totals: dict


def _decode_input(contract: Any, data: Any) -> Optional[tuple[Any, dict]]:
    try:
        return contract.decode_function_input(data)
    except Exception as error:   # not this contract's function (or a wrapper): shown as raw input
        log.info("calldata not decoded: %s", error)
        return None


def _args(function: Any, params: dict) -> list[Arg]:
    """Calldata arguments in ABI order, structs named by their components."""
    out = []
    for item in function.abi["inputs"]:
        name, kind, value = item["name"], item["type"], params.get(item["name"])
        if kind.startswith("tuple") and kind.endswith("[]"):
            rows = [named(item["components"], v) for v in value or []]
            out.append(Arg(name, kind, Cell(f"{len(rows)} item(s)"), rows=[
                {k: cell(k, v) for k, v in row.items()} if isinstance(row, dict) else {"value": cell(name, row)}
                for row in rows]))
        elif kind.startswith("tuple"):
            record = named(item["components"], value)
            rows = [{"field": Cell(k), "value": cell(k, v)} for k, v in dict(record).items()] \
                if isinstance(record, dict) else []
            out.append(Arg(name, kind, Cell("struct"), rows=rows))
        else:
            out.append(Arg(name, kind, cell(name, value)))
    return out


def read_tx(reader: ChainReader, tx_hash: str) -> Optional[TxPage]:
    """A mined transaction decoded with the shipped ABIs; None when the chain does not know it."""
    t, token = reader.tournament, reader.nmr
    found = reader.raw_transaction(tx_hash)
    if found is None:
        log.info("transaction %s: not known to the node", tx_hash)
        return None
    tx, receipt = found
    to = tx.get("to")
    label, function_name, signature, args = "", "", "", []
    target = None
    if to and to.lower() == str(t.address).lower():
        label, target = "the tournament", t
    elif to and to.lower() == str(token.address).lower():
        label, target = "the NMR token", token
    if target is not None:
        decoded = _decode_input(target, tx["input"])
        if decoded is not None:
            function, params = decoded
            function_name = function.fn_name
            signature = f"{function.fn_name}({', '.join(i['type'] + ' ' + i['name'] for i in function.abi['inputs'])})"
            args = _args(function, dict(params))
    elif tx.get("to") is None:
        label = "contract creation"
    info = reader.transaction(tx_hash)   # the tournament's events of the receipt, decoded
    events: list[EventLog] = list(info.events) if info is not None else []
    transfers: list[dict] = []
    transfer_topic = keccak(text="Transfer(address,address,uint256)")
    for entry in receipt["logs"]:
        topics = entry.get("topics") or []
        if (topics and str(entry["address"]).lower() == str(token.address).lower()
                and bytes(HexBytes(topics[0])) == transfer_topic):
            values = dict(token.events.Transfer().process_log(entry)["args"])
            sender, receiver = to_checksum_address(values["from"]), to_checksum_address(values["to"])
            transfers.append({"from": sender, "to": receiver, "amount": int(values["value"]),
                              "burn": int(receiver, 16) == 0, "mint": int(sender, 16) == 0})
    settlements: list[dict[str, Any]] = [{"roundId": int(e.args["roundId"]), "modelId": int(e.args["modelId"]),
                    "owner": to_checksum_address(e.args["owner"]), "stake": int(e.args["stake"]),
                    "status": int(e.args["status"]), "corr": int(e.args["corr"]), "mmc": int(e.args["mmc"]),
                    "payout": int(e.args["payout"]), "burned": int(e.args["burned"])}
                   for e in events if e.name == "StakeSettled"]
    refunds = [{"roundId": int(e.args["roundId"]), "modelId": int(e.args["modelId"]),
                "owner": to_checksum_address(e.args["owner"]), "amount": int(e.args["amount"])}
               for e in events if e.name == "StakeRefunded"]
    totals = {"count": len(settlements), "stake": sum(int(s["stake"]) for s in settlements),
              "rewards": sum(max(int(s["payout"]), 0) for s in settlements),
              "burned": sum(int(s["burned"]) for s in settlements),
              "scored": sum(1 for s in settlements if s["status"] == Status.SCORED),
              "invalid": sum(1 for s in settlements if s["status"] == Status.INVALID)}
    block_time = chain_time(reader.w3, int(receipt["blockNumber"]))
    return TxPage("0x" + bytes(HexBytes(receipt["transactionHash"])).hex(), int(receipt["blockNumber"]),
                  block_time, str(tx["from"]), to, label, int(receipt["status"]),
                  int(receipt["gasUsed"]), function_name, signature, args,
                  [e for e in events if e.name not in ("StakeSettled", "StakeRefunded")],
                  transfers, settlements, refunds, totals)


# ------------------------------------------------------------------ addresses

@dataclass
class AddressActivity:
    address: str
    eth_wei: int
    nmr_wei: int
    wallet_wei: int
    models: list[tuple[int, str]]
    activity: list[dict]          # chain order: kind, round, model, amount (wei), detail, tx, block
    stakes: list[dict]            # per (round, model): latest total, outcome
    roles: list[str]
    totals: dict


def read_address(reader: ChainReader, address: str) -> AddressActivity:
    """Everything `address` did in the tournament: deposits, stakes (open ones too), settlements,
    refunds, withdrawals, rewards funded, models created; and each of its stakes' outcome."""
    address = to_checksum_address(address)
    owner = {"owner": address}
    balances = reader.balances(address)
    created = reader.events("ModelCreated", owner)
    deposits, withdrawals = reader.events("Deposited", owner), reader.events("Withdrawn", owner)
    changes, settled = reader.events("StakeChanged", owner), reader.events("StakeSettled", owner)
    refunded = reader.events("StakeRefunded", owner)
    funded = reader.events("RewardsFunded", {"funder": address})
    activity: list[dict] = []

    def add(event: EventLog, kind: str, amount: Optional[int], detail: str = "") -> None:
        activity.append({"kind": kind, "round": event.args.get("roundId"), "model": event.args.get("modelId"),
                         "amount": amount, "detail": detail, "tx": event.tx_hash, "block": event.block_number,
                         "log_index": event.log_index})

    for e in created:
        add(e, "model created", None, str(e.args["name"]))
    for e in deposits:
        add(e, "deposit", int(e.args["amount"]))
    for e in withdrawals:
        add(e, "withdrawal", int(e.args["amount"]))
    for e in funded:
        add(e, "rewards funded", int(e.args["amount"]))
    for e in changes:
        add(e, "stake" if int(e.args["total"]) else "unstake (all)", int(e.args["total"]),
            f"total now; corr {int(e.args['corrMult']) / 100:.2f}×, mmc {int(e.args['mmcMult']) / 100:.2f}×")
    for e in settled:
        status = {1: "SCORED", 2: "INVALID"}.get(int(e.args["status"]), str(e.args["status"]))
        add(e, "settlement", int(e.args["payout"]), status)
    for e in refunded:
        add(e, "refund", int(e.args["amount"]), "stake returned in full")
    activity.sort(key=lambda a: (a["block"], a["log_index"]))

    # Per (round, model): the latest StakeChanged total and what became of it.
    latest: dict[tuple[int, int], EventLog] = {}
    for e in changes:
        latest[(int(e.args["roundId"]), int(e.args["modelId"]))] = e
    outcome_of: dict[tuple[int, int], tuple[str, Optional[int], str]] = {}
    for e in settled:
        key = (int(e.args["roundId"]), int(e.args["modelId"]))
        status = {1: "settled (SCORED)", 2: "settled (INVALID: stake returned)"}.get(int(e.args["status"]), "settled")
        outcome_of[key] = (status, int(e.args["payout"]), e.tx_hash)
    for e in refunded:
        key = (int(e.args["roundId"]), int(e.args["modelId"]))
        outcome_of[key] = ("refunded in full", 0, e.tx_hash)
    rounds = reader.rounds({r for r, _ in latest}) if latest else {}
    stakes = []
    for (round_id, model_id), e in sorted(latest.items()):
        total = int(e.args["total"])
        if total == 0 and (round_id, model_id) not in outcome_of:
            continue   # unstaked in full before close: nothing at risk
        state, payout, tx = outcome_of.get((round_id, model_id), ("", None, e.tx_hash))
        if not state:
            phase = rounds[round_id].phase if round_id in rounds else None
            state = "?" if phase is None else {Phase.OPEN: "open: can still change until close",
                     Phase.CLOSED: "at risk: round closed, waiting for resolution",
                     Phase.RESOLVABLE: "at risk: waiting for results",
                     Phase.PROPOSED: "at risk: results proposed, challenge window running",
                     Phase.ACCEPTED: "at risk: results accepted, waiting for settlement",
                     Phase.REFUNDING: "refundable: no results in time, anyone may refund it"}.get(
                phase, phase.label)
        stakes.append({"round": round_id, "model": model_id, "stake": total, "state": state, "payout": payout,
                       "tx": tx})
    roles = [name for name, holders in role_holders(reader).items() if any(h["address"] == address for h in holders)]
    if address in reader.signer_set().signers:
        roles.append("oracle signer (current set)")
    totals = {"deposited": sum(int(e.args["amount"]) for e in deposits),
              "withdrawn": sum(int(e.args["amount"]) for e in withdrawals),
              "payouts": sum(int(e.args["payout"]) for e in settled),
              "burned": sum(int(e.args["burned"]) for e in settled),
              "refunded": sum(int(e.args["amount"]) for e in refunded)}
    models = [(int(e.args["modelId"]), str(e.args["name"])) for e in created]
    return AddressActivity(address, balances.eth_wei, balances.nmr_wei, balances.wallet_wei, models, activity,
                           stakes, roles, totals)
