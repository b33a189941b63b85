"""Round building for the role-command tests: the ONE place that knows the contract's round ABI.

Protocol v2: `openRound` takes liveIdsHash and the signed `Results` struct carries
scoredAtRisk; `open_round` and `propose` are the two functions that know it; everything else
in tests/roles goes through them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from eth_account import Account
from eth_hash.auto import keccak

from tests.worlds import create_model, fund_participant
from tournament.chain.client import Transactor
from tournament.chain.devchain import chain_now, increase_time
from tournament.protocol import payout as payout_math
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.results import SCORED, Leaf, ResultsTree, leaves_to_json
from tournament.protocol.signing import Results, domain_from_eip712_domain_call, sign_results

DAY = 86_400
LIVE_IDS = ["id-a", "id-b", "id-c"]
PHASES = ["None", "Open", "Closed", "Resolvable", "Proposed", "Accepted", "Refunding", "Settled"]


@dataclass
class Stake:
    owner: object  # LocalAccount
    model_id: int
    stake_wei: int
    corr_mult: int


@dataclass
class BuiltRound:
    round_id: int
    stakes: list[Stake]
    leaves: list[Leaf] = field(default_factory=list)
    tree: Optional[ResultsTree] = None

    def credits(self, world) -> dict[int, int]:
        """What settlement credits each model, from the protocol's payout mirror."""
        info = world.tournament.functions.getRound(self.round_id).call()
        pf, clip = int(info[10]), int(info[15][4])
        by_model = {leaf.model_id: leaf for leaf in self.leaves}
        out = {}
        for s in self.stakes:
            leaf = by_model[s.model_id]
            credit, _burn, _reward = payout_math.settle_amounts(s.stake_wei, leaf.status, leaf.corr_nanos,
                                                                leaf.mmc_nanos, s.corr_mult, 0, pf, clip)
            out[s.model_id] = credit
        return out


def tx(world, account) -> Transactor:
    return Transactor(world.w3, account, receipt_timeout_s=30, poll_s=0.01)


def make_owners(world, count: int, deposit_wei: int = 10_000 * NMR) -> list:
    """Participants with ether, a deposit in their tournament wallet and one model each (tests/worlds.py)."""
    owners = []
    admin = tx(world, world.admin)
    for i in range(count):
        account = Account.from_key(keccak(f"roles-test-owner-{i}".encode()))
        sender = fund_participant(world, account, deposit_wei, admin=admin)
        model_id = create_model(world, sender, f"roles-{i}")
        owners.append((account, model_id))
    return owners


def next_round_id(world) -> int:
    """1 + the highest round opened so far (v2 requires lastRoundId + 1)."""
    opened = world.tournament.events.RoundOpened().get_logs(from_block=0)
    return 1 + max([int(e["args"]["roundId"]) for e in opened], default=0)


LIVE_IDS_CSV = b"id\na\nb\n"   # the role tests publish no live ids; the hash only has to be fixed


def open_round(world, round_id: int, close_time: int, resolve_time: int) -> None:
    """openRound by the operator, with keccak256(live_ids.csv) as liveIdsHash (v2)."""
    tx(world, world.operator).transact(
        world.tournament.functions.openRound(round_id, close_time, resolve_time, keccak(LIVE_IDS_CSV)),
        f"opening round {round_id}")


def propose(world, built: BuiltRound, artifacts_hash: bytes = b"\x11" * 32) -> None:
    """Signs the round's leaves 2-of-3 and proposes them (v2 Results: scoredAtRisk = the SCORED leaves' stakes)."""
    t = world.tournament
    info = t.functions.getRound(built.round_id).call()
    attempt = int(info[4])
    _signers, _threshold, version = t.functions.signerSet().call()
    domain = domain_from_eip712_domain_call(t.functions.eip712Domain().call())
    tree = built.tree
    stake_by_model = {s.model_id: s.stake_wei for s in built.stakes}
    scored_at_risk = sum(stake_by_model[leaf.model_id] for leaf in built.leaves if leaf.status == SCORED)
    results = Results(built.round_id, attempt, tree.root, tree.leaf_count, scored_at_risk, artifacts_hash, version)
    signatures = sign_results(domain, results, [bytes(k.key) for k in world.signer_keys[:2]])
    tx(world, world.operator).transact(t.functions.proposeResults(results.as_tuple(), signatures),
                                       f"proposing round {built.round_id}")


def build_round(world, owners, *, until: str, artifacts_dir: Optional[Path] = None,
                invalid: tuple[int, ...] = (), leave_out: tuple[int, ...] = ()) -> BuiltRound:
    """A round staked by `owners` and driven to phase `until` (Open, Resolvable, Proposed, Accepted,
    Refunding). Leaves: SCORED with small scores, INVALID for the owner indices in `invalid`;
    owners in `leave_out` are staked but missing from the leaves (a wrong tree: a leaf count
    that differs is refused by the contract, so leave_out is for artifacts checks only).
    With `artifacts_dir`, leaves.json is written to `<dir>/<round>/leaves.json`."""
    round_id = next_round_id(world)
    now = chain_now(world.w3)
    close_time, resolve_time = now + DAY, now + 2 * DAY
    open_round(world, round_id, close_time, resolve_time)
    stakes = []
    for n, (owner, model_id) in enumerate(owners):
        stake = Stake(owner, model_id, (100 + 10 * n) * NMR, [50, 200, 300, 100][n % 4])
        tx(world, owner).transact(world.tournament.functions.stake(
            round_id, model_id, stake.stake_wei, stake.corr_mult, 0, keccak(f"file-{round_id}-{n}".encode())), "stake")
        stakes.append(stake)
    built = BuiltRound(round_id, stakes)
    for n, s in enumerate(stakes):
        if n in invalid:
            built.leaves.append(Leaf.invalid(round_id, s.model_id))
        else:
            built.leaves.append(Leaf.scored(round_id, s.model_id, [25_000_000, -10_000_000, 40_000_000][n % 3], 0))
    built.tree = ResultsTree(built.leaves, round_id)
    if artifacts_dir is not None:
        published = [leaf for n, leaf in enumerate(built.leaves) if n not in leave_out]
        folder = artifacts_dir / str(round_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "leaves.json").write_bytes(leaves_to_json(published))
    if until == "Open":
        return built
    increase_time(world.w3, resolve_time - chain_now(world.w3) + 1)
    if until == "Resolvable":
        return built
    if until == "Refunding":
        increase_time(world.w3, 14 * DAY + 1)
        return built
    propose(world, built)
    if until == "Proposed":
        return built
    increase_time(world.w3, DAY + 1)
    assert until == "Accepted", until
    return built


def phase(world, round_id: int) -> str:
    return PHASES[world.tournament.functions.phase(round_id).call()]
