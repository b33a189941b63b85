"""The targets source: where each round's targets are published at resolution, apart from the operator.

Protocol v2: every signer, the watchtower and any auditor read a round's targets from this
source themselves, never from the operator's copy. `store` keeps the published files in a
folder (one per round, never replaced once published), `app` serves them over HTTP
(`GET /v1/rounds/{round}/targets`, 404 until published), and `client.fetch_targets` reads
them from an http(s) URL or a local folder or file.
"""
