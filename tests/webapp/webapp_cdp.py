"""Headless Chromium driven through its DevTools protocol (CDP) with the `websockets` package.

No selenium and no chromedriver: Chromium is started with `--remote-debugging-port=0`, the
port is read from the profile's DevToolsActivePort file, and one page target is driven over a
synchronous websocket: scripts injected before the page's own (the test wallet), navigation,
JavaScript evaluation, file inputs, screenshots. Everything a test needs fits in this file.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import pytest
from websockets.sync.client import connect

INSTALL_HINT = ("headless Chromium is needed for the web app's browser tests: "
                "`sudo apt-get update && sudo apt-get install -y chromium` (Debian/Ubuntu)")


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(INSTALL_HINT)


class BrowserError(AssertionError):
    pass


class Chromium:
    """One headless Chromium process with one page, driven over CDP."""

    def __init__(self, profile: Path, *, width: int = 1280, height: int = 1600):
        self.profile = profile
        self.process = subprocess.Popen(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--remote-debugging-port=0", "--remote-allow-origins=*",
             f"--window-size={width},{height}", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.port = self._devtools_port()
        self.ws = connect(self._page_socket(), max_size=64 * 1024 * 1024, open_timeout=20)
        self._id = 0
        self.events: list[dict] = []
        self._scripts: list[str] = []
        for domain in ("Page", "Runtime", "DOM"):
            self.send(f"{domain}.enable")

    # ------------------------------------------------------------------ plumbing
    def _devtools_port(self, timeout_s: float = 30.0) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited: {self.process.stderr.read().decode(errors='replace')[-2000:]}")
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            time.sleep(0.1)
        raise BrowserError("chromium did not open its DevTools port")

    def _page_socket(self) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=5) as answer:
                pages = [t for t in json.load(answer) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise BrowserError("chromium has no page target")

    def send(self, method: str, params: Optional[dict] = None, timeout_s: float = 60.0) -> dict:
        self._id += 1
        wanted = self._id
        self.ws.send(json.dumps({"id": wanted, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout_s
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    # ------------------------------------------------------------------ the page
    def inject(self, source: str) -> str:
        """Runs `source` in every new document before any of the page's scripts."""
        return self.send("Page.addScriptToEvaluateOnNewDocument", {"source": source})["identifier"]

    def remove_injected(self, identifier: str) -> None:
        self.send("Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier})

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'")

    def eval(self, expression: str, *, await_promise: bool = True) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": await_promise,
                                                "returnByValue": True, "userGesture": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"page error in {expression[:80]!r}: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 30.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.1)
        raise BrowserError(f"timed out waiting for {what or expression}; status line: {self.text('#status')!r}; "
                           f"page errors: {self.page_errors()}")

    def page_errors(self) -> list[str]:
        """Uncaught exceptions and console errors the page reported so far (for failure messages)."""
        out = []
        for event in self.events:
            if event.get("method") == "Runtime.exceptionThrown":
                details = event["params"]["exceptionDetails"]
                out.append(details.get("exception", {}).get("description") or details.get("text", ""))
            elif event.get("method") == "Runtime.consoleAPICalled" and event["params"]["type"] in ("error", "warning"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in event["params"]["args"]))
        return out

    def text(self, selector: str) -> str:
        return self.eval(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''")

    def body_text(self) -> str:
        return self.eval("document.body.innerText")

    def fill(self, selector: str, value: str) -> None:
        self.eval(f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
            el.value = {json.dumps(value)}; el.dispatchEvent(new Event('input', {{bubbles: true}}));
            el.dispatchEvent(new Event('change', {{bubbles: true}})); }})()""")

    def check(self, selector: str, checked: bool = True) -> None:
        self.eval(f"document.querySelector({json.dumps(selector)}).checked = {json.dumps(checked)}")

    def click(self, selector: str) -> None:
        self.eval(f"document.querySelector({json.dumps(selector)}).click()")

    def set_file(self, selector: str, path: Path) -> None:
        root = self.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(path)]})

    def screenshot(self, path: Path) -> Path:
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": 0, "y": 0, "width": size["width"],
                                                             "height": size["height"], "scale": 1}})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def until(condition: Callable[[], Any], timeout_s: float = 20.0, what: str = "a condition") -> Any:
    """Polls a Python-side condition (e.g. a chain read) until it is truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
