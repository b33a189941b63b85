"""Step 3, score and propose: turn the collected files into the round's artifacts, have them signed m-of-n, propose.

score: the stakes (collect.json), the files received (matching or not), the published live
ids, the targets and (v2) the upload receipts collect saved go into `protocol.round_scoring.score_round`, the one scoring every
co-signer, the watchtower and the auditor also run; it returns every artifact file's bytes,
the leaves, the root, `scoredAtRisk` and the manifest, and `write_artifacts` makes the
folder hold exactly those files, the manifest written last. Once the
round's results are proposed, score only checks that the folder is still what was proposed.

propose: re-reads the leaves from the intact folder, checks them against the staked models
on-chain and the EIP-712 digest against the contract's, gets `threshold` signatures from a
`SignatureSource` (co-signers over HTTP; local keys in dev/test), checks them with the
contract's rules and sends `proposeResults`, once per attempt.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

from eth_hash.auto import keccak

from tournament.operator.common import OperatorError, RoundStatus, StakeInfo, phase_label
from tournament.operator.context import StepContext
from tournament.operator.round_folder import RoundFolder
from tournament.operator.signatures import SignatureSource, SignRequest
from tournament.protocol import artifacts as art
from tournament.protocol.constants import LEAVES_NAME, RECEIPTS_NAME
from tournament.protocol.receipts import ReceiptError, SignedReceipt, parse_receipts
from tournament.protocol.results import SCORED, Leaf, ResultsTree, leaves_from_json
from tournament.protocol.round_scoring import RoundInputs, RoundScoring, RoundScoringError, StakeAtClose, score_round
from tournament.protocol.signing import Results, check_signatures, results_digest
from tournament.protocol.tables import TablesError

log = logging.getLogger(__name__)

__all__ = ["compute_scoring", "local_results", "propose", "scored_at_risk_wei", "score",
           "write_artifacts"]

ANSWERED = ("Proposed", "Accepted", "Settled")


# ------------------------------------------------------------------ scoring

def scored_at_risk_wei(leaves: Sequence[Leaf], stake_by_model: dict[int, int]) -> int:
    """Protocol v2: the sum of the stakes at close of the SCORED leaves."""
    return sum(int(stake_by_model[leaf.model_id]) for leaf in leaves if leaf.status == SCORED)


def compute_scoring(round_id: int, staked: Sequence[StakeInfo], files: dict[int, bytes], live_ids_bytes: bytes,
                    targets_bytes: bytes, receipts: Sequence = ()) -> RoundScoring:
    """The round's scoring: the shared `score_round` (operator, co-signers, watchtower and auditor run it)."""
    stakes = [StakeAtClose(s.model_id, s.owner, int(s.stake_wei), s.corr_mult, s.mmc_mult,
                           bytes.fromhex(s.submission_hash[2:])) for s in staked]
    try:
        return score_round(RoundInputs(round_id, stakes, dict(files), live_ids_bytes, targets_bytes, tuple(receipts)))
    except (RoundScoringError, TablesError) as error:
        raise OperatorError(f"round {round_id}: {error}") from None


def round_receipts(folder: RoundFolder, round_id: int) -> list[SignedReceipt]:
    """(v2) The round's upload receipts that collect saved from the submission API (none without the file)."""
    path = folder.path / RECEIPTS_NAME
    if not path.exists():
        return []
    try:
        return [r for r in parse_receipts(path.read_bytes(), str(path)) if r.receipt.round_id == round_id]
    except ReceiptError as error:
        raise OperatorError(f"{error}; rerun collect") from None


def write_artifacts(ctx: StepContext, folder: RoundFolder, scored: RoundScoring) -> bytes:
    """Makes the artifacts folder hold exactly the scoring's files and manifest; returns artifactsHash."""
    artifacts_dir = folder.artifacts
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(artifacts_dir.rglob("*")):
        relative = path.relative_to(artifacts_dir).as_posix()
        if path.is_file() and relative not in scored.files and relative != art.MANIFEST_NAME:
            log.info("removing %s from the artifacts (not part of this round's results)", path)
            path.unlink()
    for relative, content in sorted(scored.files.items()):
        target = artifacts_dir / relative
        if not target.exists() or target.read_bytes() != content:
            folder.write(f"artifacts/{relative}", content)
    ctx.point("score:before-manifest")
    folder.write(f"artifacts/{art.MANIFEST_NAME}", scored.manifest_bytes)  # last: it seals the folder
    return scored.artifacts_hash


def _check_proposed_folder(ctx: StepContext, round_id: int, phase: str, attempt: int) -> RoundStatus:
    artifacts_dir = ctx.folder(round_id).artifacts
    proposal = ctx.chain.current_proposal(round_id, attempt)
    if proposal is None or not (artifacts_dir / art.MANIFEST_NAME).exists():
        raise OperatorError(f"round {round_id} is {phase} but its artifacts are not in {artifacts_dir}; "
                            "restore the published folder")
    problems = art.verify_folder(artifacts_dir, proposal["artifactsHash"], round_id)
    if problems:
        raise OperatorError(f"{artifacts_dir}: differs from the artifacts proposed on-chain; problems: {problems[:3]}")
    return ctx.status(round_id, ["results already proposed; artifacts match"], "")


def score(ctx: StepContext, round_id: int, targets_path: Union[str, Path, None] = None) -> RoundStatus:
    """Validates and scores the collected files; writes the artifacts folder, leaves and manifest."""
    folder = ctx.folder(round_id)
    phase = ctx.chain.phase(round_id)
    if phase == "None":
        raise OperatorError(f"round {round_id} is not opened on this deployment: nothing to score")
    info = ctx.chain.get_round(round_id)
    if phase in ANSWERED:
        return _check_proposed_folder(ctx, round_id, phase, info.attempt)
    targets_local = folder.path / art.TARGETS_NAME
    if targets_path is not None:
        raw_targets = Path(targets_path).read_bytes()
        if not targets_local.exists() or targets_local.read_bytes() != raw_targets:
            folder.write(art.TARGETS_NAME, raw_targets)
    if not targets_local.exists():
        raise OperatorError(f"round {round_id}: no targets; pass --targets FILE (id,target)")
    staked = folder.collected()
    if len(staked) != info.staked_count:
        raise OperatorError(f"round {round_id}: {len(staked)} stakes collected, {info.staked_count} on-chain; "
                            "rerun collect")
    files = folder.received_files(staked)
    for s in staked:
        if s.file is not None and "0x" + keccak(files[s.model_id]).hex() != s.submission_hash:
            raise OperatorError(f"{folder.artifacts / s.file}: changed since collect; rerun collect")
    scored = compute_scoring(round_id, staked, files, folder.live_ids_path.read_bytes(), targets_local.read_bytes(),
                             round_receipts(folder, round_id))
    digest = write_artifacts(ctx, folder, scored)
    root = "0x" + scored.results_root.hex() if scored.results_root else None
    folder.note(scored={"artifactsHash": "0x" + digest.hex(), "resultsRoot": root, "leafCount": scored.leaf_count,
                        "scoredAtRisk": str(scored.scored_at_risk_wei)})
    ctx.point("score:done")
    n_scored = sum(1 for o in scored.outcomes if o.scored)
    return ctx.status(round_id, [f"scored {n_scored}/{scored.leaf_count} stakes, "
                                 f"artifactsHash 0x{digest.hex()}"], "propose")


# ------------------------------------------------------------------ propose (the step)

def local_results(ctx: StepContext, round_id: int) -> tuple[list[Leaf], ResultsTree, bytes]:
    """The leaves, tree and artifactsHash of the intact local artifacts folder."""
    artifacts_dir = ctx.folder(round_id).artifacts
    manifest = artifacts_dir / art.MANIFEST_NAME
    if not manifest.exists():
        raise OperatorError(f"round {round_id}: no scored artifacts in {artifacts_dir}; run score first")
    problems = art.verify_folder(artifacts_dir, expected_round_id=round_id)
    if problems:
        raise OperatorError(f"{artifacts_dir}: not intact ({problems[0]}); rerun score")
    leaves = leaves_from_json((artifacts_dir / LEAVES_NAME).read_bytes())   # the one leaves codec
    return leaves, ResultsTree(leaves, round_id), art.artifacts_hash(manifest.read_bytes())


def _results(round_id: int, attempt: int, tree: ResultsTree, at_risk_wei: int, artifacts_digest: bytes,
             version: int) -> tuple[Results, tuple]:
    """The signed struct and its ABI tuple for the contract (the one place that knows the struct's fields)."""
    results = Results(round_id, attempt, tree.root, tree.leaf_count, at_risk_wei, artifacts_digest, version)
    return results, results.as_tuple()


def propose(ctx: StepContext, signatures: Optional[SignatureSource], round_id: int,
            artifacts_url: Optional[str] = None) -> RoundStatus:
    """Gets the results signed m-of-n (EIP-712, the contract's own domain) and proposes them, once per attempt."""
    phase = ctx.chain.phase(round_id)
    if phase in ANSWERED:
        return ctx.status(round_id, [f"already {phase}"], "settle after the challenge window")
    if phase != "Resolvable":
        raise OperatorError(f"round {round_id} is {phase_label(phase)}: results can be proposed only when it is "
                            "Resolvable")
    ctx.settle_pending()
    if ctx.chain.phase(round_id) != "Resolvable":  # a pending proposal of an earlier run was just mined
        return ctx.status(round_id, ["an earlier proposal was mined"], "settle after the challenge window")
    if signatures is None:
        raise OperatorError("propose needs co-signers (--signer URL, repeatable) or, for dev/test only, "
                            "--local-signer-keys")
    info = ctx.chain.get_round(round_id)
    leaves, tree, artifacts_digest = local_results(ctx, round_id)
    stakes = ctx.chain.stakes_at_close(round_id)
    if [x.model_id for x in leaves] != [s.model_id for s in stakes]:
        raise OperatorError(f"round {round_id}: the leaves' models differ from the staked models on-chain; "
                            "rerun collect and score")
    at_risk = scored_at_risk_wei(leaves, {s.model_id: s.stake_wei for s in stakes})
    signers, threshold, version = ctx.chain.signer_set()
    domain = ctx.chain.domain()
    results, results_tuple = _results(round_id, info.attempt, tree, at_risk, artifacts_digest, version)
    if ctx.chain.results_digest(results_tuple) != results_digest(domain, results):
        raise OperatorError("the contract's resultsDigest differs from the EIP-712 digest computed here; "
                            "the oracle and the contract disagree on the typed data")
    for earlier in ctx.chain.proposals(round_id):
        if bytes(earlier["resultsRoot"]) == tree.root and bytes(earlier["artifactsHash"]) == artifacts_digest:
            log.warning("round %s: proposing the same results as vetoed attempt %s; re-score first if the veto "
                        "pointed at a real problem", round_id, earlier["attempt"])
    report = signatures.collect(SignRequest(domain, results, artifacts_url), signers, threshold)
    signed = report.signatures()
    problems = check_signatures(domain, results, signed, signers, threshold)
    if problems:
        raise OperatorError(f"round {round_id}: the contract would refuse these signatures: {problems[0]}")
    receipt = ctx.transact(ctx.calls.propose_results(results_tuple, signed),
                           f"proposing round {round_id} attempt {info.attempt}", round_id, "propose:sent")
    events = ctx.calls.receipt_events(receipt, "ResultsProposed")
    if not events or bytes(events[0]["resultsRoot"]) != tree.root:
        raise OperatorError(f"round {round_id}: the proposal's receipt has no matching ResultsProposed event")
    ctx.folder(round_id).note(proposals={str(info.attempt): {
        "tx": "0x" + bytes(receipt["transactionHash"]).hex(), "resultsRoot": tree.root_hex,
        "signers": [o.signer for o in report.signed], "refusals": [o.line() for o in report.failures]}})
    ctx.point("propose:done")
    end = int(events[0]["challengeEnd"])
    actions = [f"proposed attempt {info.attempt} (root {tree.root_hex})"]
    if report.failures:
        actions.append("signers that did not sign: " + "; ".join(o.line() for o in report.failures))
    return ctx.status(round_id, actions, f"settle after the challenge window ends at {end}")
