"""Submission sources: the content-addressed folder and the submission API over HTTP."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from eth_hash.auto import keccak

from tournament.operator.sources import FolderSource, HttpSource, SourceError, open_source

FILE = b"id,prediction\na,0.1\nb,0.9\n"
DIGEST = keccak(FILE)


def test_folder_source_reads_by_commitment_and_misses_cleanly(tmp_path):
    (tmp_path / ("0x" + DIGEST.hex())).write_bytes(FILE)
    source = open_source(str(tmp_path))
    assert isinstance(source, FolderSource)
    assert source.fetch(1, 5, DIGEST) == FILE
    assert source.fetch(1, 5, keccak(b"other")) is None


@pytest.fixture
def api():
    calls = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            calls["n"] += 1
            parts = self.path.strip("/").split("/")   # v1 rounds R models M submission
            round_id, model_id = int(parts[2]), int(parts[4])
            if round_id == 9:
                self.send_response(403)
                self.end_headers()
            elif model_id == 1:
                self.send_response(200)
                self.send_header("X-Submission-Hash", "0x" + DIGEST.hex())
                self.end_headers()
                self.wfile.write(FILE)
            elif model_id == 2 and calls["n"] <= 2:   # flaky: 503 once, then fine
                self.send_response(503)
                self.end_headers()
            elif model_id == 2:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(FILE)
            else:
                self.send_response(404)
                self.end_headers()

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", calls
    server.shutdown()


def test_http_source_fetches_404s_retries_and_refuses_open_rounds(api):
    url, calls = api
    source = open_source(url)
    assert isinstance(source, HttpSource)
    source.base_delay_s = 0.01
    assert source.fetch(1, 1, DIGEST) == FILE
    assert source.fetch(1, 2, DIGEST) == FILE        # after one 503
    assert source.fetch(1, 3, DIGEST) is None
    with pytest.raises(SourceError, match="still open"):
        source.fetch(9, 1, DIGEST)


def test_http_source_gives_up_with_a_message():
    source = HttpSource("http://127.0.0.1:9", attempts=2, base_delay_s=0.01, timeout_s=1)
    with pytest.raises(SourceError, match="after 2 attempts"):
        source.fetch(1, 1, DIGEST)


def test_open_source_rejects_what_is_neither_folder_nor_url(tmp_path):
    with pytest.raises(SourceError, match="not a folder or an http"):
        open_source(str(tmp_path / "nope"))
