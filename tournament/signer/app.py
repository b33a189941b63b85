"""The co-signer's HTTP handlers (Flask, served by waitress): POST /v1/sign, GET /health, GET /metrics.

Thin: each handler parses, calls `SignerService`, answers JSON (or Prometheus text). The
protocol is /work/helpers/SIGNER_PROTOCOL.md (docs/SIGNER.md for users).
"""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tournament.signer.service import SignerService

__all__ = ["create_app", "serve"]

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024


def create_app(service: SignerService) -> Flask:
    app = Flask("tournament.signer")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    @app.post("/v1/sign")
    def sign():
        service.metrics.requests.labels("sign").inc()
        payload = request.get_json(silent=True)
        if payload is None:
            return jsonify({"error": "the body must be JSON (Content-Type: application/json)"}), 400
        status, body = service.handle_sign(payload)
        return jsonify(body), status

    @app.get("/health")
    def health():
        service.metrics.requests.labels("health").inc()
        try:
            return jsonify(service.health())
        except Exception as error:  # the chain is down: say so, do not crash
            return jsonify({"status": "error", "signer": service.signer.address, "error": str(error)}), 503

    @app.get("/metrics")
    def metrics():
        service.metrics.requests.labels("metrics").inc()
        return Response(generate_latest(service.metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.errorhandler(404)
    def not_found(_error):
        return jsonify({"error": "not found; endpoints: POST /v1/sign, GET /health, GET /metrics"}), 404

    @app.errorhandler(405)
    def not_allowed(_error):
        return jsonify({"error": "method not allowed; POST /v1/sign, GET /health, GET /metrics"}), 405

    @app.errorhandler(413)
    def too_large(_error):
        return jsonify({"error": f"request larger than {MAX_REQUEST_BYTES} bytes"}), 413

    return app


def serve(app: Flask, host: str, port: int, threads: int = 4) -> None:
    import waitress

    waitress.serve(app, host=host, port=port, threads=threads, ident="tournament-signer")
