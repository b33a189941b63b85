"""Gas benchmark: every external call, settlement per stake by batch and round size, references.

Runs on its own anvil with a realistic 36M-gas block and the deployment's optimizer settings
(brownie-config.yaml), deploys the tests' world (tests/worlds.py, over tournament.chain.deploy), and reads
`gasUsed` from receipts. Side by side in the same run: a plain ERC-20 push loop and a
Merkle-distributor claim (contracts/bench/ReferencePayouts.sol), so comparisons are ratios.
`run(quick)` returns a markdown section and the raw figures.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from eth_account import Account
from web3 import Web3

from tests.worlds import DeployedWorld, deploy_world, open_round
from tournament.chain import reader as chain_reader
from tournament.chain.client import Transactor, deploy_contract
from tournament.chain.devchain import REALISTIC_BLOCK_GAS, Anvil, fund_eth, increase_time
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.merkle import StandardMerkleTree
from tournament.protocol.results import SCORED, Leaf, ResultsTree
from tournament.protocol.signing import Results, domain_from_eip712_domain_call, sign_results

log = logging.getLogger(__name__)
DAY = 86_400


class FastSender:
    """Bench-only set-up sender: anvil signs for the address (auto-impersonation), so thousands
    of owners need no local signing; with `bulk(w3)` the transactions of a phase are mined
    together. Measured calls never go through it: they use the Transactor and read receipts."""

    def __init__(self, w3: Web3, account, gas: int = 1_000_000):
        self.w3, self.address, self.gas = w3, account.address, gas
        self.model_id = 0
        self.last = None

    def send(self, fn, gas: int | None = None) -> str:
        tx = {"from": self.address, "to": fn.address, "data": fn._encode_transaction_data(),
              "gas": hex(gas or self.gas), "maxFeePerGas": hex(10**9), "maxPriorityFeePerGas": "0x1"}
        answer = self.w3.provider.make_request("eth_sendTransaction", [tx])
        if "error" in answer:
            raise RuntimeError(f"bench set-up transaction refused: {answer['error']}")
        self.last = answer["result"]
        return self.last

    def wait(self) -> dict | None:
        if self.last is None:
            return None
        receipt = self.w3.eth.wait_for_transaction_receipt(self.last, timeout=600, poll_latency=0.01)
        assert receipt["status"] == 1, "bench set-up transaction reverted"
        return receipt


def _mine_pending(w3: Web3) -> None:
    """Mines blocks until the pool is empty (a 36M block holds a few hundred set-up txs)."""
    while True:
        w3.provider.make_request("evm_mine", [])
        status = w3.provider.make_request("txpool_status", [])["result"]
        if int(status["pending"], 16) == 0 and int(status["queued"], 16) == 0:
            return


class bulk:
    """Context: auto-impersonation on, automine off; `phase()` mines what was sent so far."""

    def __init__(self, w3: Web3):
        self.w3 = w3

    def __enter__(self) -> bulk:
        self.w3.provider.make_request("anvil_autoImpersonateAccount", [True])
        self.w3.provider.make_request("evm_setAutomine", [False])
        return self

    def phase(self) -> None:
        _mine_pending(self.w3)

    def __exit__(self, *exc) -> None:
        _mine_pending(self.w3)
        self.w3.provider.make_request("evm_setAutomine", [True])
        self.w3.provider.make_request("anvil_autoImpersonateAccount", [False])


@dataclass
class World:
    w3: Web3
    keys: list
    tournament: object
    nmr: object
    admin: Transactor
    operator: Transactor
    guardian: Transactor
    signer_keys: list
    deployed: DeployedWorld     # the shared world (tests/worlds.py) this view is built on


# keccak256 of a live_ids.csv: openRound's liveIdsHash (v2); the gas does not depend on the ids.
LIVE_IDS_HASH = Web3.keccak(b"id\nn0001\nn0002\n")


def forget_opened_rounds() -> None:
    """The chain reader remembers RoundOpened blocks per (chain id, address, round) for the process,
    which is right on a real chain; each benchmark starts a fresh anvil that reuses the chain id and
    the deployment addresses, so what an earlier anvil opened must be forgotten."""
    chain_reader._OPENED_BLOCKS.clear()


def _world(node: Anvil, signer_count: int = 3, threshold: int = 2) -> World:
    """The tests' world (tests/worlds.py `deploy_world`: admin 0, operator 1, guardian 2, signers 7-9
    at 2-of-3) with a 1M NMR reward pool; `signer_count` other than 3 uses that many derived signers."""
    forget_opened_rounds()
    signers = None if signer_count == 3 else [
        Account.from_key(Web3.keccak(text=f"bench signer {i}")) for i in range(signer_count)]
    deployed = deploy_world(node.rpc_url, signers=signers, threshold=threshold,
                            reward_pool_wei=1_000_000 * NMR, rpc_timeout_s=120)
    w3, keys = deployed.w3, deployed.keys
    return World(w3, keys, deployed.tournament, deployed.nmr, Transactor(w3, keys[0]), Transactor(w3, keys[1]),
                 Transactor(w3, keys[2]), [k.key for k in deployed.signer_keys], deployed)


def _gas(receipt) -> int:
    return int(receipt["gasUsed"])


def _participants(world: World, count: int, seed: int, deposit_wei: int) -> list:
    """`count` fresh owners with ETH, NMR in their wallet and one model each (fast path).

    Returns one FastSender per owner with its `model_id`; checked against the chain at the end.
    """
    rng = random.Random(seed)
    owners = [Account.from_key(rng.getrandbits(256).to_bytes(32, "big")) for _ in range(count)]
    t = world.tournament
    first_block = world.w3.eth.block_number + 1
    admin = FastSender(world.w3, world.keys[0], gas=100_000)
    senders = [FastSender(world.w3, owner, gas=200_000) for owner in owners]
    with bulk(world.w3) as b:
        for owner in owners:
            fund_eth(world.w3, owner.address)
            admin.send(world.nmr.functions.transfer(owner.address, deposit_wei))
        b.phase()
        for sender in senders:
            sender.send(world.nmr.functions.approve(t.address, 2**256 - 1))
        b.phase()
        for sender in senders:
            sender.send(t.functions.deposit(deposit_wei))
        b.phase()
        for sender in senders:
            sender.send(t.functions.createModel(f"m-{sender.address[2:10]}"))
    by_owner = {e["args"]["owner"]: e["args"]["modelId"]
                for e in t.events.ModelCreated().get_logs(from_block=first_block)}
    for sender in senders:
        sender.model_id = by_owner[sender.address]
        assert t.functions.balanceOf(sender.address).call() == deposit_wei, "bench set-up: deposit missing"
    return senders


def _open_round(world: World, round_id: int) -> None:
    open_round(world.deployed, round_id, LIVE_IDS_HASH, 7 * DAY, 35 * DAY, operator=world.operator)


def _stake_all(world: World, senders: list, round_id: int, amount_wei: int) -> None:
    with bulk(world.w3):
        for i, sender in enumerate(senders):
            sender.send(world.tournament.functions.stake(round_id, sender.model_id, amount_wei, 200, 0,
                                                         Web3.keccak(text=f"file {i}")), gas=200_000)
    staked = world.tournament.functions.getRound(round_id).call()[2]
    assert staked == len(senders), f"bench set-up: {staked} of {len(senders)} stakes landed"


def _leaves(round_id: int, model_ids: list[int], seed: int) -> list[Leaf]:
    rng = random.Random(seed)
    out = []
    for model_id in model_ids:
        if rng.random() < 0.1:
            out.append(Leaf.invalid(round_id, model_id))
        else:
            out.append(Leaf.scored(round_id, model_id, rng.randint(-60_000_000, 60_000_000), 0))
    return out


def _propose(world: World, round_id: int, tree: ResultsTree) -> dict:
    t = world.tournament
    resolve_time = t.functions.getRound(round_id).call()[1]
    now = world.w3.eth.get_block("latest")["timestamp"]
    if now < resolve_time:
        increase_time(world.w3, resolve_time - now + 1)
    domain = domain_from_eip712_domain_call(t.functions.eip712Domain().call())
    scored = [m for m, leaf in sorted(tree._by_model.items()) if leaf.status == SCORED]
    scored_at_risk = 0
    for start in range(0, len(scored), 500):   # v2: the stake at close of the SCORED leaves
        positions, _closed = t.functions.getStakes(round_id, scored[start:start + 500]).call()
        scored_at_risk += sum(int(p[0]) for p in positions)
    results = Results(round_id=round_id, attempt=t.functions.getRound(round_id).call()[4],
                      results_root=tree.root, leaf_count=tree.leaf_count, scored_at_risk=scored_at_risk,
                      artifacts_hash=Web3.keccak(text=f"artifacts {round_id}"),
                      signer_set_version=t.functions.signerSetVersion().call())
    threshold = t.functions.signerSet().call()[1]
    signatures = sign_results(domain, results, world.signer_keys)[:threshold]
    return world.operator.transact(t.functions.proposeResults(
        (results.round_id, results.attempt, results.results_root, results.leaf_count, results.scored_at_risk,
         results.artifacts_hash, results.signer_set_version), signatures), "propose")


def _settle_batches(world: World, round_id: int, tree: ResultsTree, batch_size: int) -> list[tuple[int, int]]:
    """Settles the whole round in batches; returns (stakes, gasUsed) per transaction."""
    keeper = Transactor(world.w3, world.keys[3])
    out = []
    for batch in tree.batches(batch_size=batch_size):
        receipt = keeper.transact(world.tournament.functions.settle(
            round_id, batch.leaf_values(), batch.proof, batch.proof_flags), f"settle {len(batch.leaves)}",
            gas=REALISTIC_BLOCK_GAS - 1_000_000)
        out.append((len(batch.leaves), _gas(receipt)))
    return out


def _round_with_stakes(world: World, round_id: int, n: int, seed: int):
    senders = _participants(world, n, seed, 100 * NMR)
    _open_round(world, round_id)
    _stake_all(world, senders, round_id, 10 * NMR)
    model_ids = sorted(sender.model_id for sender in senders)
    tree = ResultsTree(_leaves(round_id, model_ids, seed), round_id)
    return senders, model_ids, tree


def measure_calls(node: Anvil) -> dict:
    """Gas of each external call, measured one by one."""
    world = _world(node)
    t, w3 = world.tournament, world.w3
    out: dict[str, int] = {}
    alice, bob = world.keys[4], world.keys[5]
    admin = world.admin
    for who in (alice, bob):
        admin.transact(world.nmr.functions.transfer(who.address, 1_000 * NMR), "fund")
    a, b = Transactor(w3, alice), Transactor(w3, bob)
    a.transact(world.nmr.functions.approve(t.address, 2**256 - 1), "approve")
    out["deposit (first)"] = _gas(a.transact(t.functions.deposit(100 * NMR), "deposit"))
    out["deposit (again)"] = _gas(a.transact(t.functions.deposit(100 * NMR), "deposit"))
    # permit deposit
    from tournament.protocol.signing import sign_permit
    deadline = w3.eth.get_block("latest")["timestamp"] + 3600
    v, r, s_ = sign_permit(bob, token=world.nmr.address, chain_id=w3.eth.chain_id, spender=t.address,
                           value=100 * NMR, nonce=world.nmr.functions.nonces(bob.address).call(), deadline=deadline)
    out["depositWithPermit"] = _gas(b.transact(t.functions.depositWithPermit(100 * NMR, deadline, v, r, s_), "permit"))
    out["withdraw"] = _gas(a.transact(t.functions.withdraw(10 * NMR), "withdraw"))
    out["createModel (first)"] = _gas(a.transact(t.functions.createModel("alice-1"), "model"))
    out["createModel (second)"] = _gas(a.transact(t.functions.createModel("alice-2"), "model"))
    b.transact(t.functions.createModel("bob-1"), "model")
    admin.transact(world.nmr.functions.approve(t.address, 2**256 - 1), "approve")
    out["fundRewards"] = _gas(admin.transact(t.functions.fundRewards(1_000 * NMR), "fund"))
    now = w3.eth.get_block("latest")["timestamp"]
    out["openRound"] = _gas(world.operator.transact(t.functions.openRound(1, now + 7 * DAY, now + 35 * DAY, LIVE_IDS_HASH), "open"))
    h = Web3.keccak(text="predictions")
    out["stake (first in round)"] = _gas(a.transact(t.functions.stake(1, 1, 10 * NMR, 200, 0, h), "stake"))
    out["stake (second model, same owner)"] = _gas(a.transact(t.functions.stake(1, 2, 10 * NMR, 100, 0, h), "stake"))
    out["stake (top-up)"] = _gas(a.transact(t.functions.stake(1, 1, 5 * NMR, 250, 0, h), "stake"))
    out["stake (first, another owner)"] = _gas(b.transact(t.functions.stake(1, 3, 20 * NMR, 300, 0, h), "stake"))
    out["unstake (partial)"] = _gas(a.transact(t.functions.unstake(1, 1, 5 * NMR), "unstake"))
    out["unstake (all)"] = _gas(a.transact(t.functions.unstake(1, 2, 10 * NMR), "unstake"))
    tree = ResultsTree([Leaf.scored(1, 1, 25_000_000, 0), Leaf.scored(1, 3, -10_000_000, 0)], 1)
    out["proposeResults (2-of-3)"] = _gas(_propose(world, 1, tree))
    out["veto"] = _gas(world.guardian.transact(t.functions.veto(1, "bench"), "veto"))
    out["proposeResults (2-of-3, after veto)"] = _gas(_propose(world, 1, tree))
    out["pause"] = _gas(world.guardian.transact(t.functions.pause(), "pause"))
    out["unpause"] = _gas(admin.transact(t.functions.unpause(), "unpause"))
    # refund path: a round that nobody resolves
    now = w3.eth.get_block("latest")["timestamp"]
    world.operator.transact(t.functions.openRound(2, now + 7 * DAY, now + 35 * DAY, LIVE_IDS_HASH), "open")
    a.transact(t.functions.stake(2, 1, 10 * NMR, 200, 0, h), "stake")
    increase_time(w3, 35 * DAY + 14 * DAY + 1)
    out["refund (1 stake)"] = _gas(Transactor(w3, world.keys[3]).transact(t.functions.refund(2, [1]), "refund"))
    # 5-of-9 proposal on its own deployment
    world9 = _world(node, signer_count=9, threshold=5)
    senders = _participants(world9, 3, 99, 100 * NMR)
    _open_round(world9, 1)
    _stake_all(world9, senders, 1, 10 * NMR)
    tree9 = ResultsTree(_leaves(1, [s.model_id for s in senders], 5), 1)
    out["proposeResults (5-of-9)"] = _gas(_propose(world9, 1, tree9))
    return out


def measure_batches(node: Anvil, n: int, batch_sizes: list[int]) -> dict:
    """Gas per settled stake for each batch size, on rounds of `n` distinct owners."""
    out = {}
    for k, batch_size in enumerate(batch_sizes):
        world = _world(node)
        _, _, tree = _round_with_stakes(world, 1, n, seed=k)
        _propose(world, 1, tree)
        increase_time(world.w3, DAY + 1)
        txs = _settle_batches(world, 1, tree, batch_size)
        full = [(s, g) for s, g in txs if s == batch_size] or txs
        out[batch_size] = {"per_stake": sum(g for _, g in full) / sum(s for s, _ in full),
                           "per_tx": max(g for _, g in txs), "transactions": len(txs)}
    return out


def measure_round(node: Anvil, n: int, batch_size: int) -> dict:
    """A whole round of `n` stakes settled in batches of `batch_size`; gas and wall time."""
    world = _world(node)
    t0 = time.perf_counter()
    _, _, tree = _round_with_stakes(world, 1, n, seed=n)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    propose_gas = _gas(_propose(world, 1, tree))
    propose_s = time.perf_counter() - t0
    increase_time(world.w3, DAY + 1)
    t0 = time.perf_counter()
    txs = _settle_batches(world, 1, tree, batch_size)
    settle_s = time.perf_counter() - t0
    phase = world.tournament.functions.phase(1).call()
    assert phase == 7, f"round not settled after all batches (phase {phase})"
    total = sum(g for _, g in txs)
    return {"stakes": n, "propose_gas": propose_gas, "settle_gas_total": total, "per_stake": total / n,
            "transactions": len(txs), "max_tx_gas": max(g for _, g in txs), "setup_s": setup_s,
            "propose_s": propose_s, "settle_s": settle_s}


def measure_references(node: Anvil, n: int) -> dict:
    world = _world(node)
    recipients = [Account.from_key(Web3.keccak(text=f"ref {i}")).address for i in range(n)]
    amounts = [10**18 + i for i in range(n)]
    tree = StandardMerkleTree.of([(i, r, a) for i, (r, a) in enumerate(zip(recipients, amounts))],
                                 ["uint256", "address", "uint256"])
    ref = deploy_contract(world.admin, "ReferencePayouts", world.nmr.address, tree.root)
    world.admin.transact(world.nmr.functions.transfer(ref.address, 2 * sum(amounts)), "fund reference")
    push = world.admin.transact(ref.functions.push(recipients, amounts), "push", gas=REALISTIC_BLOCK_GAS - 1_000_000)
    claims = []
    keeper = Transactor(world.w3, world.keys[3])
    for i in range(min(n, 50 if n >= 50 else n)):
        proof = tree.get_proof(i)
        claims.append(_gas(keeper.transact(ref.functions.claim(i, recipients[i], amounts[i], proof), "claim")))
    return {"push_per_recipient": _gas(push) / n, "claim_mean": sum(claims) / len(claims), "claims": len(claims),
            "claim_min": min(claims), "claim_max": max(claims)}


def run(quick: bool = False) -> tuple[str, dict]:
    batch_sizes = [1, 10, 40] if quick else [1, 10, 100, 500]
    round_sizes = [40] if quick else [100, 1_000, 10_000]
    batch_n = 40 if quick else 500
    figures: dict = {}
    with Anvil(gas_limit=REALISTIC_BLOCK_GAS, accounts=10) as node:
        figures["calls"] = measure_calls(node)
        figures["batches"] = measure_batches(node, batch_n, batch_sizes)
        # Largest batch that fits a 36M block with a 10% margin, from the measured worst tx.
        best = figures["batches"][max(batch_sizes)]
        per_stake = best["per_stake"]
        fit = int((REALISTIC_BLOCK_GAS * 0.9 - 60_000) // (per_stake * 1.05))
        settle_batch = max(1, min(fit, 1_500))
        figures["settle_batch"] = settle_batch
        figures["rounds"] = [measure_round(node, n, settle_batch) for n in round_sizes]
        figures["references"] = measure_references(node, 40 if quick else 500)
    return _markdown(figures, quick), figures


def _markdown(f: dict, quick: bool) -> str:
    calls = f["calls"]
    lines = ["## Gas (anvil, 36M-gas blocks, optimizer on, 200 runs)", "",
             "| call | gas | target |", "|---|---:|---|"]
    targets = {"stake (first in round)": 80_000, "stake (first, another owner)": 80_000,
               "proposeResults (2-of-3)": 150_000, "proposeResults (5-of-9)": 150_000}
    for name, gas in calls.items():
        target = targets.get(name)
        verdict = "" if target is None else f"< {target:,}: {'met' if gas < target else 'MISSED'}"
        lines.append(f"| {name} | {gas:,} | {verdict} |")
    lines += ["", "Settlement gas per stake by batch size (distinct owners, 10% INVALID, events included):", "",
              "| batch size | gas per stake | gas of one tx | transactions |", "|---:|---:|---:|---:|"]
    for size, row in f["batches"].items():
        lines.append(f"| {size} | {row['per_stake']:,.0f} | {row['per_tx']:,} | {row['transactions']} |")
    lines += ["", f"Whole rounds, settled in batches of {f['settle_batch']} (sized from the measured gas "
              "per stake to fit a 36M block with a 10% margin):", "",
              "| staked models | propose gas | settle gas total | per stake | settle txs | largest tx | "
              "propose s | settle s |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in f["rounds"]:
        lines.append(f"| {r['stakes']:,} | {r['propose_gas']:,} | {r['settle_gas_total']:,} | "
                     f"{r['per_stake']:,.0f} | {r['transactions']} | {r['max_tx_gas']:,} | "
                     f"{r['propose_s']:.2f} | {r['settle_s']:.2f} |")
    ref = f["references"]
    per_stake = f["rounds"][-1]["per_stake"]
    lines += ["", "Reference patterns, same run, same token:", "",
              "| pattern | gas per recipient | our settlement / pattern |", "|---|---:|---:|",
              f"| plain ERC-20 push loop (no proof, no event) | {ref['push_per_recipient']:,.0f} | "
              f"{per_stake / ref['push_per_recipient']:.2f} |",
              f"| Merkle-distributor claim (mean of {ref['claims']}; min {ref['claim_min']:,}, max {ref['claim_max']:,}) | "
              f"{ref['claim_mean']:,.0f} | {per_stake / ref['claim_mean']:.2f} |",
              "", f"Target: settlement <= 20,000 gas per stake amortised: "
              f"{'met' if per_stake <= 20_000 else 'MISSED'} ({per_stake:,.0f})."]
    if quick:
        lines.insert(1, "_quick mode: small sizes only_")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys
    logging.basicConfig(level=logging.WARNING)
    section, _ = run(quick="--quick" in sys.argv)
    print(section)
