"""The co-signer service: recompute a round independently, then sign its results or say why not.

One process holds one signer key. Asked over HTTP to sign (round, attempt, results) for an
artifacts URL, it reads the stakes and commitments from the chain at a confirmed block, the
live ids (checked against `liveIdsHash`), every committed file from the submission service
(checked against its hash and the upload receipts) and the targets from the targets source,
scores them with the shared round scoring, and signs only if its own root, leaf count,
`scoredAtRisk` and `artifactsHash` equal the request's. Modules: `chain` (what it reads from
the chain, an adapter until tournament.chain.reader lands), `gather` (the off-chain inputs),
`recompute` (the bridge to the shared round scoring), `decision` (pure: sign or the first
mismatch), `ledger` (what it signed, persisted before answering), `service` (one request end
to end, the decision log and metrics) and `app` (the HTTP handlers).
"""
