"""The explorer's browser tests: a tournament with a round in every state (explorer_world.py),
the explorer serving it on a free port, and one headless Chromium driven over its DevTools
protocol (tests/webapp/webapp_cdp.py). Screenshots go to reports/explorer/.
"""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(PROJECT_ROOT / "tests" / "webapp"))

from explorer_world import VERIFICATION_FILE, World, build_world  # noqa: E402
from webapp_cdp import Chromium  # noqa: E402

from tournament.auditor.explorer.app import create_app  # noqa: E402

SHOTS = PROJECT_ROOT / "reports" / "explorer"


@pytest.fixture(scope="module")
def world(deployed, tmp_path_factory) -> World:
    built = build_world(deployed, tmp_path_factory.mktemp("work"))
    # A verification input in the deployment folder, as a deployer would leave it for Etherscan/Sourcify.
    folder = Path(deployed.deployments_dir) / str(deployed.deployment.chain_id)
    folder.mkdir(exist_ok=True)
    (folder / VERIFICATION_FILE).write_text(json.dumps({"language": "Solidity", "sources": {}}))
    return built


@pytest.fixture(scope="module")
def app(world):
    d = world.deployed
    return create_app(d.rpc_url, str(world.work), d.deployments_dir)


@pytest.fixture(scope="module")
def explorer_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


class Page:
    """The one Chromium page: go to a URL and read what a person sees."""

    def __init__(self, chromium: Chromium, base: str):
        self.chromium, self.base = chromium, base

    def go(self, path: str) -> None:
        """Navigate and wait until the new document (not the previous one) has loaded."""
        self.chromium.eval("window.__old = true")
        self.chromium.send("Page.navigate", {"url": self.base + path})
        self.chromium.wait_for("!window.__old && document.readyState === 'complete'", what=f"{path} to load")

    def submit_search(self, text: str) -> None:
        self.chromium.eval("window.__old = true")
        self.chromium.fill("#search input[name=q]", text)
        self.chromium.click("#search button")
        self.chromium.wait_for("!window.__old && document.readyState === 'complete'", what=f"the search for {text!r}")

    def text(self, selector: str = "main") -> str:
        return " ".join((self.chromium.eval(
            f"(document.querySelector({json.dumps(selector)}) || {{innerText: ''}}).innerText") or "").split())

    def all(self, selector: str, expression: str = "e.innerText") -> list:
        return self.chromium.eval(f"Array.from(document.querySelectorAll({json.dumps(selector)})).map(e => {expression})")

    def path(self) -> str:
        return self.chromium.eval("location.pathname + location.search")

    def links(self) -> set[str]:
        return set(self.all("a[href]", "e.getAttribute('href')"))

    def shot(self, name: str) -> Path:
        return self.chromium.screenshot(SHOTS / name)


@pytest.fixture(scope="module")
def page(explorer_url, tmp_path_factory):
    chromium = Chromium(tmp_path_factory.mktemp("chromium"), width=1400, height=1000)
    yield Page(chromium, explorer_url)
    chromium.close()
