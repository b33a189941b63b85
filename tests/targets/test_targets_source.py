"""The targets source: publish (write-once), serve over HTTP (404 until published), fetch from URL/folder/file."""
from __future__ import annotations

import socket
import threading

import pytest
from click.testing import CliRunner
from eth_hash.auto import keccak

from tournament.cli.main import main
from tournament.targets.app import create_app
from tournament.targets.client import TargetsNotPublished, TargetsSourceError, fetch_targets
from tournament.targets.store import TargetsError, TargetsStore

TARGETS = b"id,target\na,0.0\nb,0.25\nc,0.5\nd,1.0\n"


def test_publish_then_fetch_from_folder_returns_the_exact_bytes(tmp_path):
    store = TargetsStore(tmp_path)
    path, written = store.publish(7, TARGETS)
    assert written and path == tmp_path / "7" / "targets.csv"
    assert fetch_targets(tmp_path, 7) == TARGETS
    assert fetch_targets(f"file://{tmp_path}", 7) == TARGETS


def test_publishing_the_same_bytes_again_is_a_no_op_and_other_bytes_are_refused(tmp_path):
    store = TargetsStore(tmp_path)
    store.publish(7, TARGETS)
    assert store.publish(7, TARGETS)[1] is False
    with pytest.raises(TargetsError, match="already published .* published targets never change"):
        store.publish(7, TARGETS.replace(b"a,0.0", b"a,1.0"))
    assert store.get(7) == TARGETS


@pytest.mark.parametrize("raw, message", [
    (b"id,score\na,0\nb,1\n", "expected id,target"),
    (b"id,target\na,0.3\nb,1\n", "target 0.3 of id a is not one of"),
    (b"id,target\na,0\na,1\n", "id a appears more than once"),
    (b"id,target\na,0\n", "at least two ids"),
])
def test_publish_refuses_files_that_are_not_targets(tmp_path, raw, message):
    with pytest.raises(TargetsError, match=message):
        TargetsStore(tmp_path).publish(3, raw)
    assert TargetsStore(tmp_path).get(3) is None


def test_fetch_before_publication_says_not_published(tmp_path):
    with pytest.raises(TargetsNotPublished, match="round 9's targets are not published yet"):
        fetch_targets(tmp_path, 9)
    with pytest.raises(TargetsSourceError, match="no such folder or file"):
        fetch_targets(tmp_path / "nowhere", 9)


def test_a_single_file_source_is_returned_whatever_the_round(tmp_path):
    file = tmp_path / "t.csv"
    file.write_bytes(TARGETS)
    assert fetch_targets(file, 1) == TARGETS == fetch_targets(str(file), 99)


def test_app_answers_404_until_published_then_the_bytes_with_their_hash(tmp_path):
    client = create_app(tmp_path).test_client()
    response = client.get("/v1/rounds/5/targets")
    assert response.status_code == 404 and "not published" in response.get_json()["error"]
    TargetsStore(tmp_path).publish(5, TARGETS)
    response = client.get("/v1/rounds/5/targets")
    assert response.status_code == 200 and response.data == TARGETS
    assert response.headers["X-Targets-Hash"] == "0x" + keccak(TARGETS).hex()
    assert client.get("/health").get_json()["status"] == "ok"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_fetch_targets_over_http_from_a_waitress_server(tmp_path):
    from waitress.server import create_server

    TargetsStore(tmp_path).publish(11, TARGETS)
    port = _free_port()
    server = create_server(create_app(tmp_path), host="127.0.0.1", port=port, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert fetch_targets(f"http://127.0.0.1:{port}", 11) == TARGETS
        assert fetch_targets(f"http://127.0.0.1:{port}/v1/rounds/{{round}}/targets", 11) == TARGETS
        with pytest.raises(TargetsNotPublished):
            fetch_targets(f"http://127.0.0.1:{port}", 12)
    finally:
        server.close()
        thread.join(timeout=5)


def test_fetch_from_a_dead_url_is_one_clear_error():
    with pytest.raises(TargetsSourceError, match="unreachable .* after 2 attempts"):
        fetch_targets(f"http://127.0.0.1:{_free_port()}", 1, attempts=2, base_delay_s=0.01, timeout_s=1)


def test_cli_publish_and_fetch(tmp_path):
    file = tmp_path / "round.csv"
    file.write_bytes(TARGETS)
    runner = CliRunner()
    result = runner.invoke(main, ["targets", "publish", "--round", "4", str(file), "--dir", str(tmp_path / "pub")])
    assert result.exit_code == 0, result.output
    assert "round 4: targets published" in result.output
    result = runner.invoke(main, ["targets", "fetch", "--round", "4", "--source", str(tmp_path / "pub")])
    assert result.exit_code == 0 and result.stdout_bytes == TARGETS
    file.write_bytes(TARGETS.replace(b"d,1.0", b"d,0.75"))
    result = runner.invoke(main, ["targets", "publish", "--round", "4", str(file), "--dir", str(tmp_path / "pub")])
    assert result.exit_code == 1 and "published targets never change" in result.output
    assert "Traceback" not in result.output
