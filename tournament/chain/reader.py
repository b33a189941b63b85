"""The block-pinned chain reader: every view and event of a round, read at ONE block number.

    reader = ChainReader(w3, deployment)                    # pinned at the head, resolved once
    reader = ChainReader(w3, deployment, block="finalized") # or "safe", or an int block number
    reader = ChainReader(w3, deployment, confirmations=3)   # head minus 3 blocks
    reader.block_number, reader.block_hash, reader.now()    # the pin; now() = THE chain time
    reader.block_gas_limit                                  # of the pinned block
    reader.at(block) -> ChainReader                         # same RPC, scanner and caches, another pin

  Round (everything at the pinned block):
    round(round_id) -> RoundState        every getRound field, phase (Phase IntEnum), opened_block
    phase(round_id) -> Phase
    opened_block(round_id, hint=None) -> int|None  block of its RoundOpened (found once, cached per
                                         process; a remembered `hint` block is checked first)
    round_events(round_id) -> RoundEvents every event indexed by the round (RoundOpened,
                                         StakeChanged, ResultsProposed, ResultsVetoed, StakeSettled,
                                         StakeRefunded, RoundSettled), ONE paged scan from opened_block
    stakes(round_id) -> {model_id: StakeState}  the staked models (latest StakeChanged total > 0)
                                         with commitment, amount, multipliers and closed flag
                                         (getStake in JSON-RPC batches of `batch_size`)
    commitments(round_id) -> {model_id: bytes32}
    stake_of(round_id, model_id) -> (amount_wei, corr_mult, mmc_mult, closed)
    stake_views([(round_id, model_id), ...]) -> {(r, m): (amount_wei, corr_mult, mmc_mult, closed)}  batched
    rounds(round_ids) -> {round_id: RoundState}  several rounds in one batch (no opened_block)

  Tournament:
    config() -> Config                   signer_set() -> SignerSet
    config_values() -> {abiName: int}    the Config struct in ABI order (setConfig's argument)
    code(address) -> bytes               code_at(w3, address, block) without a reader
    signer_sets() -> {version: SignerSet} (SignersUpdated events)
    model_owner(model_id) -> str|None    model_owners(ids) -> {id: owner|None} (batched)
    models_of(owner) -> [ModelInfo]      (ModelCreated events)
    balances(address) -> Balances        eth, NMR and tournament wallet of one address (one batch)
    wallet_balance_wei(a), token_balance_wei(a), allowance_wei(owner, spender), permit_nonce(owner)
    total_supply_wei(block=None), reward_pool_wei(), eip712_domain(), results_digest(results_tuple)
    tournament_time()                    the contract's clock (v2: chain time minus paused time)
    refundable_at(round_id)              tournament time from which unsettled stakes are refundable
    results_deadline(round_id)           tournament time from which a round without results refunds
    has_role(role, address), paused()    role is the role's bytes32 id or its name ("GUARDIAN_ROLE")
    events(name, argument_filters=None, from_block=None) -> [EventLog]  any tournament event
    token_burns() -> [EventLog]          NMR Transfer events to the zero address
    owner_stake_changes(owner), owner_outcomes(owner) -> [EventLog]  (participant status/history)
    proposal_calldata(tx_hash) -> (function name, params) | None  (signatures of a proposal)
    transaction(tx_hash) -> TxInfo | None  a mined tx: decoded tournament call and events

Cost of a round's whole state (round + events + stakes): one get_block at the pin, one batch
for getRound+phase, one or a few eth_getLogs (the RoundOpened search, then the round's scan),
and ceil(stakes / batch_size) batches: about 15 calls for 10,000 stakes (see
tests/chain/test_chain_reader.py). Log scans adapt their window to the provider's
limits (tournament.chain.events.LogScanner). The commitment rule (latest non-zero
submissionHash) is `tournament.chain.types.stake_commitments`, used only here.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union, cast

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_typing import HexStr
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import BlockNotFound, ContractCustomError, ContractLogicError, Web3RPCError
from web3.types import BlockIdentifier

from tournament.chain.contracts import Deployment, nmr_contract, tournament_contract
from tournament.chain.errors import ChainError, TransactionReverted, abi_of, decode_revert, revert_data
from tournament.chain.events import LogScanner
from tournament.chain.rpc import batched, execute_batch, rpc, use_retry_policy
from tournament.chain.types import (
    Config,
    EventLog,
    ModelInfo,
    Phase,
    RoundEvents,
    RoundState,
    SignerSet,
    StakeState,
    decode_struct,
    plain_value,
    stake_commitments,
)

__all__ = ["Balances", "BlockSpec", "ChainReader", "ROUND_EVENTS", "TxInfo", "chain_time", "code_at"]

log = logging.getLogger(__name__)

BlockSpec = Union[int, str]
ROUND_EVENTS = ("RoundOpened", "StakeChanged", "ResultsProposed", "ResultsVetoed", "StakeSettled", "StakeRefunded",
                "RoundSettled")
TAGS = ("latest", "safe", "finalized", "earliest")
ZERO_ADDRESS = "0x" + "00" * 20

# (chain id, tournament address, round id) -> block of RoundOpened. A round is opened once and
# that block is far behind any confirmation depth, so the search is done once per process.
_OPENED_BLOCKS: dict[tuple[int, str, int], int] = {}
_CHECKSUMS: dict[str, str] = {}   # lower-case address -> checksummed (keccak per address, once)


@dataclass(frozen=True)
class TxInfo:
    """A mined transaction as the explorer shows it: the tournament call it made and its events."""

    tx_hash: str
    block_number: int
    sender: str
    to: Optional[str]
    status: int
    gas_used: int
    call: Optional[tuple[str, dict]]  # (function name, params) when it called the tournament
    events: tuple[EventLog, ...]      # the tournament's events it emitted


@dataclass(frozen=True)
class Balances:
    address: str
    eth_wei: int
    nmr_wei: int  # NMR held by the address
    wallet_wei: int  # its free balance in the tournament wallet


def _header(w3: Web3, block: BlockSpec) -> Any:
    return rpc(lambda: w3.eth.get_block(cast(BlockIdentifier, block)), f"reading block {block}")


def chain_time(w3: Web3, block: BlockSpec = "latest") -> int:
    """Chain time: the timestamp of `block` (unix seconds). ChainReader.now() is this at its pin."""
    return int(_header(w3, block)["timestamp"])


def code_at(w3: Web3, address: str, block: BlockSpec = "latest") -> bytes:
    """The code at `address` (empty: no contract there), e.g. to check a deployment file against an RPC."""
    return bytes(rpc(lambda: w3.eth.get_code(to_checksum_address(address), cast(BlockIdentifier, block)),
                     f"reading the code at {address}"))


def _hex(value: Any) -> str:
    return "0x" + bytes(HexBytes(value)).hex()


def _topic_of_uint(value: int) -> str:
    return "0x" + int(value).to_bytes(32, "big").hex()


class ChainReader:
    """Reads the tournament at one pinned block; see the module docstring for the API."""

    def __init__(self, w3: Web3, deployment: Deployment, block: BlockSpec = "latest", *, confirmations: int = 0,
                 scanner: Optional[LogScanner] = None, batch_size: int = 1_000, stakes_page: int = 2_000,
                 _contracts: Optional[tuple[Any, Any]] = None):
        if confirmations < 0:
            raise ValueError(f"confirmations must be >= 0, got {confirmations}")
        self.w3 = use_retry_policy(w3)
        self.deployment = deployment
        # Any, not web3's Contract: its ABI TypedDicts are read here as plain dicts (decode_struct).
        self.tournament: Any
        self.nmr: Any
        self.tournament, self.nmr = _contracts or (tournament_contract(w3, deployment), nmr_contract(w3, deployment))
        self.scanner = scanner or LogScanner()
        self.batch_size = batch_size
        self.stakes_page = stakes_page
        self.confirmations = confirmations
        get_stakes = next((f for f in self.tournament.abi if f.get("type") == "function"
                           and f.get("name") == "getStakes"), None)
        self._get_stakes = None if get_stakes is None else (
            bytes(Web3.keccak(text="getStakes(uint256,uint256[])"))[:4],
            [_abi_type(o) for o in get_stakes["outputs"]])
        header = self._pin(block, confirmations)
        self.block_number = int(header["number"])
        self.block_hash = _hex(header["hash"])
        self._timestamp = int(header["timestamp"])
        self.block_gas_limit = int(header.get("gasLimit") or 0)
        self._memo: dict[Any, Any] = {}
        self._event_by_topic = {
            _hex(Web3.keccak(text=f"{e['name']}({','.join(_abi_type(i) for i in e['inputs'])})")): e["name"]
            for e in self.tournament.abi if e.get("type") == "event"}
        self._topic_of_event = {name: topic for topic, name in self._event_by_topic.items()}
        self._event_layout, self._event_addresses = _event_layouts(self.tournament.abi)
        self._indexed_inputs = {e["name"]: [(i["name"], _abi_type(i)) for i in e["inputs"] if i.get("indexed")]
                                for e in self.tournament.abi if e.get("type") == "event"}

    # ------------------------------------------------------------------ the pin
    def _pin(self, block: BlockSpec, confirmations: int) -> Any:
        if isinstance(block, bool) or not isinstance(block, (int, str)):
            raise ValueError(f"block must be a number or one of {TAGS}, got {block!r}")
        if isinstance(block, str) and block not in TAGS:
            raise ValueError(f"block must be a number or one of {TAGS}, got {block!r}")
        if confirmations and block == "latest":
            head = int(rpc(lambda: self.w3.eth.block_number, "reading the block number"))
            return _header(self.w3, max(0, head - confirmations))
        try:
            return _header(self.w3, block)
        except (BlockNotFound, Web3RPCError, ValueError) as exc:
            if isinstance(block, str) and block in ("safe", "finalized") and confirmations:
                log.info("the RPC has no %r block (%s); using head minus %d", block, exc, confirmations)
                return self._pin("latest", confirmations)
            raise ChainError(f"the RPC cannot give block {block!r} ({exc}); pass a block number "
                             "or use confirmations") from exc

    def at(self, block: BlockSpec = "latest", confirmations: int = 0) -> ChainReader:
        """A reader of the same tournament pinned elsewhere (shares the log scanner and bindings)."""
        return ChainReader(self.w3, self.deployment, block, confirmations=confirmations, scanner=self.scanner,
                           batch_size=self.batch_size, stakes_page=self.stakes_page,
                           _contracts=(self.tournament, self.nmr))

    def now(self) -> int:
        """Chain time at the pin: the pinned block's timestamp (unix seconds)."""
        return self._timestamp

    @property
    def chain_id(self) -> int:
        return int(self.deployment.chain_id)

    # ------------------------------------------------------------------ plumbing
    def _remember(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def _call(self, fn: Any, description: str) -> Any:
        """One view at the pinned block; a revert comes back decoded."""
        try:
            return rpc(lambda: fn.call(block_identifier=self.block_number), description)
        except (ContractCustomError, ContractLogicError) as exc:
            raise TransactionReverted(description, decode_revert(abi_of(fn), revert_data(exc))) from exc

    def _batch(self, fns: Sequence[Any], description: str) -> list:
        """Many views at the pinned block in JSON-RPC batches of `batch_size` (never one call each)."""
        out: list = []
        for page in batched(list(fns), self.batch_size):
            def add(batch: Any, page: Sequence[Any] = page) -> None:
                for fn in page:
                    batch.add(fn.call(block_identifier=self.block_number))
            try:
                out.extend(execute_batch(self.w3, add, description))
            except (ContractCustomError, ContractLogicError) as exc:
                raise TransactionReverted(description, decode_revert(self.tournament.abi, revert_data(exc))) from exc
        return out

    def _stake_pages(self, keys: Sequence[tuple[int, int]], description: str) -> list:
        """[((amount, corrMult, mmcMult), closed)] of many (round, model) pairs: getStakes pages of
        `stakes_page` ids per eth_call, all pages in JSON-RPC batches (15,000 stakes: 8 eth_calls,
        one HTTP request), encoded once with eth_abi (web3's per-call encoding costs ~30 ms each).
        Falls back to getStake per pair on a contract without getStakes."""
        if not keys:
            return []
        if self._get_stakes is None:
            return self._batch([self.tournament.functions.getStake(r, m) for r, m in keys], description)
        selector, out_types = self._get_stakes
        by_round: dict[int, list[int]] = {}
        for r, m in keys:
            by_round.setdefault(r, []).append(m)
        pages = [(r, ids[i:i + self.stakes_page]) for r, ids in by_round.items()
                 for i in range(0, len(ids), self.stakes_page)]
        address, block = self.tournament.address, self.block_number
        answers: list = []
        for group in batched(pages, max(1, self.batch_size // 100)):
            def add(batch: Any, group: Sequence[Any] = group) -> None:
                for r, ids in group:
                    data = HexStr("0x" + (selector + abi_encode(["uint256", "uint256[]"], [r, ids])).hex())
                    batch.add(self.w3.eth.call({"to": address, "data": data}, block))
            answers.extend(execute_batch(self.w3, add, description))
        found: dict[tuple[int, int], Any] = {}
        for (r, ids), answer in zip(pages, answers):
            positions, closed = abi_decode(out_types, bytes(answer))
            if len(positions) != len(ids):
                raise ChainError(f"{description}: getStakes answered {len(positions)} stakes for {len(ids)} ids")
            for m, position, flag in zip(ids, positions, closed):
                found[(r, m)] = (tuple(position), bool(flag))
        return [found[key] for key in keys]

    def _logs(self, params: dict, from_block: int, description: str, *, first: bool = False) -> list:
        def fetch(start: int, end: int) -> list:
            return list(self.w3.eth.get_logs({**params, "fromBlock": start, "toBlock": end}))
        logs = self.scanner.scan(fetch, from_block, self.block_number, description, stop_when_found=first)
        return sorted(logs, key=lambda e: (int(e["blockNumber"]), int(e["logIndex"])))

    def _decode(self, contract: Any, name: str, raw: Any) -> EventLog:
        """One raw log as an EventLog. The tournament's events are decoded with eth_abi directly
        (web3's process_log re-validates the ABI per log: ~3 ms each, minutes for a 15,000-stake
        round); anything else (the token's events) goes through web3."""
        layout = self._event_layout.get(name) if contract is self.tournament else None
        if layout is None:   # another contract's event, or one with a struct
            event = contract.events[name]().process_log(raw)
            args = {k: plain_value(v) for k, v in dict(event["args"]).items()}
        else:
            indexed, plain_names, plain_types = layout
            topics = raw["topics"]
            args = {}
            for (arg, kind), topic in zip(indexed, topics[1:]):
                word = bytes(HexBytes(topic))
                args[arg] = word if kind in ("string", "bytes") or kind.endswith("]") else plain_value(
                    abi_decode([kind], word)[0])
            data = bytes(HexBytes(raw["data"]))
            for arg, value in zip(plain_names, abi_decode(plain_types, data) if plain_types else ()):
                args[arg] = plain_value(value)
            for arg, kind in self._event_addresses[name]:
                value = args[arg]
                args[arg] = tuple(self._checksum(v) for v in value) if kind.endswith("]") else self._checksum(value)
        return EventLog(name=name, args=args, block_number=int(raw["blockNumber"]), log_index=int(raw["logIndex"]),
                        tx_hash=_hex(raw["transactionHash"]), address=to_checksum_address(str(raw["address"])))

    def _checksum(self, address: str) -> str:
        known = _CHECKSUMS.get(address)
        if known is None:
            known = _CHECKSUMS[address] = to_checksum_address(address)
        return known

    # ------------------------------------------------------------------ rounds
    def opened_block(self, round_id: int, hint: Optional[int] = None) -> Optional[int]:
        """Block of the round's RoundOpened event at or before the pin; None if not opened.

        `hint` is a block remembered from an earlier process (e.g. the operator's state.json):
        it is checked with one eth_getLogs of that block before any scan, never trusted.
        The per-process cache is keyed by chain id and address, which a restarted dev chain
        reuses: a cached block after the pin is searched again, and `round_events` drops a
        cached block its scan does not confirm (see `_forget_opened`)."""
        key = (self.chain_id, self.tournament.address.lower(), int(round_id))
        if key in _OPENED_BLOCKS and _OPENED_BLOCKS[key] <= self.block_number:
            return _OPENED_BLOCKS[key]
        topics = [self._topic_of_event["RoundOpened"], _topic_of_uint(round_id)]
        if isinstance(hint, int) and not isinstance(hint, bool) and 0 <= hint <= self.block_number:
            at_hint = rpc(lambda: self.w3.eth.get_logs({"address": self.tournament.address, "topics": topics,
                                                         "fromBlock": hint, "toBlock": hint}),
                          f"checking round {round_id}'s RoundOpened at block {hint}")
            if at_hint:
                _OPENED_BLOCKS[key] = int(hint)
                return int(hint)
        # Round ids only increase, so a round opened after every lower round known here.
        deployed = int(self.deployment.deploy_block)
        earlier = [b for (c, t, r), b in _OPENED_BLOCKS.items()
                   if c == key[0] and t == key[1] and r < round_id and b <= self.block_number]
        start = max(earlier, default=deployed)
        found = self._logs({"address": self.tournament.address, "topics": topics},
                           start, f"finding round {round_id}'s RoundOpened", first=True)
        if not found and start > deployed:   # the shortcut came from another chain with the same id and address
            found = self._logs({"address": self.tournament.address, "topics": topics},
                               deployed, f"finding round {round_id}'s RoundOpened", first=True)
        if not found:
            return None
        _OPENED_BLOCKS[key] = int(found[0]["blockNumber"])
        return _OPENED_BLOCKS[key]

    def _forget_opened(self, round_id: int) -> None:
        """Drops the cached RoundOpened blocks of this tournament from `round_id` on (all stale together)."""
        chain, address = self.chain_id, self.tournament.address.lower()
        for key in [k for k in _OPENED_BLOCKS if k[0] == chain and k[1] == address and k[2] >= round_id]:
            del _OPENED_BLOCKS[key]

    def round(self, round_id: int, *, with_opened_block: bool = True) -> RoundState:
        """Every field of getRound, the phase and (unless not wanted) the RoundOpened block."""
        def read() -> RoundState:
            get_round = self.tournament.functions.getRound(round_id)
            state, phase = self._batch([get_round, self.tournament.functions.phase(round_id)],
                                       f"reading round {round_id}")
            components = get_round.abi["outputs"][0]["components"]
            by_name = decode_struct(components, state)
            config_components = next(c["components"] for c in components if c["name"] == "config")
            opened = self.opened_block(round_id) if with_opened_block and by_name.get("closeTime") else None
            return RoundState.from_abi(int(round_id), self.block_number, int(phase), by_name, config_components,
                                       opened)
        return self._remember(("round", round_id, with_opened_block), read)

    def phase(self, round_id: int) -> Phase:
        return Phase(int(self._call(self.tournament.functions.phase(round_id), f"reading round {round_id}'s phase")))

    def round_events(self, round_id: int) -> RoundEvents:
        """Every event indexed by the round, from its RoundOpened block to the pin: one paged scan."""
        def read() -> RoundEvents:
            opened = self.opened_block(round_id)
            if opened is None:
                return RoundEvents(round_id, self.block_number, ())
            topics = [[self._topic_of_event[n] for n in ROUND_EVENTS if n in self._topic_of_event],
                      _topic_of_uint(round_id)]
            raw = self._logs({"address": self.tournament.address, "topics": topics}, opened,
                             f"reading round {round_id}'s events")
            if not any(int(r["blockNumber"]) == opened and _hex(r["topics"][0]) == topics[0][0] for r in raw):
                # The cached RoundOpened block is not this chain's (a restarted dev chain): search again.
                self._forget_opened(round_id)
                opened = self.opened_block(round_id)
                if opened is None:
                    return RoundEvents(round_id, self.block_number, ())
                raw = self._logs({"address": self.tournament.address, "topics": topics}, opened,
                                 f"reading round {round_id}'s events")
            events = tuple(self._decode(self.tournament, self._event_by_topic[_hex(r["topics"][0])], r) for r in raw)
            return RoundEvents(round_id, self.block_number, events)
        return self._remember(("events", round_id), read)

    def stakes(self, round_id: int) -> dict[int, StakeState]:
        """The round's staked models at the pin: {model_id: StakeState}, by model id."""
        def read() -> dict[int, StakeState]:
            latest = stake_commitments(self.round_events(round_id).of("StakeChanged"))
            staked = sorted((m, event, digest) for m, (event, digest) in latest.items()
                            if int(event.args["total"]) != 0)
            views = self._stake_pages([(round_id, m) for m, _, _ in staked], f"reading round {round_id}'s stakes")
            out = {}
            for (model_id, event, digest), ((amount, corr_mult, mmc_mult), closed) in zip(staked, views):
                out[model_id] = StakeState(model_id=model_id, owner=to_checksum_address(event.args["owner"]),
                                           amount_wei=int(amount), corr_mult=int(corr_mult), mmc_mult=int(mmc_mult),
                                           submission_hash=digest, closed=bool(closed),
                                           event_total_wei=int(event.args["total"]), changed_tx=event.tx_hash)
            return out
        return self._remember(("stakes", round_id), read)

    def commitments(self, round_id: int) -> dict[int, bytes]:
        """{model_id: committed submission hash} of the round's staked models (ZERO32: none)."""
        return {m: s.submission_hash for m, s in self.stakes(round_id).items()}

    def stake_of(self, round_id: int, model_id: int) -> tuple[int, int, int, bool]:
        """(amount_wei, corr_mult, mmc_mult, closed) of one (round, model); zeros when none."""
        (amount, corr_mult, mmc_mult), closed = self._call(self.tournament.functions.getStake(round_id, model_id),
                                                           f"reading the stake of model {model_id}")
        return int(amount), int(corr_mult), int(mmc_mult), bool(closed)

    def stake_views(self, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, int, int, bool]]:
        """{(round_id, model_id): (amount_wei, corr_mult, mmc_mult, closed)} for many stakes, batched."""
        keys = list(dict.fromkeys((int(r), int(m)) for r, m in pairs))
        views = self._stake_pages(keys, "reading stakes")
        return {key: (int(a), int(c), int(mm), bool(closed)) for key, ((a, c, mm), closed) in zip(keys, views)}

    def rounds(self, round_ids: Iterable[int]) -> dict[int, RoundState]:
        """Several rounds' states (without their opened blocks) in one batch."""
        ids = [r for r in dict.fromkeys(int(r) for r in round_ids)]
        if not ids:
            return {}
        fns = [f for r in ids for f in (self.tournament.functions.getRound(r), self.tournament.functions.phase(r))]
        answers = self._batch(fns, "reading rounds")
        components = fns[0].abi["outputs"][0]["components"]
        config_components = next(c["components"] for c in components if c["name"] == "config")
        out = {}
        for i, r in enumerate(ids):
            out[r] = RoundState.from_abi(r, self.block_number, int(answers[2 * i + 1]),
                                         decode_struct(components, answers[2 * i]), config_components, None)
            self._memo[("round", r, False)] = out[r]
        return out

    # ------------------------------------------------------------------ tournament
    def config(self) -> Config:
        fn = self.tournament.functions.config()
        return Config.from_abi(decode_struct(fn.abi["outputs"][0]["components"],
                                             self._call(fn, "reading the configuration")))

    def config_values(self) -> dict[str, int]:
        """The configuration as {abiName: value} in the struct's ABI order (what setConfig takes)."""
        fn = self.tournament.functions.config()
        return {k: int(v) for k, v in decode_struct(fn.abi["outputs"][0]["components"],
                                                    self._call(fn, "reading the configuration")).items()}

    def code(self, address: str) -> bytes:
        """The code at `address` at the pin (empty: no contract there)."""
        return code_at(self.w3, address, self.block_number)

    def signer_set(self) -> SignerSet:
        signers, threshold, version = self._call(self.tournament.functions.signerSet(), "reading the signer set")
        return SignerSet(tuple(to_checksum_address(s) for s in signers), int(threshold), int(version))

    def signer_sets(self) -> dict[int, SignerSet]:
        """Every signer set ever installed, by version (SignersUpdated events)."""
        return {int(e.args["version"]): SignerSet(tuple(to_checksum_address(s) for s in e.args["signers"]),
                                                  int(e.args["threshold"]), int(e.args["version"]))
                for e in self.events("SignersUpdated")}

    def model_owner(self, model_id: int) -> Optional[str]:
        owner = self._call(self.tournament.functions.modelOwner(model_id), f"reading model {model_id}")
        return None if int(owner, 16) == 0 else to_checksum_address(owner)

    def model_owners(self, model_ids: Iterable[int]) -> dict[int, Optional[str]]:
        ids = list(model_ids)
        owners = self._batch([self.tournament.functions.modelOwner(m) for m in ids], "reading model owners")
        return {m: (None if int(o, 16) == 0 else to_checksum_address(o)) for m, o in zip(ids, owners)}

    def models_of(self, owner: str) -> list[ModelInfo]:
        """The models `owner` created (ModelCreated events), by id."""
        return [ModelInfo(int(e.args["modelId"]), to_checksum_address(e.args["owner"]), str(e.args["name"]),
                          e.block_number)
                for e in self.events("ModelCreated", {"owner": to_checksum_address(owner)})]

    def balances(self, address: str) -> Balances:
        """ETH, NMR and tournament-wallet balances of `address` (one batch)."""
        address = to_checksum_address(address)

        def add(batch: Any) -> None:
            batch.add(self.w3.eth.get_balance(address, self.block_number))
            batch.add(self.nmr.functions.balanceOf(address).call(block_identifier=self.block_number))
            batch.add(self.tournament.functions.balanceOf(address).call(block_identifier=self.block_number))
        eth, nmr, wallet = execute_batch(self.w3, add, f"reading the balances of {address}")
        return Balances(address, int(eth), int(nmr), int(wallet))

    def wallet_balance_wei(self, address: str) -> int:
        return int(self._call(self.tournament.functions.balanceOf(to_checksum_address(address)), "reading a wallet"))

    def token_balance_wei(self, address: str) -> int:
        return int(self._call(self.nmr.functions.balanceOf(to_checksum_address(address)), "reading an NMR balance"))

    def allowance_wei(self, owner: str, spender: Optional[str] = None) -> int:
        spender = spender or self.tournament.address
        return int(self._call(self.nmr.functions.allowance(to_checksum_address(owner), to_checksum_address(spender)),
                              "reading an NMR allowance"))

    def permit_nonce(self, owner: str) -> int:
        return int(self._call(self.nmr.functions.nonces(to_checksum_address(owner)), "reading the permit nonce"))

    def total_supply_wei(self, block: Optional[int] = None) -> int:
        """NMR total supply at the pin (or at an earlier `block`, which needs an archive node)."""
        fn = self.nmr.functions.totalSupply()
        at = self.block_number if block is None else int(block)
        return int(rpc(lambda: fn.call(block_identifier=at), "reading the NMR supply"))

    def reward_pool_wei(self) -> int:
        return int(self._call(self.tournament.functions.rewardPool(), "reading the reward pool"))

    def tournament_time(self) -> int:
        """The contract's clock at the pin (v2: chain time minus the time spent paused); challenge
        ends, results and settle timeouts run on it."""
        return int(self._call(self.tournament.functions.tournamentTime(), "reading the tournament time"))

    def refundable_at(self, round_id: int) -> int:
        """Tournament time from which an accepted round's unsettled stakes are refundable (0: no results)."""
        return int(self._call(self.tournament.functions.refundableAt(int(round_id)),
                              f"reading round {round_id}'s refundableAt"))

    def results_deadline(self, round_id: int) -> int:
        """Tournament time from which a round without accepted results is Refunding."""
        return int(self._call(self.tournament.functions.resultsDeadline(int(round_id)),
                              f"reading round {round_id}'s resultsDeadline"))

    def role_id(self, role: Union[str, bytes]) -> bytes:
        """The bytes32 id of a role given by name ("GUARDIAN_ROLE"; DEFAULT_ADMIN_ROLE is zero) or id."""
        if isinstance(role, (bytes, bytearray)):
            return bytes(role)
        name = str(role).upper()
        name = name if name.endswith("_ROLE") else f"{name}_ROLE"
        return bytes(32) if name == "DEFAULT_ADMIN_ROLE" else bytes(Web3.keccak(text=name))

    def has_role(self, role: Union[str, bytes], address: str) -> bool:
        return bool(self._call(self.tournament.functions.hasRole(self.role_id(role), to_checksum_address(address)),
                               f"reading whether {address} holds {role!r}"))

    def paused(self) -> bool:
        return bool(self._call(self.tournament.functions.paused(), "reading the pause flag"))

    def eip712_domain(self) -> Any:
        """The raw eip712Domain() answer (see tournament.protocol.signing.domain_from_eip712_domain_call)."""
        return self._call(self.tournament.functions.eip712Domain(), "reading the EIP-712 domain")

    def results_digest(self, results: Sequence[Any]) -> bytes:
        return bytes(self._call(self.tournament.functions.resultsDigest(tuple(results)), "reading a results digest"))

    def events(self, name: str, argument_filters: Optional[dict] = None,
               from_block: Optional[int] = None) -> list[EventLog]:
        """Every `name` event of the tournament matching `argument_filters` (indexed arguments),
        from `from_block` (default: the deployment block) to the pin, in chain order."""
        key = ("events", name, tuple(sorted((argument_filters or {}).items())), from_block)

        def read() -> list[EventLog]:
            start = int(self.deployment.deploy_block if from_block is None else from_block)
            address, topics = self.tournament.address, self._event_topics(name, argument_filters)
            logs = self.scanner.scan(
                lambda s, e: list(self.w3.eth.get_logs({"address": address, "topics": topics, "fromBlock": s,
                                                        "toBlock": e})),
                start, self.block_number, f"reading {name} events")
            logs = sorted(logs, key=lambda e: (int(e["blockNumber"]), int(e["logIndex"])))
            return [self._decode(self.tournament, name, e) for e in logs]
        return self._remember(key, read)

    def _event_topics(self, name: str, argument_filters: Optional[dict]) -> list:
        """The eth_getLogs topics of event `name` with `argument_filters` on its indexed arguments
        (a value, or a list of values for any of them)."""
        if name not in self._topic_of_event:
            raise ValueError(f"the tournament has no event {name!r}")
        filters = dict(argument_filters or {})
        topics: list = [self._topic_of_event[name]]
        for arg, kind in self._indexed_inputs[name]:
            if arg not in filters:
                topics.append(None)
                continue
            wanted = filters.pop(arg)
            values = wanted if isinstance(wanted, (list, tuple)) else [wanted]
            encoded = ["0x" + abi_encode([kind], [bytes(HexBytes(v)) if kind.startswith("bytes") and not
                                                  isinstance(v, (bytes, bytearray)) else v]).hex() for v in values]
            topics.append(encoded[0] if len(encoded) == 1 else encoded)
        if filters:
            raise ValueError(f"{name}: {sorted(filters)} are not indexed arguments")
        while topics and topics[-1] is None:
            topics.pop()
        return topics

    def owner_stake_changes(self, owner: str) -> list[EventLog]:
        """Every StakeChanged of `owner`'s models, all rounds, in chain order."""
        return self.events("StakeChanged", {"owner": to_checksum_address(owner)})

    def owner_outcomes(self, owner: str) -> list[EventLog]:
        """Every StakeSettled and StakeRefunded of `owner`, all rounds, in chain order."""
        filters = {"owner": to_checksum_address(owner)}
        both = self.events("StakeSettled", filters) + self.events("StakeRefunded", filters)
        return sorted(both, key=lambda e: (e.block_number, e.log_index))

    def owner_commitments(self, owner: str) -> dict[tuple[int, int], tuple[EventLog, bytes]]:
        """{(round_id, model_id): (latest StakeChanged, commitment)} of `owner`'s stakes, all rounds."""
        by_round: dict[int, list[EventLog]] = {}
        for event in self.owner_stake_changes(owner):
            by_round.setdefault(int(event.args["roundId"]), []).append(event)
        return {(r, m): value for r, changes in by_round.items() for m, value in stake_commitments(changes).items()}

    def token_burns(self) -> list[EventLog]:
        """Every NMR Transfer to the zero address (burns) since the deployment, to the pin."""
        key = ("burns",)

        def read() -> list[EventLog]:
            event = self.nmr.events["Transfer"]
            logs = self.scanner.scan(
                lambda s, e: event().get_logs(from_block=s, to_block=e, argument_filters={"to": ZERO_ADDRESS}),
                int(self.deployment.deploy_block), self.block_number, "reading NMR burns")
            return [EventLog("Transfer", {k: plain_value(v) for k, v in dict(x["args"]).items()}, int(x["blockNumber"]),
                             int(x["logIndex"]), _hex(x["transactionHash"]), str(x["address"]))
                    for x in sorted(logs, key=lambda x: (int(x["blockNumber"]), int(x["logIndex"])))]
        return self._remember(key, read)

    def raw_transaction(self, tx_hash: str) -> Optional[tuple[Any, Any]]:
        """(transaction, receipt) as the node returns them, for pages that decode any contract's
        input and logs (the NMR token's too); None when the node does not know the hash."""
        from web3.exceptions import TransactionNotFound
        try:
            tx = rpc(lambda: self.w3.eth.get_transaction(HexStr(tx_hash)), f"reading transaction {tx_hash}")
            receipt = rpc(lambda: self.w3.eth.get_transaction_receipt(HexStr(tx_hash)), f"reading receipt {tx_hash}")
        except (TransactionNotFound, Web3RPCError, ValueError):
            return None
        return tx, receipt

    def code_at(self, address: str) -> bytes:
        """The runtime code at `address` at the pinned block (empty: no contract there)."""
        checksummed = Web3.to_checksum_address(address)
        return bytes(rpc(lambda: self.w3.eth.get_code(checksummed, self.block_number), f"reading the code at {address}"))

    def transaction(self, tx_hash: str) -> Optional[TxInfo]:
        """A mined transaction with its decoded tournament call and events; None if unknown."""
        from web3.exceptions import TransactionNotFound
        try:
            tx = rpc(lambda: self.w3.eth.get_transaction(HexStr(tx_hash)), f"reading transaction {tx_hash}")
            receipt = rpc(lambda: self.w3.eth.get_transaction_receipt(HexStr(tx_hash)), f"reading receipt {tx_hash}")
        except (TransactionNotFound, Web3RPCError, ValueError):
            return None
        to = tx.get("to")
        call = self._decode_call(tx) if to and to.lower() == self.tournament.address.lower() else None
        events = []
        for entry in receipt["logs"]:
            topics = entry.get("topics") or []
            if entry["address"].lower() != self.tournament.address.lower() or not topics:
                continue
            name = self._event_by_topic.get(_hex(topics[0]))
            if name is not None:
                events.append(self._decode(self.tournament, name, entry))
        return TxInfo(_hex(receipt["transactionHash"]), int(receipt["blockNumber"]), str(tx["from"]), to,
                      int(receipt["status"]), int(receipt["gasUsed"]), call, tuple(events))

    def proposal_calldata(self, tx_hash: str) -> Optional[tuple[str, dict]]:
        """(function name, params) of a transaction's input to the tournament; None when it is
        not a direct call the ABI decodes (e.g. sent through a multisig wrapper)."""
        tx = rpc(lambda: self.w3.eth.get_transaction(HexStr(tx_hash)), f"reading transaction {tx_hash}")
        return self._decode_call(tx)

    def _decode_call(self, tx: Any) -> Optional[tuple[str, dict]]:
        try:
            function, params = self.tournament.decode_function_input(tx["input"])
        except ValueError as error:
            log.warning("cannot decode the calldata of %s: %s", _hex(tx["hash"]), error)
            return None
        return function.fn_name, dict(params)


def _event_layouts(abi: Sequence[dict]) -> tuple[dict, dict]:
    """Per event name: ([(indexed name, type)], [data names], [data types]), and its address arguments."""
    layouts, addresses = {}, {}
    for entry in abi:
        if entry.get("type") != "event" or entry.get("anonymous"):
            continue
        inputs = entry["inputs"]
        if any(i["type"].startswith("tuple") for i in inputs):
            continue   # structs (RoundOpened's config): web3 names their fields; rare events, decoded by web3
        layouts[entry["name"]] = ([(i["name"], _abi_type(i)) for i in inputs if i.get("indexed")],
                                  [i["name"] for i in inputs if not i.get("indexed")],
                                  [_abi_type(i) for i in inputs if not i.get("indexed")])
        addresses[entry["name"]] = [(i["name"], i["type"]) for i in inputs if i["type"] in ("address", "address[]")
                                    and not (i.get("indexed") and i["type"].endswith("]"))]
    return layouts, addresses


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return str(item["type"])

