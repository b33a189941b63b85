"""The explorer as an auditor uses it, in headless Chromium: search, the contract page, a decoded
settlement, address activity, a bad round next to good ones, and every phase told honestly.

The world (explorer_world.py) has rounds 1 (settled, PASS), 2 (settled, constant targets
published: FAIL), 3 (Refunding), 4 (Refunded), 5 (Vetoed), 6 (Proposed) and 7 (Open). Every
assertion reads the rendered page; the expected numbers come from the chain or the files.
"""
from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from explorer_world import VERIFICATION_FILE, VETO_REASON
from web3.logs import DISCARD

from tournament.auditor.explorer.app import create_app
from tournament.auditor.explorer.pages import nmr
from tournament.chain.devchain import increase_time


def rows_of(page) -> dict[int, dict]:
    rows = page.all("#rounds tbody tr[data-round]",
                    "({id: +e.dataset.round, phase: e.dataset.phase, audit: e.dataset.audit, text: e.innerText})")
    return {r["id"]: r for r in rows}


def test_index_tells_every_phase_honestly_and_serves_the_bad_round_next_to_good_ones(page):
    page.go("/")
    rows = rows_of(page)
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 7]
    assert (rows[1]["phase"], rows[1]["audit"]) == ("Settled", "PASS")
    assert (rows[2]["phase"], rows[2]["audit"]) == ("Settled", "FAIL")
    assert "targets" in rows[2]["text"], "the bad round says why it failed, on the index"
    assert rows[3]["phase"] == "Refunding"
    assert (rows[4]["phase"], rows[4]["audit"]) == ("Refunded", "PASS"), "a round closed by refunds is not 'Settled'"
    assert (rows[5]["phase"], rows[5]["audit"]) == ("Vetoed", "pending")
    assert (rows[6]["phase"], rows[6]["audit"]) == ("Proposed", "PASS")
    assert (rows[7]["phase"], rows[7]["audit"]) == ("Open", "pending"), "nothing to audit is not a green PASS"
    assert "PASS" not in rows[7]["text"] and "PASS" not in rows[5]["text"]
    assert page.shot("explorer-index.png").stat().st_size > 20_000


def test_the_bad_round_shows_its_findings_and_the_good_round_still_passes(page):
    page.go("/round/2")
    assert page.text("#audit").startswith("FAIL")
    findings = page.text("#findings")
    assert "targets: expected 'targets that are not all equal', found 'constant'" in findings
    assert "file:targets.csv" in findings, "the file that differs from its manifest entry is named"
    page.shot("explorer-bad-round.png")
    page.go("/round/1")
    assert page.text("#audit").startswith("PASS") and "No discrepancy" in page.text("#findings")


def test_invalid_reasons_come_from_the_published_scores_table(page, world):
    page.go("/round/1")
    reasons = {r["model"]: r for r in page.all(
        "#stakes tbody tr[data-model]", "({model: +e.dataset.model, status: e.dataset.status, "
                                        "reason: e.querySelector('.reason').innerText.trim()})")}
    constant, ghost = world.models["constant"], world.models["ghost"]
    assert reasons[constant]["status"] == "INVALID"
    assert reasons[constant]["reason"] == (f"submissions/{constant}.csv: all 200 predictions are equal (0.5); "
                                           "predictions must rank the ids; a constant has no ranking")
    assert reasons[ghost]["reason"] == "no submission file received"
    assert all(r["reason"] == "" for m, r in reasons.items() if r["status"] == "SCORED")


def test_artifacts_are_download_links_served_safely(page, world, explorer_url, app):
    page.go("/round/1")
    links = page.all("#artifacts a", "e.getAttribute('href')")
    assert "/round/1/artifacts/scores.csv" in links and "/round/1/artifacts/manifest.json" in links
    assert f"/round/1/artifacts/submissions/{world.models['alpha']}.csv" in links
    folder = world.work / "rounds" / "1" / "artifacts"
    # The browser downloads a file: the same bytes as published (fetched from the page itself).
    fetched = page.chromium.eval("fetch('/round/1/artifacts/scores.csv').then(r => r.text())")
    assert fetched.encode() == (folder / "scores.csv").read_bytes()
    with urllib.request.urlopen(explorer_url + "/round/1/artifacts/leaves.json") as answer:
        assert answer.read() == (folder / "leaves.json").read_bytes()
        assert "attachment" in answer.headers["Content-Disposition"]
    secret = world.work / "secret.txt"
    secret.write_text("not published")
    client = app.test_client()
    for path in ("../../../secret.txt", "..%2f..%2f..%2fsecret.txt", "/etc/passwd", "%2Fetc%2Fpasswd",
                 "submissions/../../../../secret.txt", "nothing.csv"):
        response = client.get(f"/round/1/artifacts/{path}", follow_redirects=True)
        assert response.status_code == 404 and b"not published" not in response.data, path
    link = folder / "escape.csv"
    link.symlink_to(secret)
    try:
        assert client.get("/round/1/artifacts/escape.csv").status_code == 404, "a symlink out of the folder"
    finally:
        link.unlink()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(explorer_url + "/round/7/artifacts/manifest.json")
    assert refused.value.code == 404, "a round without artifacts serves nothing"


def test_phases_pending_proposed_vetoed_refunding_refunded(page, world):
    page.go("/round/7")
    assert page.text("#audit").startswith("pending") and "PASS" not in page.text("#audit")
    assert "Nothing to audit yet" in page.text("#findings") and "staking open until" in page.text("#phase-detail")
    page.go("/round/6")
    assert page.text("#summary .phase") == "Proposed" and "challenge window until" in page.text("#phase-detail")
    assert page.text("#audit").startswith("PASS")
    page.go("/round/5")
    assert page.text("#summary .phase") == "Vetoed" and VETO_REASON in page.text("#phase-detail")
    assert VETO_REASON in page.text("#vetoes") and page.text("#audit").startswith("pending")
    assert world.txs["veto:5"] in {h.removeprefix("/tx/") for h in page.links()}
    page.shot("explorer-vetoed.png")
    page.go("/round/3")
    assert page.text("#summary .phase") == "Refunding" and "1 of 2 refunded" in page.text("#phase-detail")
    page.go("/round/4")
    text = page.text()
    assert page.text("#summary .phase") == "Refunded" and "Settled" not in page.text("#summary")
    assert "No results proposed yet" not in text and "refunded in full" in page.text("#no-results")
    assert f"refund {nmr(3 * 10**18)} NMR" in page.text("#stakes")


def test_search_finds_addresses_transactions_rounds_and_models(page, world):
    page.go("/")
    page.submit_search("alpha")
    assert page.path() == f"/model/{world.models['alpha']}"
    page.submit_search(world.owners["gamma"].lower())
    assert page.path() == f"/address/{world.owners['gamma']}"
    page.submit_search(world.txs["settle:1"])
    assert page.path() == f"/tx/{world.txs['settle:1']}"
    page.submit_search("round 5")
    assert page.path() == "/round/5"
    page.submit_search("model 3")
    assert page.path() == "/model/3"
    page.submit_search("3")
    assert page.path().startswith("/search") and page.all("#results a", "e.getAttribute('href')") == [
        "/round/3", "/model/3"], "a bare number may be a round or a model: both are offered"
    page.submit_search("0x" + "ab" * 32)
    assert "no transaction" in page.text("#search-message")
    page.submit_search("no-such-model")
    assert "nothing matches" in page.text("#search-message")
    page.submit_search(world.deployed.deployment.tournament)
    assert page.path() == "/contract"


def test_contract_page_shows_configuration_roles_signers_pool_and_accounting(page, world):
    d = world.deployed
    t = d.tournament
    page.go("/contract")
    config = dict(page.all("#config tr", "[e.dataset.field, e.querySelector('td').innerText]"))
    assert config["clipBps"] == "25.00% of the stake" and config["stakeThreshold"] == "72,000.0000 NMR"
    assert config["challengePeriod"] == "1d" and config["corrMultMax"] == "3.00×"
    roles = page.all("#roles tbody tr", "[e.dataset.role, e.querySelector('a') ? e.querySelector('a').innerText : '']")
    assert ["OPERATOR_ROLE", d.operator.address] in roles and ["GUARDIAN_ROLE", d.guardian.address] in roles
    assert ["DEFAULT_ADMIN_ROLE", d.admin.address] in roles
    assert page.text("#signer-set") == "version 1: 2 of 3 signatures"
    assert page.all("#signers a") == [k.address for k in d.signer_keys]
    assert nmr(t.functions.rewardPool().call()) in page.text("#reward-pool")
    accounted = t.functions.accountedNmr().call()
    assert nmr(accounted) in page.text("#accounted") and "equals the accounted NMR" in page.text("#token-balance")
    assert accounted == d.nmr.functions.balanceOf(t.address).call()
    assert page.text("#burn-method").startswith("burn(uint256)")
    assert page.text("#paused") == "running" and "0s paused in total" in page.text("#clock")
    files = page.all("#files a", "e.getAttribute('href')")
    assert files == [f"/contract/files/{VERIFICATION_FILE}"]
    raw = (Path(d.deployments_dir) / str(d.deployment.chain_id) / VERIFICATION_FILE).read_bytes()
    assert hashlib.sha256(raw).hexdigest() in page.text("#files")
    assert page.chromium.eval(f"fetch('{files[0]}').then(r => r.text())").encode() == raw
    page.shot("explorer-contract.png")


def test_a_settlement_decodes_as_one_table_in_nmr_with_its_burn(page, world):
    t = world.deployed.tournament
    page.go(f"/tx/{world.txs['settle:1']}")
    assert page.text("#function").startswith("settle(uint256 roundId")
    assert page.text("#tx-time").endswith("UTC")
    rows = page.all("#settlement tbody tr", "[+e.dataset.model, Array.from(e.cells).map(c => c.innerText)]")
    assert len(rows) == 5 and len(page.all("#settlement")) == 1, "a settlement batch is ONE table"
    assert page.all("table.arg-rows") == [], "the leaves argument is not repeated as a second table"
    receipt = world.deployed.w3.eth.get_transaction_receipt(world.txs["settle:1"])
    events = {int(e["args"]["modelId"]): e["args"] for e in t.events.StakeSettled().process_receipt(receipt, errors=DISCARD)}
    for model_id, cells in rows:
        event = events[model_id]
        assert cells[3] == f"{nmr(event['stake'])} NMR" and cells[7] == f"{nmr(event['payout'])} NMR"
        assert cells[8] == f"{nmr(event['burned'])} NMR"
        assert cells[4] == ("SCORED" if event["status"] == 1 else "INVALID")
        assert cells[9] == f"{nmr(event['stake'] + event['payout'])} NMR"
    burned = sum(e["burned"] for e in events.values())
    transfers = page.text("#transfers")
    assert burned > 0 and "burn (zero address)" in transfers and f"{nmr(burned)} NMR" in transfers
    assert "wei" not in page.text("#settlement"), "amounts in NMR"
    assert "RoundSettled" in page.text() and f"{nmr(burned)} NMR" in page.text("#settlement-totals")
    page.shot("explorer-settlement.png")
    # A stake call: arguments decoded with units.
    page.go(f"/tx/{world.txs['stake:1:alpha']}")
    args = dict(page.all("#args tbody tr[data-arg]", "[e.dataset.arg, e.cells[2].innerText]"))
    assert args["amount"] == "10.0000 NMR" and args["corrMult"] == "2.00×" and args["roundId"] == "1"
    assert args["submissionHash"].startswith("0x")
    assert "StakeChanged" in page.text()


def test_address_activity_lists_deposits_stakes_settlements_refunds_withdrawals(page, world):
    alpha_owner = world.owners["alpha"]
    page.go(f"/address/{alpha_owner}")
    kinds = page.all("#activity tbody tr[data-kind]", "e.dataset.kind")
    assert {"deposit", "model created", "stake", "settlement", "refund"} <= set(kinds)
    stakes = {(r[0], r[1]): r[2] for r in page.all(
        "#stakes tbody tr[data-round]", "[+e.dataset.round, +e.dataset.model, e.querySelector('.state').innerText]")}
    alpha, delta = world.models["alpha"], world.models["delta"]
    assert stakes[(1, alpha)] == "settled (SCORED)" and stakes[(3, alpha)] == "refunded in full"
    assert stakes[(7, delta)].startswith("open"), "an open stake is listed"
    assert stakes[(6, alpha)].startswith("at risk") and stakes[(5, alpha)].startswith("at risk")
    wallet = world.deployed.tournament.functions.balanceOf(alpha_owner).call()
    assert f"{nmr(wallet)} NMR" in page.text("#balances")
    page.shot("explorer-address.png")
    page.go(f"/address/{world.owners['gamma']}")
    rows = page.all("#activity tbody tr[data-kind]", "[e.dataset.kind, e.cells[4].innerText]")
    assert ["withdrawal", "100.0000 NMR"] in rows and ["refund", "3.0000 NMR"] in rows


def test_a_round_that_cannot_be_read_is_failed_and_the_others_are_served(world):
    """An error while reading or auditing one round (a bug, an RPC fault, a broken folder) shows
    that round as failed with the reason; the index, its other rounds and their pages still render."""
    d = world.deployed
    app = create_app(d.rpc_url, str(world.work), d.deployments_dir)
    data = app.config["EXPLORER"]
    real = data.audit

    def audit(round_id, **options):
        if round_id == 3:
            raise RuntimeError("simulated: the round's events could not be decoded")
        return real(round_id, **options)
    data.audit = audit
    client = app.test_client()
    index = client.get("/")
    assert index.status_code == 200
    html = index.get_data(as_text=True)
    assert 'data-round="3" data-phase="Failed" data-audit="FAIL"' in html
    assert "simulated: the round&#39;s events could not be decoded" in html
    assert 'data-round="1" data-phase="Settled" data-audit="PASS"' in html
    page = client.get("/round/3")
    assert page.status_code == 200 and b"could not be read or audited" in page.data
    assert client.get("/round/1").status_code == 200


def test_corrupt_artifacts_fail_that_round_only(world, tmp_path):
    """Garbage for round 1's manifest and scores table: round 1 FAILs with the finding, the pages
    render, round 6 still PASSes."""
    d = world.deployed
    work = tmp_path / "work"
    shutil.copytree(world.work, work)
    (work / "rounds" / "1" / "artifacts" / "manifest.json").write_bytes(b"\x00\xffnot json")
    (work / "rounds" / "1" / "artifacts" / "scores.csv").write_bytes(b"\x00\x01garbage")
    client = create_app(d.rpc_url, str(work), d.deployments_dir).test_client()
    html = client.get("/").get_data(as_text=True)
    assert 'data-round="1" data-phase="Settled" data-audit="FAIL"' in html
    assert 'data-round="6" data-phase="Proposed" data-audit="PASS"' in html
    page = client.get("/round/1")
    assert page.status_code == 200 and b"manifest" in page.data


def test_pause_shows_on_the_contract_page_and_stops_the_clock(page, world):
    """Last: it pauses the tournament for an hour of chain time (then unpauses)."""
    d = world.deployed
    guardian = d.transactor(d.guardian)
    guardian.transact(d.tournament.functions.pause(), "pause")
    try:
        increase_time(d.w3, 3600)
        d.w3.provider.make_request("evm_mine", [])
        page.go("/contract")
        assert page.text("#paused").startswith("PAUSED")
        assert "1h" in page.text("#clock") and "paused in total" in page.text("#clock")
        assert "Paused by" in page.text("#pauses")
    finally:
        d.transactor(d.admin).transact(d.tournament.functions.unpause(), "unpause")
