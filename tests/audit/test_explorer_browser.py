"""The explorer in a real browser: headless Chromium (Debian's package) reads the pages of a
settled round on anvil and sees what a person would: the rounds, the numbers, the links, the chart.

Chromium is required: without it these tests fail and say how to install it. A screenshot of
the round page and of a model page is kept (reports/explorer/ and the test's tmp dir).
"""
from __future__ import annotations

import html
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.webapp.webapp_cdp import chromium_binary
from tournament.auditor.audit import read_artifacts, read_chain_view, verify_round
from tournament.auditor.explorer.app import create_app, nmr

PROJECT_ROOT = Path(__file__).resolve().parents[2]
class Browser:
    """Drives headless Chromium from the command line: the DOM after rendering, or a screenshot."""

    def __init__(self, profile: Path):
        self.binary = chromium_binary()
        self.profile = profile

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--disable-dev-shm-usage", f"--user-data-dir={self.profile}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    def dom(self, url: str) -> str:
        result = self._run("--dump-dom", url)
        assert result.returncode == 0 and "<html" in result.stdout, \
            f"chromium could not render {url}: {result.stderr[-2000:]}"
        return result.stdout

    def screenshot(self, url: str, path: Path, size: str = "1400,1100") -> Path:
        result = self._run(f"--screenshot={path}", f"--window-size={size}", "--hide-scrollbars", url)
        assert result.returncode == 0 and path.exists() and path.stat().st_size > 10_000, \
            f"chromium took no screenshot of {url}: {result.stderr[-2000:]}"
        return path


def text_of(dom: str) -> str:
    """What a person reads: the DOM without tags, entities decoded, whitespace collapsed."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def links_of(dom: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', dom))


@pytest.fixture(scope="module")
def explorer_url(settled_round, tmp_path_factory):
    world = settled_round.world
    work = tmp_path_factory.mktemp("work")
    (work / "rounds" / str(settled_round.round_id)).mkdir(parents=True)
    shutil.copytree(settled_round.artifacts_dir, work / "rounds" / str(settled_round.round_id) / "artifacts")
    app = create_app(world.rpc_url, str(work), world.deployments_dir)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    return Browser(tmp_path_factory.mktemp("chromium-profile"))


@pytest.fixture(scope="module")
def report(settled_round):
    world = settled_round.world
    chain = read_chain_view(world.w3, world.deployment, settled_round.round_id)
    return verify_round(chain, read_artifacts(str(settled_round.artifacts_dir)))


def test_rounds_page_lists_the_settled_round_with_its_numbers_and_verdict(browser, explorer_url, settled_round,
                                                                          report):
    dom = browser.dom(explorer_url + "/")
    text = text_of(dom)
    round_id = settled_round.round_id
    assert f"Round {round_id}" in text and "Settled" in text and "PASS" in text
    assert nmr(report.summary["totalAtRiskWei"]) in text
    assert nmr(report.summary["burnedWei"]) in text and nmr(report.summary["rewardsWei"]) in text
    assert f"/round/{round_id}" in links_of(dom)


def test_round_page_shows_every_stake_signers_and_links(browser, explorer_url, settled_round, report, tmp_path):
    url = f"{explorer_url}/round/{settled_round.round_id}"
    dom = browser.dom(url)
    text = text_of(dom)
    links = links_of(dom)
    assert "PASS" in text and "No discrepancy" in text
    for row in report.stakes:
        assert f"/model/{row.model_id}" in links
        assert f"/address/{row.owner}" in links
        assert f"/tx/{row.tx_hash}" in links
        assert nmr(row.stake_wei) in text
        if row.payout_wei:
            assert nmr(row.payout_wei) in text
    good = settled_round.model_ids["good_a"]
    corr = next(r.corr_nanos for r in report.stakes if r.model_id == good)
    assert f"{corr / 1e9:+.6f}" in text
    assert text.count("INVALID") >= 3 and text.count("SCORED") >= 3
    for key in settled_round.signer_keys:
        assert f"/address/{key.address}" in links, "the signer set of the accepted results is listed"
    assert "2 of 3" in text and "challenge window" in text

    shot = browser.screenshot(url, tmp_path / "explorer-round.png")
    kept = PROJECT_ROOT / "reports" / "explorer"
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, kept / "explorer-round.png")
    print(f"screenshot of the round page: {kept / 'explorer-round.png'} (and {shot})")


def test_model_page_draws_the_chart_and_links_back(browser, explorer_url, settled_round, report, tmp_path):
    model_id = settled_round.model_ids["good_b"]
    url = f"{explorer_url}/model/{model_id}"
    dom = browser.dom(url)
    text = text_of(dom)
    row = next(r for r in report.stakes if r.model_id == model_id)
    assert re.search(r'<svg[^>]*id="model-chart"', dom), "the chart is on the page"
    points = re.search(r'id="earnings-line"[^>]*points="([^"]+)"', dom) or \
        re.search(r'points="([^"]+)"[^>]*id="earnings-line"', dom)
    assert points and len(points.group(1).split()) == 2, "one point before the first round, one per round"
    assert 'class="bar-corr"' in dom and 'class="bar-mmc"' in dom
    assert nmr(row.payout_wei) in text and row.payout_wei < 0, "the burn shows as a negative payout"
    assert f"/round/{settled_round.round_id}" in links_of(dom) and f"/address/{row.owner}" in links_of(dom)
    shot = browser.screenshot(url, tmp_path / "explorer-model.png", "1000,900")
    kept = PROJECT_ROOT / "reports" / "explorer"
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, kept / "explorer-model.png")
    print(f"screenshot of the model page: {kept / 'explorer-model.png'}")


def test_tx_and_address_pages_decode_the_events(browser, explorer_url, settled_round, report):
    row = next(r for r in report.stakes if r.model_id == settled_round.model_ids["good_a"])
    dom = browser.dom(f"{explorer_url}/tx/{row.tx_hash}")
    text = text_of(dom)
    assert "Settlement:" in text and "settle(" in text and f"{nmr(row.payout_wei)} NMR" in text
    assert f'title="{row.payout_wei}' not in dom and f"= {row.payout_wei} wei" in html.unescape(dom), \
        "amounts show in NMR, the exact wei only as a tooltip"
    assert f"/model/{row.model_id}" in links_of(dom) and f"/round/{settled_round.round_id}" in links_of(dom)
    dom = browser.dom(f"{explorer_url}/address/{row.owner}")
    text = text_of(dom)
    assert f"/model/{row.model_id}" in links_of(dom) and "deposit" in text and "1,000.0000 NMR" in text


def test_tampered_artifacts_show_fail_on_the_round_page(settled_round, tmp_path):
    world = settled_round.world
    folder = tmp_path / "rounds" / str(settled_round.round_id) / "artifacts"
    shutil.copytree(settled_round.artifacts_dir, folder)
    victim = settled_round.model_ids["good_c"]
    (folder / "submissions" / f"{victim}.csv").write_bytes(b"id,prediction\n")
    client = create_app(world.rpc_url, str(tmp_path), world.deployments_dir).test_client()
    page = text_of(client.get(f"/round/{settled_round.round_id}").get_data(as_text=True))
    assert "FAIL" in page and f"model {victim}: file:submissions/{victim}.csv" in page
    assert "FAIL" in text_of(client.get("/").get_data(as_text=True))
    assert client.get("/round/999").status_code == 404


def test_proposal_tx_and_an_unproposed_round_render(settled_round, report):
    """The propose transaction decodes (tuple and bytes[] calldata); a round without results and
    without artifacts renders with its phase and a "pending" audit (nothing to audit yet)."""
    from tournament.chain.devchain import chain_now

    world = settled_round.world
    client = create_app(world.rpc_url, None, world.deployments_dir).test_client()
    chain = read_chain_view(world.w3, world.deployment, settled_round.round_id)
    page = text_of(client.get(f"/tx/{chain.accepted.tx_hash}").get_data(as_text=True))
    assert "proposeResults" in page and "ResultsProposed" in page and "0x" + chain.accepted.results_root.hex() in page
    next_round = world.tournament.functions.lastRoundId().call() + 1  # (v2) round ids are consecutive
    now = chain_now(world.w3)
    live_ids_hash = world.w3.keccak(b"id\nnever-published\n")  # (v2) non-zero; no artifacts exist for it
    world.transactor(world.operator).transact(
        world.tournament.functions.openRound(next_round, now + 3600, now + 3600 + 86_400, live_ids_hash),
        "open round")
    response = client.get(f"/round/{next_round}")
    assert response.status_code == 200
    page = text_of(response.get_data(as_text=True))
    assert "Open" in page and "No results proposed yet" in page
    assert "pending" in page and "PASS" not in page, "an open round with nothing to audit is not a green PASS"
    assert f"Round {next_round}" in text_of(client.get("/").get_data(as_text=True))
