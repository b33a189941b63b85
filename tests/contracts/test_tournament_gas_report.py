"""Gas of the main paths against a committed snapshot (tests/contracts/gas_snapshot.json): first
stake and top-up, unstake, proposeResults (2 of 3 signatures), settlement of one stake and of a
large batch (per stake). Gas is deterministic for the same calls, so this is an assertion, not a
timing: any figure more than 2% above its snapshot fails, and the protocol's limits (stake <
80,000; proposeResults < 150,000; settlement per stake in a batch <= 20,915) are asserted too.
After an intended change, rewrite the snapshot with GAS_SNAPSHOT_UPDATE=1 and commit it. The many stakes of the large round are set up with plain web3 transactions (no brownie
bookkeeping) so the test stays fast; the settlement itself goes through brownie so `--gas` sees it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from brownie import web3
from tournament_testlib import NMR_WEI, submission_hash

LARGE_BATCH = int(os.environ.get("GAS_BATCH_STAKES", 150))
SNAPSHOT = Path(__file__).with_name("gas_snapshot.json")
TOLERANCE = 0.02  # a regression of more than 2% on any main call fails
LIMITS = {"stake (first, new model)": 80_000, "proposeResults (2 of 3 signatures)": 150_000,
          f"settle per stake in a batch of {LARGE_BATCH}": 20_915}


def _raw(tournament):
    return web3.eth.contract(address=tournament.address, abi=tournament.abi)


def _mined(tx_hashes) -> None:
    """Waits for every set-up transaction: a stake sent before its model's creation is mined
    would revert and leave the round one stake short (seen once under load)."""
    for tx_hash in tx_hashes:
        receipt = web3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        assert receipt["status"] == 1, f"set-up transaction {tx_hash.hex()} reverted"


def test_gas_report(tournament, h, alice, bob, carol, dave, capsys):
    figures = {}
    round_id = h.open_round()
    model = h.create_model(alice)
    tournament.deposit(100 * NMR_WEI, {"from": alice})
    first = tournament.stake(round_id, model, 10 * NMR_WEI, 200, 0, submission_hash("a"), {"from": alice})
    top_up = tournament.stake(round_id, model, 5 * NMR_WEI, 100, 0, submission_hash("b"), {"from": alice})
    unstake = tournament.unstake(round_id, model, 5 * NMR_WEI, {"from": alice})
    figures["stake (first, new model)"] = first.gas_used
    figures["stake (top-up)"] = top_up.gas_used
    figures["unstake (partial)"] = unstake.gas_used

    # a round with many stakes, one model each, spread over four owners
    raw = _raw(tournament)
    owners = [alice, bob, carol, dave]
    for owner in owners[1:]:
        tournament.deposit(100 * NMR_WEI, {"from": owner})
    models = []
    start_id = tournament.lastModelId()
    sent = []
    for i in range(LARGE_BATCH):
        owner = str(owners[i % 4])
        sent.append(raw.functions.createModel(f"g{i}").transact({"from": owner, "gas": 200_000}))
        models.append(start_id + i + 1)
    _mined(sent)
    sent = []
    for i, model_id in enumerate(models):
        owner = str(owners[i % 4])
        sent.append(raw.functions.stake(round_id, model_id, NMR_WEI // 10, 100 + i % 200, 0,
                                        submission_hash(f"g{i}")).transact({"from": owner, "gas": 300_000}))
    _mined(sent)
    assert h.round(round_id)["stakedCount"] == LARGE_BATCH + 1
    h.to_resolve(round_id)
    scores = {m: ((-1) ** m * (m * 1_000_003 % 90_000_000), 0) for m in models + [model]}
    proposed, tree = h.propose(round_id, scores)
    figures["proposeResults (2 of 3 signatures)"] = proposed.gas_used
    h.to_accepted(round_id)
    (single,) = h.settle(round_id, tree, [tree.leaf_for(model)])
    figures["settle (batch of 1)"] = single.gas_used
    (large,) = h.settle(round_id, tree, [tree.leaf_for(m) for m in models], batch_size=LARGE_BATCH)
    assert len(large.events["StakeSettled"]) == LARGE_BATCH
    figures[f"settle (batch of {LARGE_BATCH}, last closes the round)"] = large.gas_used
    figures[f"settle per stake in a batch of {LARGE_BATCH}"] = large.gas_used // LARGE_BATCH
    with capsys.disabled():
        print("\n  gas report (gas used per transaction):")
        for name, gas in figures.items():
            print(f"    {name:<55} {gas:>10,}")
    for name, limit in LIMITS.items():
        assert figures[name] < limit or (name.startswith("settle per stake") and figures[name] <= limit), \
            f"{name}: {figures[name]:,} gas, limit {limit:,}"
    if os.environ.get("GAS_SNAPSHOT_UPDATE") == "1" or LARGE_BATCH != 150:
        if LARGE_BATCH == 150:
            SNAPSHOT.write_text(json.dumps(figures, indent=2) + "\n")
        return
    snapshot = json.loads(SNAPSHOT.read_text())
    assert set(snapshot) == set(figures), f"snapshot names differ: {sorted(set(snapshot) ^ set(figures))}"
    regressions = [f"{name}: {figures[name]:,} gas vs {snapshot[name]:,} in the snapshot "
                   f"(+{(figures[name] / snapshot[name] - 1):.1%})"
                   for name in figures if figures[name] > snapshot[name] * (1 + TOLERANCE)]
    assert not regressions, "gas regression over 2%: " + "; ".join(regressions)
