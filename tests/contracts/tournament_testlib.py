"""Helpers of the contract tests (protocol v2) (imported by conftest.py and the test modules): protocol
constants and presets, `reverts_with` (pins a revert to its exact custom error: selector and
arguments compared as raw revert data), time travel, the invariant checker (protocol invariants
1-6 replayed from the chain's events) and `Harness`, which drives rounds end to end with the
oracle's own code (tournament.protocol.results for leaves and multiproofs, tournament.protocol.signing for EIP-712).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from brownie import chain, web3
from brownie.exceptions import VirtualMachineError, decode_typed_error
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector, keccak

from tournament.protocol.constants import WEI_PER_NMR as NMR_WEI
from tournament.protocol.results import Leaf, ResultsTree, build_leaves
from tournament.protocol.signing import Domain, Results, sign_results

DAY = 86_400
TOTAL_SUPPLY_WEI = 11_000_000 * NMR_WEI
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = b"\x00" * 32
ARTIFACTS_HASH = keccak(b'{"manifest": "test"}')
PARTICIPANT_FUNDS_WEI = 100_000 * NMR_WEI
REWARD_POOL_WEI = 50_000 * NMR_WEI

CONFIG_FIELDS = ["corrMultMin", "corrMultMax", "mmcMultMin", "mmcMultMax", "clipBps", "challengePeriod",
                 "resultsTimeout", "settleTimeout", "minResolutionDelay", "stakeThreshold", "minStake"]
SEED_PRESET = dict(corrMultMin=50, corrMultMax=300, mmcMultMin=0, mmcMultMax=0, clipBps=2500,
                   challengePeriod=DAY, resultsTimeout=14 * DAY, settleTimeout=14 * DAY,
                   minResolutionDelay=DAY, stakeThreshold=72_000 * NMR_WEI, minStake=NMR_WEI // 100)
PRESET_2024 = dict(SEED_PRESET, corrMultMin=50, corrMultMax=50, mmcMultMin=200, mmcMultMax=200, clipBps=500)

# Phases, in the contract's enum order.
NONE, OPEN, CLOSED, RESOLVABLE, PROPOSED, ACCEPTED, REFUNDING, SETTLED = range(8)

# Oracle signer keys: fixed, derived from labels, never funded (the operator submits).
SIGNER_KEYS = sorted((Account.from_key(keccak(f"oracle signer {i}".encode())) for i in range(6)),
                     key=lambda account: int(account.address, 16))
OPERATOR_ROLE = keccak(b"OPERATOR_ROLE")
GUARDIAN_ROLE = keccak(b"GUARDIAN_ROLE")
RECEIPT_ROLE = keccak(b"RECEIPT_ROLE")
BURN, LEGACY_MINT = 0, 1  # ITournament.BurnMethod
MAX_PERIOD = 365 * DAY
MAX_FIRST_ROUND_ID = 2**32 - 1
ROUND_FIELDS = ["closeTime", "resolveTime", "stakedCount", "closedCount", "attempt", "leafCount",
                "totalAtRisk", "challengeEnd", "settled", "resultsRoot", "payoutFactor", "reserve",
                "rewardsPaid", "burned", "closedAmount", "config", "scoredAtRisk", "scoredSettled",
                "liveIdsHash"]
DEFAULT_ADMIN_ROLE = ZERO_BYTES32

VECTORS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "payout_vectors.json"


def config_tuple(**overrides: int) -> tuple:
    """A Config struct as a tuple, the seed preset by default."""
    values = dict(SEED_PRESET, **overrides)
    unknown = set(values) - set(CONFIG_FIELDS)
    assert not unknown, f"unknown config fields {unknown}"
    return tuple(values[name] for name in CONFIG_FIELDS)


def submission_hash(label: str) -> bytes:
    return keccak(f"predictions of {label}".encode())


def live_ids_hash(round_id: int) -> bytes:
    """A stand-in for keccak256(live_ids.csv) of a round."""
    return keccak(f"live ids of round {round_id}".encode())


# ------------------------------------------------------------------ custom errors

def _error_abis() -> dict[str, dict]:
    abis: dict[str, dict] = {}
    build = Path(__file__).resolve().parents[2] / "build" / "contracts"
    for name in ("Tournament", "NMR", "PauseClock", "SignerSet"):
        if not (build / f"{name}.json").exists():
            continue
        for item in json.loads((build / f"{name}.json").read_text())["abi"]:
            if item["type"] == "error":
                abis.setdefault(item["name"], item)
    return abis


ERROR_ABIS = _error_abis()


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


def error_data(name: str, *args: Any) -> str:
    """The exact revert data of custom error `name(args...)`, as 0x-hex."""
    abi = ERROR_ABIS[name]
    types = [_abi_type(i) for i in abi["inputs"]]
    assert len(types) == len(args), f"{name} takes {len(types)} arguments ({types}), got {len(args)}"
    selector = function_signature_to_4byte_selector(f"{name}({','.join(types)})")
    return "0x" + (selector + abi_encode(types, [_normalise(t, a) for t, a in zip(types, args)])).hex()


def _normalise(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return str(value)
    if abi_type == "bytes32" and isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return value


def _raw_revert_data(exc: VirtualMachineError) -> Optional[str]:
    """Raw revert data of a failed transaction (anvil's call tracer), or None for a failed call."""
    if not exc.txid:
        return None
    trace = web3.provider.make_request("debug_traceTransaction", [exc.txid, {"tracer": "callTracer"}])
    assert "error" not in trace, f"cannot trace {exc.txid}: {trace['error']}"
    output = trace["result"].get("output") or "0x"
    return output if output.startswith("0x") else "0x" + output


class _TxTime:
    """Placeholder argument: the timestamp of the block that mined the reverted transaction."""

    def __repr__(self) -> str:
        return "TX_TIME"


TX_TIME = _TxTime()


class reverts_with:
    """`with reverts_with("WrongPhase", round_id, RESOLVABLE, CLOSED): ...` passes only when the
    block reverts with exactly this custom error and these arguments (raw revert data compared
    byte for byte; for a failed eth_call, brownie's decoded message is compared instead).
    An argument `TX_TIME` stands for the reverted transaction's block timestamp (`now_`)."""

    def __init__(self, name: str, *args: Any):
        self.name = name
        self.args = args
        self.expected = error_data(name, *[0 if a is TX_TIME else a for a in args])

    def __enter__(self) -> reverts_with:
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> bool:
        if exc_type is None:
            raise AssertionError(f"expected a revert with {self.name}, but nothing reverted")
        if exc_type is not VirtualMachineError:
            return False
        raw = _raw_revert_data(exc_value)
        if raw is not None and any(a is TX_TIME for a in self.args):
            block = web3.eth.get_transaction_receipt(exc_value.txid)["blockNumber"]
            tx_time = web3.eth.get_block(block)["timestamp"]
            self.expected = error_data(self.name, *[tx_time if a is TX_TIME else a for a in self.args])
        if raw is not None:
            if raw.lower() != self.expected.lower():
                raise AssertionError(f"expected revert {decode_typed_error(self.expected)!r}\n"
                                     f"     got revert {decode_typed_error(raw) if len(raw) >= 10 else raw!r}\n"
                                     f"(raw {raw})") from None
        else:
            expected_msg = decode_typed_error(self.expected)
            if exc_value.revert_msg != expected_msg:
                raise AssertionError(f"expected revert {expected_msg!r}, got {exc_value.revert_msg!r}") from None
        return True


# ------------------------------------------------------------------ time

def sign_permit(nmr, owner_key: str, spender, value_wei: int, deadline: int, nonce: Optional[int] = None):
    """An EIP-2612 permit of NMR signed with `owner_key`: (v, r, s)."""
    owner = Account.from_key(owner_key).address
    data = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            "Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                       {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                       {"name": "deadline", "type": "uint256"}],
        },
        "primaryType": "Permit",
        "domain": {"name": "Numeraire", "version": "1", "chainId": chain.id, "verifyingContract": nmr.address},
        "message": {"owner": owner, "spender": str(spender), "value": value_wei,
                    "nonce": nmr.nonces(owner) if nonce is None else nonce, "deadline": deadline},
    }
    signed = Account.sign_typed_data(owner_key, full_message=data)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def now() -> int:
    return web3.eth.get_block("latest")["timestamp"]


def travel_to(timestamp: int) -> None:
    """Mine a block at or after `timestamp`, so the next transaction runs at or after it."""
    delta = timestamp - now()
    if delta > 0:
        chain.sleep(delta)
    chain.mine()


# ------------------------------------------------------------------ invariants

class InvariantChecker:
    """Protocol invariants 1-6, replayed from the tournament's and the token's logs.

    The replay is incremental (only new blocks are read on each check) and restarts from the
    deployment whenever the chain was reverted under it, so one checker can follow a whole
    stateful test. `expected_surplus_wei` is NMR sent to the tournament outside its API (a
    donation) and not yet recovered.
    """

    def __init__(self, nmr, tournament, participants: Iterable = ()):
        self.nmr = nmr
        self.tournament = tournament
        self.participants = {str(p) for p in participants}
        self.deploy_block = min(nmr.tx.block_number, tournament.tx.block_number)
        self.expected_surplus_wei = 0
        self._t = web3.eth.contract(address=tournament.address, abi=tournament.abi)
        self._n = web3.eth.contract(address=nmr.address, abi=nmr.abi)
        self._topics = {event_abi_to_log_topic(item): item["name"]
                        for item in tournament.abi if item["type"] == "event"}
        self._transfer_topic = keccak(b"Transfer(address,address,uint256)")
        self._senders: dict[bytes, str] = {}
        self._block_times: dict[int, int] = {}
        self._reset()

    def _reset(self) -> None:
        self.last_block = self.deploy_block - 1
        self.last_hash = None
        self.wallets: dict[str, int] = {}
        self.stakes: dict[tuple[int, int], int] = {}
        self.stake_owner: dict[tuple[int, int], str] = {}
        self.closed: dict[tuple[int, int], str] = {}
        self.rounds: set[int] = set()
        self.proposal_reserve: dict[int, int] = {}
        self.scored_at_risk: dict[int, int] = {}
        self.scored_settled: dict[int, int] = {}
        self.rewards_paid: dict[int, int] = {}
        self.round_burned: dict[int, int] = {}
        self.round_settled_events: dict[int, int] = {}
        self.pool_wei = 0
        self.reserves: dict[int, int] = {}
        self.burned_by_tournament = 0
        self.burned_total = 0
        self.close_snapshots: dict[int, dict[int, int]] = {}
        self.stake_events: list[tuple[int, int, int, int]] = []  # (round, model, block, total)
        self._clips: dict[int, int] = {}

    def _sender(self, tx_hash) -> str:
        key = bytes(tx_hash)
        if key not in self._senders:
            self._senders[key] = web3.eth.get_transaction(tx_hash)["from"]
        return self._senders[key]

    def _block_time(self, number: int) -> int:
        if number not in self._block_times:
            self._block_times[number] = web3.eth.get_block(number)["timestamp"]
        return self._block_times[number]

    def _sync(self) -> None:
        head = web3.eth.get_block("latest")
        if self.last_hash is not None and (
                head["number"] < self.last_block
                or web3.eth.get_block(self.last_block)["hash"] != self.last_hash):
            self._reset()  # the chain was reverted under us: replay from the deployment
            self._block_times.clear()
        self._block_times[head["number"]] = head["timestamp"]
        if head["number"] == self.last_block:
            return
        start = self.last_block + 1
        logs = web3.eth.get_logs({"fromBlock": start, "toBlock": head["number"],
                                  "address": [self.tournament.address, self.nmr.address]})
        for log in logs:
            if log["address"] == self.nmr.address:
                self._token_log(log)
            else:
                self._tournament_log(log)
        self.last_block = head["number"]
        self.last_hash = head["hash"]

    def _token_log(self, log) -> None:
        if bytes(log["topics"][0]) != self._transfer_topic:
            return
        sender = "0x" + bytes(log["topics"][1])[-20:].hex()
        receiver = "0x" + bytes(log["topics"][2])[-20:].hex()
        value = int.from_bytes(bytes(log["data"]), "big")
        if int(sender, 16) == 0:
            assert log["blockNumber"] == self.nmr.tx.block_number and value == TOTAL_SUPPLY_WEI, \
                "invariant 2: NMR was minted after deployment"
        if int(receiver, 16) == 0:
            self.burned_total += value
            if int(sender, 16) == int(self.tournament.address, 16):
                self.burned_by_tournament += value

    def _tournament_log(self, log) -> None:
        name = self._topics.get(bytes(log["topics"][0]))
        if name is None:
            return
        args = getattr(self._t.events, name)().process_log(log)["args"]
        if name == "Deposited":
            assert self._sender(log["transactionHash"]) == args["owner"], "invariant 6: deposit for another"
            self.wallets[args["owner"]] = self.wallets.get(args["owner"], 0) + args["amount"]
        elif name == "Withdrawn":
            assert self._sender(log["transactionHash"]) == args["owner"], "invariant 6: withdraw by another"
            self.wallets[args["owner"]] = self.wallets.get(args["owner"], 0) - args["amount"]
        elif name == "RoundOpened":
            self.rounds.add(args["roundId"])
        elif name == "StakeChanged":
            key = (args["roundId"], args["modelId"])
            owner = args["owner"]
            assert self._sender(log["transactionHash"]) == owner, "invariant 6: stake moved by non-owner"
            delta = args["total"] - self.stakes.get(key, 0)
            self.wallets[owner] = self.wallets.get(owner, 0) - delta
            self.stakes[key] = args["total"]
            self.stake_owner[key] = owner
            self.stake_events.append((key[0], key[1], log["blockNumber"], args["total"]))
        elif name == "RewardsFunded":
            self.pool_wei += args["amount"]
        elif name == "RewardsWithdrawn":
            self.pool_wei -= args["amount"]
        elif name == "ResultsProposed":
            round_id = args["roundId"]
            self.pool_wei -= args["reserve"]
            self.reserves[round_id] = args["reserve"]
            self.proposal_reserve[round_id] = args["reserve"]
            self.scored_at_risk[round_id] = args["scoredAtRisk"]
        elif name == "ResultsVetoed":
            round_id = args["roundId"]
            self.pool_wei += self.reserves.pop(round_id, 0)
            self.proposal_reserve.pop(round_id, None)
            self.scored_at_risk.pop(round_id, None)
        elif name in ("StakeSettled", "StakeRefunded"):
            key = (args["roundId"], args["modelId"])
            assert key not in self.closed, f"invariant 3: stake {key} closed twice ({self.closed[key]}, {name})"
            self.closed[key] = name
            owner = args["owner"]
            assert owner == self.stake_owner.get(key), f"invariant 6: {name} credited a non-owner"
            if name == "StakeSettled":
                stake = args["stake"]
                assert stake == self.stakes[key], "StakeSettled stake differs from the staked amount"
                payout = args["payout"]
                self.wallets[owner] = self.wallets.get(owner, 0) + stake + payout
                round_id = key[0]
                if payout > 0:
                    self.rewards_paid[round_id] = self.rewards_paid.get(round_id, 0) + payout
                    self.reserves[round_id] -= payout
                assert args["burned"] == (-payout if payout < 0 else 0), "StakeSettled burned != -payout"
                bound = stake * self._clip_bps(round_id) // 10_000
                assert abs(payout) <= bound, f"invariant 4: payout {payout} of {key} beyond the clip {bound}"
                self.round_burned[round_id] = self.round_burned.get(round_id, 0) + args["burned"]
                if args["status"] == 1:
                    self.scored_settled[round_id] = self.scored_settled.get(round_id, 0) + stake
                    assert self.scored_settled[round_id] <= self.scored_at_risk[round_id], \
                        f"invariant 4: SCORED stakes settled in round {round_id} exceed its scoredAtRisk"
            else:
                assert args["amount"] == self.stakes[key], "refund differs from the stake"
                self.wallets[owner] = self.wallets.get(owner, 0) + args["amount"]
        elif name == "RoundSettled":
            round_id = args["roundId"]
            assert round_id not in self.round_settled_events, f"round {round_id} settled twice"
            self.round_settled_events[round_id] = 1
            released = self.reserves.pop(round_id, 0)
            assert args["reserveReleased"] == released, "RoundSettled released a different reserve"
            assert args["rewards"] == self.rewards_paid.get(round_id, 0)
            assert args["burned"] == self.round_burned.get(round_id, 0)
            self.pool_wei += released
        elif name == "SurplusRecovered":
            if int(args["token"], 16) == int(self.nmr.address, 16):
                self.expected_surplus_wei -= args["amount"]

    def _batch_call(self, calls: list) -> list:
        """eth_call every prepared web3 function call in one JSON-RPC batch (one round trip)."""
        if not calls:
            return []
        with web3.batch_requests() as batch:
            for call in calls:
                batch.add(call)
            return list(batch.execute())

    def check(self) -> None:
        self._sync()
        head_time = self._block_time(self.last_block)
        f, nf = self._t.functions, self._n.functions
        owners = sorted(set(self.wallets) | self.participants)
        closed = sorted(self.closed)
        rounds = sorted(self.rounds)
        calls = ([f.balanceOf(o) for o in owners] + [f.isStakeClosed(r, m) for r, m in closed]
                 + [f.getRound(r) for r in rounds]
                 + [f.rewardPool(), f.accountedNmr(), nf.balanceOf(self.tournament.address), nf.totalSupply()])
        values = self._batch_call(calls)
        balances, values = values[:len(owners)], values[len(owners):]
        closed_flags, values = values[:len(closed)], values[len(closed):]
        round_states, values = values[:len(rounds)], values[len(rounds):]
        reward_pool, accounted, held, supply = values
        # (6) every wallet equals the replay of its owner's calls and settlement/refund credits
        for owner, balance in zip(owners, balances):
            assert balance == self.wallets.get(owner, 0), f"invariant 6: wallet of {owner}"
        # (3) closed at most once (checked in the replay) and marked on-chain
        assert all(closed_flags), "a settled or refunded stake is not marked closed"
        at_risk_open = 0
        stake_checks = []
        for round_id, r in zip(rounds, round_states):
            close_time, total_at_risk, closed_amount = r[0], r[6], r[14]
            stakes = {m: a for (rid, m), a in self.stakes.items() if rid == round_id and a > 0}
            assert total_at_risk == sum(stakes.values()), f"round {round_id}: totalAtRisk != sum of stakes"
            assert r[2] == len(stakes), f"round {round_id}: stakedCount != staked models"
            closed_here = [k for k in self.closed if k[0] == round_id]
            assert r[3] == len(closed_here) and closed_amount == sum(self.stakes[k] for k in closed_here)
            at_risk_open += total_at_risk - closed_amount
            # (4) rewards within the reserve taken at proposal (each payout within the clip: replay)
            paid = self.rewards_paid.get(round_id, 0)
            assert r[12] == paid and r[13] == self.round_burned.get(round_id, 0)
            if paid:
                assert paid <= self.proposal_reserve[round_id], f"invariant 4: round {round_id} overpaid"
            assert r[11] == self.reserves.get(round_id, 0), f"round {round_id}: reserve"
            # (4, v2) SCORED stakes settled never above the signed scoredAtRisk, itself <= totalAtRisk
            assert r[17] == self.scored_settled.get(round_id, 0), f"round {round_id}: scoredSettled"
            assert r[17] <= r[16] <= total_at_risk, f"invariant 4: round {round_id} scored beyond signed/total"
            if round_id in self.scored_at_risk:
                assert r[16] == self.scored_at_risk[round_id], f"round {round_id}: scoredAtRisk != proposal's"
            # (5) nothing about a stake changes after close
            if head_time >= close_time:
                snapshot = self.close_snapshots.setdefault(round_id, dict(stakes))
                assert snapshot == stakes, f"invariant 5: stakes of closed round {round_id} changed"
                for (rid, _model_id, block, _) in self.stake_events:
                    if rid == round_id:
                        assert self._block_time(block) < close_time, "invariant 5: stake changed after close"
                stake_checks += [(round_id, m, a) for m, a in snapshot.items()]
        positions = self._batch_call([f.getStake(r, m) for r, m, _ in stake_checks])
        for (round_id, model_id, amount), (position, _closed) in zip(stake_checks, positions):
            assert position[0] == amount, f"invariant 5: stake ({round_id}, {model_id}) changed"
        # (1) NMR held == wallets + unsettled stakes + pool + reserves == accountedNmr
        assert reward_pool == self.pool_wei, "reward pool differs from its replay"
        owed = sum(self.wallets.values()) + at_risk_open + self.pool_wei + sum(self.reserves.values())
        assert accounted == owed, "invariant 1: accountedNmr != wallets + stakes + pool + reserves"
        assert held == owed + self.expected_surplus_wei, "invariant 1: NMR held != NMR owed"
        # (2) supply falls by exactly the burns; the tournament burns exactly what it reports
        assert supply == TOTAL_SUPPLY_WEI - self.burned_total, "invariant 2: supply"
        assert self.burned_by_tournament == sum(self.round_burned.values()), "invariant 2: burns"

    def _clip_bps(self, round_id: int) -> int:
        if round_id not in self._clips:
            self._clips[round_id] = self._t.functions.getRound(round_id).call()[15][4]
        return self._clips[round_id]


def check_payout_bounds(tx, tournament) -> None:
    """Invariant 4 per stake: |payout| <= stake * clipBps / 10_000 for every StakeSettled in `tx`."""
    clips = {}
    for event in tx.events["StakeSettled"] if "StakeSettled" in tx.events else []:
        round_id = event["roundId"]
        if round_id not in clips:
            clips[round_id] = tournament.getRound(round_id)[15][4]
        bound = event["stake"] * clips[round_id] // 10_000
        assert abs(event["payout"]) <= bound, f"invariant 4: payout {event['payout']} beyond clip {bound}"
        assert event["burned"] <= bound


class Harness:
    """Drives the shared deployment through whole rounds with the oracle's own code."""

    def __init__(self, tournament, nmr, operator, guardian, admin, keeper):
        self.t = tournament
        self.nmr = nmr
        self.operator = operator
        self.guardian = guardian
        self.admin = admin
        self.keeper = keeper
        self.next_round = 100

    @property
    def domain(self) -> Domain:
        return Domain(chain_id=chain.id, verifying_contract=self.t.address)

    # rounds and stakes
    def open_round(self, round_id: Optional[int] = None, close_in: int = 7 * DAY,
                   resolve_after_close: Optional[int] = None) -> int:
        """Opens the next round (v2: the first may take any id, every later one is last + 1)."""
        if round_id is None:
            last = self.t.lastRoundId()
            round_id = last + 1 if last else self.next_round
        self.next_round = round_id + 1
        close_time = now() + close_in
        delay = self.t.config()[8] if resolve_after_close is None else resolve_after_close
        self.t.openRound(round_id, close_time, close_time + delay, live_ids_hash(round_id), {"from": self.operator})
        return round_id

    def create_model(self, owner, name: str = "model") -> int:
        return self.t.createModel(name, {"from": owner}).return_value

    def deposit_and_stake(self, owner, round_id: int, model_id: int, amount_wei: int,
                          corr_mult: int = 100, mmc_mult: int = 0, label: str = "x"):
        self.t.deposit(amount_wei, {"from": owner})
        return self.t.stake(round_id, model_id, amount_wei, corr_mult, mmc_mult, submission_hash(label),
                            {"from": owner})

    def round(self, round_id: int) -> dict:
        r = self.t.getRound(round_id)
        assert len(r) == len(ROUND_FIELDS)
        return dict(zip(ROUND_FIELDS, r))

    def to_close(self, round_id: int) -> None:
        travel_to(self.round(round_id)["closeTime"])

    def to_resolve(self, round_id: int) -> None:
        travel_to(self.round(round_id)["resolveTime"])

    def to_accepted(self, round_id: int) -> None:
        """challengeEnd is tournament time: wall = challengeEnd + paused seconds (not paused now)."""
        assert not self.t.paused(), "the challenge window stands still while paused"
        travel_to(now() + max(0, self.round(round_id)["challengeEnd"] - self.t.tournamentTime()))

    def scored_at_risk(self, round_id: int, leaves) -> int:
        """The stakes at close of the SCORED leaves (what the oracle signs as scoredAtRisk)."""
        scored = [leaf.model_id for leaf in leaves if leaf.status == 1]
        if not scored:
            return 0
        positions, _closed = self.t.getStakes(round_id, scored)
        return sum(p[0] for p in positions)

    # results
    def leaves(self, round_id: int, scores: dict[int, Any]) -> list[Leaf]:
        """Leaves for `scores` {modelId: (corr, mmc) or None (INVALID)}; every key must be staked."""
        return build_leaves(round_id, list(scores), scores)

    def results(self, round_id: int, tree: ResultsTree, attempt: Optional[int] = None,
                version: Optional[int] = None, leaf_count: Optional[int] = None,
                artifacts_hash: bytes = ARTIFACTS_HASH, scored_at_risk: Optional[int] = None) -> Results:
        return Results(round_id=round_id,
                       attempt=self.round(round_id)["attempt"] if attempt is None else attempt,
                       results_root=tree.root,
                       leaf_count=tree.leaf_count if leaf_count is None else leaf_count,
                       scored_at_risk=(self.scored_at_risk(round_id, tree.leaves) if scored_at_risk is None
                                       else scored_at_risk),
                       artifacts_hash=artifacts_hash,
                       signer_set_version=self.t.signerSetVersion() if version is None else version)

    @staticmethod
    def results_tuple(results: Results) -> tuple:
        return results.as_tuple()

    def sign(self, results: Results, keys=None, domain: Optional[Domain] = None) -> list[bytes]:
        return sign_results(domain or self.domain, results, keys if keys is not None else SIGNER_KEYS[:2])

    def propose(self, round_id: int, scores_or_tree, keys=None, sender=None, **results_overrides):
        """Build the tree (unless given), sign with the first two signers, propose; returns (tx, tree)."""
        tree = scores_or_tree if isinstance(scores_or_tree, ResultsTree) else ResultsTree(
            self.leaves(round_id, scores_or_tree), round_id)
        results = self.results(round_id, tree, **results_overrides)
        tx = self.t.proposeResults(self.results_tuple(results), self.sign(results, keys),
                                   {"from": sender or self.operator})
        return tx, tree

    def settle(self, round_id: int, tree: ResultsTree, leaves=None, batch_size: int = 200, sender=None):
        txs = []
        for batch in tree.batches(leaves, batch_size):
            txs.append(self.settle_batch(round_id, batch, sender))
        return txs

    def settle_batch(self, round_id: int, batch, sender=None):
        tx = self.t.settle(round_id, batch.leaf_values(), batch.proof_hex(), batch.proof_flags,
                           {"from": sender or self.keeper})
        check_payout_bounds(tx, self.t)
        return tx

    def staked_round(self, stakes: list[tuple], round_id: Optional[int] = None) -> tuple[int, list[int]]:
        """Open a round and stake [(owner, amount_wei, corr_mult, mmc_mult)...], one new model each."""
        round_id = self.open_round(round_id)
        models = []
        for i, (owner, amount, corr_mult, mmc_mult) in enumerate(stakes):
            model_id = self.create_model(owner, f"m{round_id}-{i}")
            self.deposit_and_stake(owner, round_id, model_id, amount, corr_mult, mmc_mult, f"{round_id}-{i}")
            models.append(model_id)
        return round_id, models



def load_payout_vectors() -> list[dict]:
    return json.loads(VECTORS_PATH.read_text())


def soak_steps(default: int) -> int:
    return int(os.environ.get("SOAK_STEPS", default))
