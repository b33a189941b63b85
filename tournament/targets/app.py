"""The targets source as an HTTP service (the demo's "market data" service).

`GET /v1/rounds/{round}/targets` answers the published bytes (200, `X-Targets-Hash` header
with their keccak256), 404 until the round's targets are published; `GET /health`. It only
reads the folder: publishing is `tournament targets publish` (or `TargetsStore.publish`),
so the server needs no write access and can sit behind any static cache.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Union

from eth_hash.auto import keccak
from flask import Flask, Response, jsonify
from flask.typing import ResponseReturnValue

from tournament.targets.store import TargetsError, TargetsStore

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(directory: Union[str, Path]) -> Flask:
    """A WSGI app serving the targets published in `directory`."""
    store = TargetsStore(directory)
    app = Flask("tournament.targets")

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "directory": str(store.directory)})

    @app.get("/v1/rounds/<int:round_id>/targets")
    def targets(round_id: int) -> ResponseReturnValue:
        try:
            path = store.path(round_id)
        except TargetsError as error:
            log.error("%s", error)
            return jsonify({"error": str(error)}), 500
        if path is None:
            return jsonify({"error": f"round {round_id}: targets not published yet"}), 404
        raw = path.read_bytes()
        mimetype = "application/vnd.apache.parquet" if path.suffix == ".parquet" else "text/csv"
        return Response(raw, mimetype=mimetype, headers={
            "X-Targets-Hash": "0x" + keccak(raw).hex(),
            "Content-Disposition": f"inline; filename=round-{round_id}-{path.name}"})

    @app.errorhandler(404)
    def not_found(_error):
        return jsonify({"error": "not found; the targets are at /v1/rounds/<round>/targets"}), 404

    return app
