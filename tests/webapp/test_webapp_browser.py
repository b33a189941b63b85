"""The staking web app in headless Chromium, with a test wallet, on anvil: the whole participant flow.

Chromium (Debian's package) is driven over its DevTools protocol (tests/webapp/webapp_cdp.py). Before
the page's scripts run, an EIP-1193 provider is injected and announced through EIP-6963
(tests/webapp/injected_wallet.js); it forwards every request to anvil, which signs for its
default account 5. The submission API runs as in tests/participant. Through the page only:
connect; a withdrawal that would revert is explained before anything is sent; deposit with a
permit, then with approve over a non-zero allowance (approve 0 first); create a model; a bad
file refused with the CLI's words; upload a file and stake on its hash; unstake part;
withdraw; after the round times out, refund. Each step is checked on the page AND on the chain
(balances, stakes, events, what the wallet was asked to send). A screenshot is kept in
reports/webapp/.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from eth_utils import keccak
from flask import Flask
from web3 import Web3
from webapp_cdp import Chromium, until
from werkzeug.serving import make_server

from tournament.auditor.explorer.app import nmr as format_nmr
from tournament.chain.devchain import increase_time
from tournament.operator.submission_service.app import ApiSettings
from tournament.operator.submission_service.app import create_app as create_submissions_app
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.submissions import validate_predictions
from tournament.webapp import create_blueprint
from tournament.webapp.blueprint import token_capabilities

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WALLET_JS = (Path(__file__).resolve().parent / "injected_wallet.js").read_text()
DAY = 86_400
ROUND = 1
IDS = [f"n{k:04d}" for k in range(200)]
FUNDED = 1_000 * NMR


def serve(app) -> tuple[str, object]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def open_round(deployed, round_id: int, close_time: int, resolve_time: int, live_ids_raw: bytes) -> None:
    """openRound (v2): liveIdsHash is keccak256 of the published live_ids.csv."""
    t = deployed.tournament
    deployed.transactor(deployed.operator).transact(
        t.functions.openRound(round_id, close_time, resolve_time, keccak(live_ids_raw)), "opening a round")


def predictions_csv(seed: int) -> bytes:
    values = np.random.default_rng(seed).uniform(0, 1, len(IDS))
    return ("id,prediction\n" + "".join(f"{i},{v:.6f}\n" for i, v in zip(IDS, values))).encode()


@pytest.fixture(scope="module")
def world(deployed, tmp_path_factory):
    w3, t = deployed.w3, deployed.tournament
    participant = deployed.keys[5]  # an anvil default account: anvil signs for it
    deployed.transactor(deployed.admin).transact(deployed.nmr.functions.transfer(participant.address, FUNDED),
                                                 "funding the participant")
    work = tmp_path_factory.mktemp("operator-work")
    live_raw = ("id\n" + "\n".join(IDS) + "\n").encode()
    (work / "rounds" / str(ROUND)).mkdir(parents=True)
    (work / "rounds" / str(ROUND) / "live_ids.csv").write_bytes(live_raw)
    now = w3.eth.get_block("latest")["timestamp"]
    open_round(deployed, ROUND, now + 7 * DAY, now + 35 * DAY, live_raw)

    api_data = tmp_path_factory.mktemp("api-data")
    api_app = create_submissions_app(ApiSettings(deployed.w3, deployed.deployment, api_data, work))
    api_url, api_server = serve(api_app)

    app = Flask("webapp-under-test")
    blueprint_w3 = Web3(Web3.HTTPProvider(deployed.rpc_url, request_kwargs={"timeout": 30}))
    app.register_blueprint(create_blueprint(blueprint_w3, deployed.deployment, submissions_url=api_url),
                           url_prefix="/stake")
    app_url, app_server = serve(app)
    yield {"deployed": deployed, "w3": w3, "t": t, "nmr": deployed.nmr, "me": participant.address,
           "app_url": app_url, "api_url": api_url, "api_app": api_app, "files": tmp_path_factory.mktemp("files")}
    app_server.shutdown()
    api_server.shutdown()


@pytest.fixture
def browser(tmp_path):
    chromium = Chromium(tmp_path / "profile")
    yield chromium
    chromium.close()


def wallet_script(rpc_url: str, account: str, chain_id_override: str | None = None, legacy_only: bool = False) -> str:
    config = {"rpc": rpc_url, "account": account, "chainIdOverride": chain_id_override, "legacyOnly": legacy_only}
    return f"const WALLET = {json.dumps(config)};\n{WALLET_JS}"


def sent_methods(browser) -> list[str]:
    return [entry["method"] for entry in browser.eval("window.__walletLog")]


def act(browser, button: str, expect: str, timeout_s: float = 60.0) -> str:
    """Clicks a button, waits for the page to finish the action, checks the status line."""
    browser.click(button)
    browser.wait_for("!document.body.dataset.busy", timeout_s, what=f"{button} to finish")
    status = browser.text("#status")
    assert expect in status, f"after {button}: status is {status!r}, expected {expect!r}"
    return status


def connect(browser, world) -> None:
    browser.navigate(world["app_url"] + "/stake/")
    browser.wait_for("document.body.dataset.ready === '1'", what="the page to load its configuration")
    browser.wait_for("!!document.querySelector('.wallet-btn')", what="the EIP-6963 wallet button")
    assert "Connect Test Wallet" in browser.text("#wallets")
    act(browser, ".wallet-btn", f"Connected {world['me']} on chain 31337")


def events(world, name: str, **filters) -> list:
    event = getattr(world["t"].events, name)
    return event().get_logs(from_block=0, argument_filters=filters or None)


def test_participant_flow_through_the_page(world, browser, tmp_path):
    w3, t, token, me = world["w3"], world["t"], world["nmr"], world["me"]
    tournament = t.address
    browser.inject(wallet_script(world["deployed"].rpc_url, me))

    # -- connect: address, chain, balances as the page shows them
    connect(browser, world)
    assert browser.text("#address") == me and browser.text("#chain-id") == "31337"
    assert browser.text("#nmr-balance") == f"{format_nmr(FUNDED)} NMR" == "1,000.0000 NMR"
    assert browser.text("#wallet-balance") == "0.0000 NMR"
    assert "permit" in browser.text("#token-mode")
    # the leaderboard table is filled from /stake/api/leaderboard (nothing settled on this chain yet)
    browser.wait_for("!document.querySelector('#leaderboard').textContent.includes('Loading')",
                     what="the leaderboard")
    assert browser.text("#leaderboard") == "No settled stakes yet."

    # -- a revert explained before anything is signed or sent
    nonce_before = w3.eth.get_transaction_count(me)
    browser.fill("#withdraw-amount", "5")
    act(browser, "#withdraw-btn",
        "withdraw 5.0000 NMR: your tournament wallet holds 0.0000 NMR but 5.0000 NMR is needed; deposit more first")
    assert "eth_sendTransaction" not in sent_methods(browser)
    assert "eth_call" in sent_methods(browser)  # it was simulated
    assert w3.eth.get_transaction_count(me) == nonce_before
    assert "not sent" in browser.eval("document.querySelector('#activity li').textContent")

    # -- deposit 100 with an EIP-2612 permit: one signature, one transaction
    browser.fill("#deposit-amount", "100")
    act(browser, "#deposit-btn", "Deposited 100.0000 NMR into your tournament wallet.")
    methods = sent_methods(browser)
    assert methods.count("eth_signTypedData_v4") == 1 and methods.count("eth_sendTransaction") == 1
    assert t.functions.balanceOf(me).call() == 100 * NMR
    assert token.functions.balanceOf(me).call() == FUNDED - 100 * NMR
    assert [e["args"]["amount"] for e in events(world, "Deposited", owner=me)] == [100 * NMR]
    assert browser.text("#wallet-balance") == "100.0000 NMR"
    assert browser.text("#nmr-balance") == "900.0000 NMR"

    # -- deposit 50 with approve while a small allowance is left: approve 0 first, then 50, then deposit
    deployed = world["deployed"]
    participant_tx = deployed.transactor(deployed.keys[5])
    participant_tx.transact(token.functions.approve(tournament, 1), "a leftover allowance of 1 wei")
    browser.check("#deposit-approve")
    browser.fill("#deposit-amount", "50")
    act(browser, "#deposit-btn", "Deposited 50.0000 NMR into your tournament wallet.")
    approvals = [e["args"]["value"] for e in token.events.Approval().get_logs(
        from_block=0, argument_filters={"owner": me, "spender": tournament})]
    assert approvals[-3:] == [1, 0, 50 * NMR]  # leftover, reset to zero, the new allowance
    assert token.functions.allowance(me, tournament).call() == 0
    assert t.functions.balanceOf(me).call() == 150 * NMR
    activity = browser.text("#activity")
    assert "reset the NMR allowance to 0: confirmed" in activity and "approve 50.0000 NMR: confirmed" in activity
    browser.check("#deposit-approve", False)

    # -- create a model
    browser.fill("#model-name", "browser_model")
    status = act(browser, "#create-model-btn", "(browser_model).")
    created = events(world, "ModelCreated", owner=me)
    assert len(created) == 1 and created[0]["args"]["name"] == "browser_model"
    model_id = created[0]["args"]["modelId"]
    assert status == f"Created model {model_id} (browser_model)."
    assert t.functions.modelOwner(model_id).call() == me
    assert "browser_model" in browser.text("#models")

    # -- a constant file: refused with the CLI's own message; nothing uploaded, nothing sent
    sends_before = sent_methods(browser).count("eth_sendTransaction")
    constant = world["files"] / "constant.csv"
    constant.write_bytes(("id,prediction\n" + "".join(f"{i},0.5\n" for i in IDS)).encode())
    expected = validate_predictions(constant.read_bytes(), IDS, name="constant.csv").message
    assert "all 200 predictions are equal" in expected
    browser.set_file("#file", constant)
    browser.fill("#stake-amount", "40")
    act(browser, "#submit-btn", expected)
    assert browser.text("#validation") == expected
    assert sent_methods(browser).count("eth_sendTransaction") == sends_before
    store = world["api_app"].extensions["submission_store"]
    assert store.latest(ROUND, model_id) is None

    # -- upload a valid file and stake 40 NMR on its keccak256, at CORR 1.5x
    good = world["files"] / "predictions.csv"
    good.write_bytes(predictions_csv(11))
    file_hash = "0x" + keccak(good.read_bytes()).hex()
    browser.set_file("#file", good)
    browser.fill("#corr-mult", "1.5")
    act(browser, "#submit-btn", f"Uploaded predictions.csv and staked 40.0000 NMR on model {model_id} in round {ROUND}")
    assert "valid, 200 predictions for 200 live ids" in browser.text("#validation")
    (amount, corr_mult, mmc_mult), closed = t.functions.getStake(ROUND, model_id).call()
    assert (amount, corr_mult, mmc_mult, closed) == (40 * NMR, 150, 0, False)
    changed = events(world, "StakeChanged", roundId=ROUND, modelId=model_id)
    assert "0x" + bytes(changed[-1]["args"]["submissionHash"]).hex() == file_hash
    assert store.latest(ROUND, model_id).file_hash == file_hash
    assert t.functions.balanceOf(me).call() == 110 * NMR
    row = browser.text(f"#stakes tr[data-model='{model_id}']")
    assert "40.0000" in row and "1.5" in row and "Open" in row
    receipts = browser.eval("Object.entries(localStorage).filter(([k]) => k.startsWith('tournament-receipts'))"
                            ".map(([, v]) => JSON.parse(v))")
    assert len(receipts) == 1 and len(receipts[0]) == 1
    receipt = receipts[0][0]
    assert receipt["submissionHash"] == file_hash and receipt["roundId"] == ROUND and receipt["modelId"] == model_id
    assert receipt["service"]["status"] == "stored"  # the API's own answer, kept whole
    assert file_hash in browser.text("#receipts")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.send("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.click("#download-receipts")
    saved = until(lambda: [p for p in downloads.glob("*.json")], what="the receipts download")
    assert json.loads(saved[0].read_text()) == receipts[0]

    # -- unstake 15 of the 40
    browser.fill("#unstake-amount", "15")
    act(browser, "#unstake-btn", f"Unstaked 15.0000 NMR from model {model_id} in round {ROUND}")
    assert t.functions.getStake(ROUND, model_id).call()[0][0] == 25 * NMR
    assert events(world, "StakeChanged", roundId=ROUND, modelId=model_id)[-1]["args"]["total"] == 25 * NMR
    assert "25.0000" in browser.text(f"#stakes tr[data-model='{model_id}']")

    # -- withdraw 100 of the 125 free NMR
    browser.fill("#withdraw-amount", "100")
    act(browser, "#withdraw-btn", f"Withdrew 100.0000 NMR to {me}.")
    assert t.functions.balanceOf(me).call() == 25 * NMR
    assert token.functions.balanceOf(me).call() == FUNDED - 150 * NMR + 100 * NMR
    assert [e["args"]["amount"] for e in events(world, "Withdrawn", owner=me)] == [100 * NMR]
    assert browser.text("#wallet-balance") == "25.0000 NMR" and browser.text("#nmr-balance") == "950.0000 NMR"
    assert "pending" not in browser.text("#activity")  # every transaction reached a final state

    shot = browser.screenshot(PROJECT_ROOT / "reports" / "webapp" / "stake-flow.png")
    assert shot.stat().st_size > 20_000

    # -- no results ever come: past resolveTime + resultsTimeout the round is Refunding; refund from the page
    increase_time(w3, 50 * DAY)
    browser.click(".wallet-btn")  # reconnecting re-reads rounds and stakes
    browser.wait_for("!!document.querySelector('.refund-btn')", what="the Refund button")
    assert "Refunding" in browser.text(f"#stakes tr[data-model='{model_id}']")
    act(browser, ".refund-btn", f"Refunded 25.0000 NMR of model {model_id} in round {ROUND}")
    assert t.functions.isStakeClosed(ROUND, model_id).call()
    refunded = events(world, "StakeRefunded", roundId=ROUND, modelId=model_id)
    assert len(refunded) == 1 and refunded[0]["args"]["amount"] == 25 * NMR
    assert t.functions.balanceOf(me).call() == 50 * NMR
    assert browser.text("#wallet-balance") == "50.0000 NMR"


def test_wrong_chain_is_refused_in_one_line(world, browser):
    browser.inject(wallet_script(world["deployed"].rpc_url, world["me"], chain_id_override="0x1"))
    browser.navigate(world["app_url"] + "/stake/")
    browser.wait_for("!!document.querySelector('.wallet-btn')", what="the wallet button")
    browser.click(".wallet-btn")
    browser.wait_for("!document.body.dataset.busy")
    line = "Wrong network: your wallet is on chain 1, this tournament is on chain 31337; switch your wallet to chain 31337."
    assert browser.text("#wrong-chain") == line and browser.text("#status") == line
    assert browser.eval("document.querySelector('fieldset.needs-wallet').disabled") is True
    assert not any(m in ("eth_sendTransaction", "eth_signTypedData_v4") for m in sent_methods(browser))


def test_window_ethereum_is_the_fallback_without_eip6963(world, browser):
    browser.inject(wallet_script(world["deployed"].rpc_url, world["me"], legacy_only=True))
    browser.navigate(world["app_url"] + "/stake/")
    browser.wait_for("!!document.querySelector('.wallet-btn')", what="the fallback wallet button")
    assert browser.text("#wallets") == "Connect browser wallet"
    act(browser, ".wallet-btn", f"Connected {world['me']} on chain 31337")
    assert browser.text("#address") == world["me"]


def test_one_app_with_the_explorer(world):
    """The explorer app registers the staking page itself: its pages and /stake from one Flask app."""
    from tournament.auditor.explorer.app import create_app as create_explorer

    deployed = world["deployed"]
    app = create_explorer(deployed.rpc_url, None, deployed.deployments_dir, submissions_url=world["api_url"])
    client = app.test_client()
    page = client.get("/stake/")
    assert page.status_code == 200 and b'src="/stake/vendor/ethers.umd.min.js"' in page.data
    assert b'src="/stake/static/stake.js"' in page.data and b'data-api="/stake/api"' in page.data
    assert client.get("/stake/static/stake.js").status_code == 200
    assert client.get("/stake/api/config").get_json()["uploads"]["enabled"] is True  # submissions_url reached it
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert {"index", "round_page", "address_page", "stake.page", "stake.config"} <= endpoints
    explorer = client.get(f"/address/{world['me']}")
    assert explorer.status_code == 200 and world["me"].encode() in explorer.data


def test_endpoints_answer_json_and_one_line_errors(world):
    client_app = Flask("endpoints")
    deployed = world["deployed"]
    client_app.register_blueprint(create_blueprint(deployed.w3, deployed.deployment, submissions_url=world["api_url"]),
                                  url_prefix="/stake")
    client = client_app.test_client()
    config = client.get("/stake/api/config").get_json()
    assert config["chainId"] == 31337 and config["tournament"] == deployed.deployment.tournament
    assert config["token"]["permit"] is True and config["token"]["permitDomain"] == {"name": "Numeraire", "version": "1"}
    assert any(e.get("name") == "InsufficientBalance" for e in config["abi"]["tournament"])
    assert client.get("/stake/vendor/ethers.umd.min.js").status_code == 200
    rounds = client.get("/stake/api/rounds").get_json()["rounds"]
    assert rounds[0]["roundId"] == ROUND and rounds[0]["corrMultMax"] == 300
    bad = client.get("/stake/api/account/0x123")
    assert bad.status_code == 400 and bad.get_json() == {"error": "0x123 is not an address (0x and 40 hex digits)"}
    missing = client.post("/stake/api/rounds/99/validate", data=b"id,prediction\n")
    assert missing.status_code == 404 and "round 99 does not exist" in missing.get_json()["error"]
    # A token without EIP-2612's views (here: an address with other code) is approve-only.
    plain = token_capabilities(deployed.w3, deployed.deployment.tournament, config["abi"]["nmr"])
    assert plain["permit"] is False and plain["permitDomain"] is None and plain["approveFromZero"] is True
    wrong = client.post("/stake/api/rounds/1/validate?name=p.csv", data=b"id,score\nn0000,0.5\n").get_json()
    assert wrong["valid"] is False and wrong["message"] == validate_predictions(
        b"id,score\nn0000,0.5\n", IDS, name="p.csv").message
