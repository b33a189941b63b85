"""The participant client (tournament.participant.client) against anvil and a live submission API over HTTP.

One anvil per module (tests/conftest.py `deployed`); the API runs in a thread on a free port
with werkzeug's server, exactly as `tournament serve submissions` runs it. Covers the whole
participant life: new key -> model -> deposit (approve and permit) -> submit (validate,
upload, stake) -> unstake -> close -> results proposed and settled -> history == events ->
withdraw, plus the refusals a participant meets on the way.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from werkzeug.serving import make_server

from tournament.chain.client import fetch_events
from tournament.chain.devchain import fund_eth, increase_time
from tournament.operator.open_round import live_ids_hash as live_ids_hash_of_bytes
from tournament.operator.submission_service.app import ApiSettings, create_app
from tournament.participant.client import (
    Participant,
    ParticipantError,
    explain_revert,
    format_nmr,
    parse_multiplier,
    parse_nmr,
)
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.results import ResultsTree, build_leaves
from tournament.protocol.signing import Domain, Results, sign_results

DAY = 86_400
N_IDS = 200


# ------------------------------------------------------------------ helpers

def write_live_ids(work: Path, round_id: int, ids: list[str]) -> None:
    folder = work / "rounds" / str(round_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "live_ids.csv").write_text("id\n" + "\n".join(ids) + "\n")


def predictions_file(path: Path, ids: list[str], seed: int) -> Path:
    values = np.random.default_rng(seed).uniform(0, 1, len(ids))
    path.write_text("id,prediction\n" + "".join(f"{i},{v:.6f}\n" for i, v in zip(ids, values)))
    return path


def live_ids_hash_of(path: Path) -> bytes:
    return live_ids_hash_of_bytes(path.read_bytes())


@pytest.fixture(scope="module")
def world(deployed, tmp_path_factory):
    """The API on a free port, live ids for rounds 1-3, an operator transactor, funded participants."""
    work = tmp_path_factory.mktemp("work")
    ids = [f"id{k:05d}" for k in range(N_IDS)]
    for round_id in (1, 2, 3):
        write_live_ids(work, round_id, ids)
    app = create_app(ApiSettings(deployed.w3, deployed.deployment, tmp_path_factory.mktemp("api"), work))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    admin = deployed.transactor(deployed.admin)
    for key in deployed.keys[3:6]:
        admin.transact(deployed.nmr.functions.transfer(key.address, 1_000 * NMR), "funding a participant")
    yield {"url": url, "ids": ids, "work": work, "operator": deployed.transactor(deployed.operator)}
    server.shutdown()


def open_round(deployed, world, round_id: int, close_in_s: int = 7 * DAY) -> int:
    """Open `round_id` committing (v2) keccak256 of the live_ids.csv the API serves for it."""
    now = deployed.w3.eth.get_block("latest")["timestamp"]
    close = now + close_in_s
    live_ids_hash = live_ids_hash_of(world["work"] / "rounds" / str(round_id) / "live_ids.csv")
    world["operator"].transact(deployed.tournament.functions.openRound(round_id, close, close + 28 * DAY,
                                                                       live_ids_hash),
                               f"opening round {round_id}")
    return close


def client(deployed, world, key) -> Participant:
    return Participant(deployed.w3, deployed.deployment, key, world["url"])


# ------------------------------------------------------------------ pure parsing

def test_nmr_amounts_convert_exactly_and_refuse_garbage():
    assert parse_nmr("12.5") == 12_500_000_000_000_000_000
    assert parse_nmr("0.000000000000000001") == 1
    assert parse_nmr("11000000.123456789012345678") == 11_000_000_123_456_789_012_345_678
    assert format_nmr(parse_nmr("12.5")) == "12.5"
    for bad, words in [("-1", "negative"), ("abc", "not a number"), ("1e3", "not a number"),
                       ("1.0000000000000000001", "more than 18 decimals")]:
        with pytest.raises(ParticipantError, match=words):
            parse_nmr(bad)


def test_multipliers_are_read_as_times_or_hundredths():
    assert [parse_multiplier(x) for x in ("2x", "2.0", "200", "0.5", "2", "0", "1.25x")] == \
        [200, 200, 200, 50, 200, 0, 125]
    with pytest.raises(ParticipantError, match="finer than 0.01x"):
        parse_multiplier("1.234")
    with pytest.raises(ParticipantError, match="not a number"):
        parse_multiplier("two")


# ------------------------------------------------------------------ the whole flow

def test_new_key_to_settled_stake_history_and_withdrawal(deployed, world, tmp_path):
    w3, t = deployed.w3, deployed.tournament
    # A brand-new key: gas from anvil, NMR from the treasury.
    fresh = Account.create()
    fund_eth(w3, fresh.address)
    deployed.transactor(deployed.admin).transact(deployed.nmr.functions.transfer(fresh.address, 500 * NMR),
                                                 "funding a new participant")
    alice = client(deployed, world, fresh)
    other = client(deployed, world, deployed.keys[4])

    model_id = alice.create_model("alice-ridge")
    other_model = other.create_model("bob-model")
    assert alice.resolve_model("alice-ridge") == model_id
    assert alice.deposit(parse_nmr("100")) and alice.deposit(parse_nmr("50.5"), permit=True)
    assert t.functions.balanceOf(fresh.address).call() == parse_nmr("150.5")
    other.deposit(100 * NMR, permit=True)

    open_round(deployed, world, 1)
    path = predictions_file(tmp_path / "preds.csv", world["ids"], seed=1)
    result = alice.submit(1, "alice-ridge", path, parse_nmr("40"), parse_multiplier("2x"), 0)
    digest = "0x" + w3.keccak(path.read_bytes()).hex()
    assert result.submission_hash == digest
    assert result.upload["status"] == "stored"
    position, closed = t.functions.getStake(1, model_id).call()
    assert (position[0], position[1], closed) == (40 * NMR, 200, False)
    event = fetch_events(t.events.StakeChanged, deployed.deployment.deploy_block,
                         argument_filters={"modelId": model_id})[-1]
    assert "0x" + bytes(event["args"]["submissionHash"]).hex() == digest
    other.submit(1, other_model, predictions_file(tmp_path / "b.csv", world["ids"], seed=2), 20 * NMR, 100, 0)

    # Unstake part while open; the status shows the open stake and the wallet.
    alice.unstake(1, model_id, parse_nmr("10"))
    status = alice.status()
    assert status.wallet_wei == parse_nmr("120.5")
    assert [(s.round_id, s.model_id, s.amount_wei, s.phase) for s in status.open_stakes] == [(1, model_id, 30 * NMR, "Open")]
    assert status.open_stakes[0].submission_hash == digest

    # Close: stakes are locked, with the close time in the message.
    increase_time(w3, 8 * DAY)
    with pytest.raises(ParticipantError, match=r"round 1 closed at \d{4}-\d\d-\d\d \d\d:\d\d UTC; stakes are locked"):
        alice.unstake(1, model_id)
    assert alice.status().pending_stakes[0].phase == "Closed"

    # The operator collects (after close the API serves the files) and settles results.
    served = alice.http.get(f"{world['url']}/v1/rounds/1/models/{model_id}/submission")
    assert served.status_code == 200 and served.headers["X-Submission-Hash"] == digest
    assert served.content == path.read_bytes()
    increase_time(w3, 28 * DAY)
    leaves = build_leaves(1, [model_id, other_model], {model_id: (25_000_000, 0), other_model: (-10_000_000, 0)})
    tree = ResultsTree(leaves)
    scored_at_risk_wei = 30 * NMR + 20 * NMR  # (v2) both leaves are SCORED: their stakes at close
    results = Results(1, 0, tree.root, tree.leaf_count, scored_at_risk_wei, b"\x11" * 32, 1)
    signatures = sign_results(Domain(w3.eth.chain_id, t.address), results, deployed.signer_keys)
    world["operator"].transact(t.functions.proposeResults(results.as_tuple(), signatures), "proposing")
    increase_time(w3, DAY + 1)
    batch = tree.multiproof(tree.leaves)
    world["operator"].transact(t.functions.settle(1, batch.leaf_values(), batch.proof, batch.proof_flags), "settling")

    history = alice.history()
    settled = fetch_events(t.events.StakeSettled, deployed.deployment.deploy_block,
                           argument_filters={"owner": fresh.address})
    assert len(history) == len(settled) == 1
    row, args = history[0], settled[0]["args"]
    assert (row.round_id, row.model_id, row.model_name, row.status) == (1, model_id, "alice-ridge", "SCORED")
    assert (row.stake_wei, row.corr_nanos, row.mmc_nanos, row.payout_wei, row.burned_wei) == \
        (args["stake"], args["corr"], args["mmc"], args["payout"], args["burned"])
    assert row.payout_wei == 30 * NMR * 2 // 100 * 25 // 10  # 30 NMR at 2x, corr 0.025 -> +1.5 NMR
    assert row.cumulative_payout_wei == row.payout_wei and abs(row.cumulative_return - 0.05) < 1e-12
    loss = other.history()[0]
    assert loss.payout_wei == -loss.burned_wei == -(20 * NMR // 100)  # 20 NMR at 1x, corr -0.010

    status = alice.status()
    assert status.stakes == [] and status.wallet_wei == parse_nmr("120.5") + 30 * NMR + row.payout_wei
    before = deployed.nmr.functions.balanceOf(fresh.address).call()
    alice.withdraw(status.wallet_wei)
    assert deployed.nmr.functions.balanceOf(fresh.address).call() == before + status.wallet_wei
    assert t.functions.balanceOf(fresh.address).call() == 0


# ------------------------------------------------------------------ refusals

def test_staking_without_balance_is_refused_before_any_upload(deployed, world, tmp_path):
    carol = client(deployed, world, deployed.keys[5])
    model_id = carol.create_model("carol")
    open_round(deployed, world, 2)
    path = predictions_file(tmp_path / "c.csv", world["ids"], seed=3)
    with pytest.raises(ParticipantError, match="wallet holds 0 NMR; deposit more first"):
        carol.submit(2, model_id, path, 5 * NMR, 100)
    answer = carol.http.get(f"{world['url']}/v1/rounds/2/models/{model_id}/uploads").json()
    assert answer["uploads"] == []


def test_contract_reverts_come_back_as_sentences(deployed, world):
    carol = client(deployed, world, deployed.keys[5])
    with pytest.raises(ParticipantError, match=r"withdrawing 1 NMR: your tournament wallet holds 0 NMR; withdraw at most"):
        carol.withdraw(NMR)     # checked before sending: a withdrawal needs no deposit advice
    with pytest.raises(ParticipantError, match="does not exist"):
        carol.unstake(99, 1)
    from tournament.chain.client import TransactionReverted
    message = explain_revert(TransactionReverted("staking", "MultiplierOutOfBounds(which=corr, value=400, min=50, max=300)"))
    assert message == "corr multiplier 4x is outside this round's bounds 0.5x to 3x; choose one inside"


def test_invalid_file_and_someone_elses_model_are_refused_locally(deployed, world, tmp_path):
    bob = client(deployed, world, deployed.keys[4])
    carol = client(deployed, world, deployed.keys[5])
    carol.deposit(10 * NMR)
    bob_model = bob.resolve_model("bob-model")
    path = predictions_file(tmp_path / "ok.csv", world["ids"], seed=4)
    with pytest.raises(ParticipantError, match=f"model {bob_model} belongs to {bob.address}"):
        carol.submit(2, bob_model, path, NMR, 100)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,prediction\n" + "".join(f"{i},0.5\n" for i in world["ids"]))
    with pytest.raises(ParticipantError, match="predictions are equal"):
        carol.submit(2, "carol", bad, NMR, 100)
    with pytest.raises(ParticipantError, match="no model named 'nope'"):
        carol.submit(2, "nope", path, NMR, 100)


def test_a_stake_the_contract_would_refuse_uploads_nothing(deployed, world, tmp_path):
    carol = client(deployed, world, deployed.keys[5])
    path = predictions_file(tmp_path / "first.csv", world["ids"], seed=5)
    first = carol.submit(2, "carol", path, NMR, 100)
    other = predictions_file(tmp_path / "second.csv", world["ids"], seed=6)
    with pytest.raises(ParticipantError, match=r"corr multiplier 5x is outside this round's bounds 0.5x to 3x"):
        carol.submit(2, "carol", other, NMR, parse_multiplier("5x"))
    model_id = carol.resolve_model("carol")
    answer = carol.http.get(f"{world['url']}/v1/rounds/2/models/{model_id}/uploads").json()
    assert answer["latest"] == first.submission_hash and len(answer["uploads"]) == 1
