"""The co-signer over real HTTP (waitress): sign, refuse, /health, /metrics, protocol status codes."""
from __future__ import annotations

import socket
import threading

import pytest
import requests

from tournament.signer.app import create_app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(world):
    from waitress.server import create_server

    service = world.service()
    port = _free_port()
    server = create_server(create_app(service), host="127.0.0.1", port=port, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", service
    server.close()
    thread.join(timeout=5)


def test_sign_refuse_health_and_metrics_over_http(world, served):
    url, service = served
    honest = world.publish()
    response = requests.post(f"{url}/v1/sign", json=honest, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["signer"] == world.signer_account.address
    assert response.json()["results"] == honest["results"]

    other = world.publish(scored_at_risk=1)
    response = requests.post(f"{url}/v1/sign", json=other, timeout=60)
    assert response.status_code == 409
    assert "already signed other results" in response.json()["refused"]

    response = requests.post(f"{url}/v1/sign", data="not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400 and "JSON" in response.json()["error"]

    health = requests.get(f"{url}/health", timeout=10).json()
    assert health == {"status": "ok", "signer": world.signer_account.address, "chain_id": 31337,
                      "tournament": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}

    metrics = requests.get(f"{url}/metrics", timeout=10)
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    text = metrics.text
    assert 'tournament_signer_requests_total{endpoint="sign"} 3.0' in text
    assert "tournament_signer_signed_total 1.0" in text
    assert "tournament_signer_refused_total 1.0" in text
    assert 'tournament_signer_decisions_total{decision="bad_request"}' not in text  # Flask answered it, not the service
    assert "tournament_signer_recompute_seconds_count 1.0" in text

    assert requests.get(f"{url}/nowhere", timeout=10).status_code == 404
    assert requests.get(f"{url}/v1/sign", timeout=10).status_code == 405


def test_cli_signer_serve_refuses_two_key_sources_in_one_line():
    from click.testing import CliRunner

    from tournament.cli.main import main

    result = CliRunner().invoke(main, ["signer", "serve", "--rpc", "http://127.0.0.1:1", "--submissions-url", "x",
                                       "--targets-source", "y", "--port", "1", "--key-env", "A",
                                       "--sign-command", "b"])
    assert result.exit_code == 1
    assert "give exactly one signer key source" in result.output and "Traceback" not in result.output
