"""The co-signer's decision, pure: sign these results, or the first thing that differs.

`parse_request` checks the JSON of POST /v1/sign (400 on anything malformed).
`check_chain_state` compares the request with the round on-chain: phase (503 while not yet
Resolvable at the confirmed block), attempt and signer set version (the current ones), and
that this signer is in the set. `compare` is the signing rule: the request's root, leaf
count, scoredAtRisk and artifactsHash must equal the signer's own. `explain` turns a
mismatch into one line naming the first difference; it may look at the operator's artifacts
to say WHAT differs, but the decision never depends on them.
"""
from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from eth_hash.auto import keccak

from tournament.protocol import units
from tournament.protocol.results import INVALID, SCORED
from tournament.protocol.signing import Results, SigningError
from tournament.signer.chain import RoundOnChain

if TYPE_CHECKING:
    from tournament.protocol.round_scoring import RoundScoring

__all__ = ["Evidence", "NotReady", "Refusal", "RequestError", "SignRequest", "check_chain_state", "compare",
           "explain", "format_nmr", "parse_request"]

STATUS: dict[int, str] = {SCORED: "SCORED", INVALID: "INVALID"}
_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")


class RequestError(ValueError):
    """A malformed request (HTTP 400)."""


class Refusal(Exception):
    """The signer will not sign these results (HTTP 409); the message is the first mismatch."""


class NotReady(Exception):
    """The signer cannot decide yet (HTTP 503, retryable): round not Resolvable, a source down."""


def format_nmr(amount_wei: int) -> str:
    """`123.5 NMR`: exact, no trailing zeros (tournament.protocol.units.format_nmr)."""
    return units.format_nmr(amount_wei, unit=True)


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


@dataclass(frozen=True)
class SignRequest:
    round_id: int
    attempt: int
    artifacts_url: Optional[str]
    results: Results


def _int(payload: Mapping, name: str, low: int, high: int) -> int:
    value = payload.get(name)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
        raise RequestError(f"{name} must be an integer in [{low}, {high}), got {value!r}")
    return value


def _bytes32(payload: Mapping, name: str) -> bytes:
    value = payload.get(name)
    if not isinstance(value, str) or not _HEX32.match(value):
        raise RequestError(f"{name} must be 0x followed by 64 hex digits, got {value!r}")
    return bytes.fromhex(value[2:])


def parse_request(payload: Any) -> SignRequest:
    """The request of POST /v1/sign (see SIGNER_PROTOCOL.md); RequestError names the first problem."""
    if not isinstance(payload, dict):
        raise RequestError("the body must be a JSON object {round_id, attempt, artifacts_url, results}")
    round_id = _int(payload, "round_id", 1, 2**32)
    attempt = _int(payload, "attempt", 0, 2**32)
    url = payload.get("artifacts_url")
    if url is not None and not isinstance(url, str):
        raise RequestError(f"artifacts_url must be a string, got {url!r}")
    body = payload.get("results")
    if not isinstance(body, dict):
        raise RequestError("results must be an object {round_id, attempt, results_root, leaf_count, "
                           "scored_at_risk, artifacts_hash, signer_set_version}")
    try:
        results = Results(
            round_id=_int(body, "round_id", 1, 2**32), attempt=_int(body, "attempt", 0, 2**32),
            results_root=_bytes32(body, "results_root"), leaf_count=_int(body, "leaf_count", 0, 2**32),
            scored_at_risk=_int(body, "scored_at_risk", 0, 2**128),
            artifacts_hash=_bytes32(body, "artifacts_hash"),
            signer_set_version=_int(body, "signer_set_version", 0, 2**64))
    except SigningError as error:
        raise RequestError(str(error)) from None
    if (results.round_id, results.attempt) != (round_id, attempt):
        raise RequestError(f"results are for round {results.round_id} attempt {results.attempt}, the request for "
                           f"round {round_id} attempt {attempt}")
    return SignRequest(round_id, attempt, url, results)


def results_json(results: Results) -> dict:
    """Results in the protocol's JSON form (scored_at_risk as a decimal string)."""
    return {"round_id": results.round_id, "attempt": results.attempt, "results_root": _hex(results.results_root),
            "leaf_count": results.leaf_count, "scored_at_risk": str(results.scored_at_risk),
            "artifacts_hash": _hex(results.artifacts_hash), "signer_set_version": results.signer_set_version}


def check_chain_state(request: SignRequest, chain: RoundOnChain, signer_address: str) -> None:
    """Refusal or NotReady unless the round is Resolvable at this attempt and signer set version."""
    where = f"round {request.round_id}"
    at = f"at confirmed block {chain.block_number}"
    if chain.phase in ("None", "Open", "Closed"):
        raise NotReady(f"{where} is {chain.phase} {at}; results can be signed once it is Resolvable")
    if chain.phase != "Resolvable":
        raise Refusal(f"{where} is {chain.phase} {at}; only a Resolvable round's results are signed")
    if request.attempt > chain.attempt:
        raise NotReady(f"{where}: attempt {request.attempt} is ahead of the chain's attempt {chain.attempt} {at}; "
                       "retry once the veto is confirmed")
    if request.attempt < chain.attempt:
        raise Refusal(f"{where}: attempt {request.attempt} is not the current attempt {chain.attempt}")
    version = request.results.signer_set_version
    if version != chain.signer_set_version:
        raise Refusal(f"signer_set_version {version}, expected {chain.signer_set_version} (current {at})")
    if int(signer_address, 16) not in {int(a, 16) for a in chain.signers}:
        raise Refusal(f"this signer {signer_address} is not in the current signer set (version "
                      f"{chain.signer_set_version}); its signature would not count")
    if chain.live_ids_hash is None:
        raise Refusal(f"{where}: the contract has no liveIdsHash (protocol v1); the live ids cannot be checked")


def compare(requested: Results, root: bytes, leaf_count: int, scored_at_risk_wei: int, artifacts_hash: bytes) -> Optional[str]:
    """The first of the four signed fields that differs from the signer's own, or None (sign)."""
    if requested.results_root != root:
        return f"results_root {_hex(requested.results_root)}, expected {_hex(root)}"
    if requested.leaf_count != leaf_count:
        return f"leaf_count {requested.leaf_count}, expected {leaf_count}"
    if requested.scored_at_risk != scored_at_risk_wei:
        return (f"scored_at_risk {format_nmr(requested.scored_at_risk)}, expected {format_nmr(scored_at_risk_wei)}")
    if requested.artifacts_hash != artifacts_hash:
        return f"artifacts_hash {_hex(requested.artifacts_hash)}, expected {_hex(artifacts_hash)}"
    return None


@dataclass(frozen=True)
class Evidence:
    """What the signer gathered itself, to explain a mismatch: per model its stake, hash, file, receipt."""

    stakes: Sequence                      # StakeCommit: model_id, stake_wei, submission_hash
    files: Mapping[int, bytes]            # committed files the submission service served
    receipt_models: frozenset             # models with a usable receipt of their committed hash
    live_ids_raw: bytes
    targets_raw: bytes


def _artifact_leaves(raw: bytes) -> Optional[list[tuple[int, int, int, int]]]:
    try:
        rows = json.loads(raw)
        return [(int(r["modelId"]), int(r["status"]), int(r["corr"]), int(r["mmc"])) for r in rows]
    except (ValueError, KeyError, TypeError):
        return None


def _ids_count(raw: bytes) -> int:
    return max(0, len([line for line in io.BytesIO(raw).read().splitlines() if line.strip()]) - 1)


def _submission_files(artifacts: Mapping[str, bytes]) -> dict[int, tuple[str, bytes]]:
    out = {}
    for path, raw in artifacts.items():
        match = re.fullmatch(r"submissions/(\d+)\.[A-Za-z0-9]+", path)
        if match:
            out[int(match.group(1))] = (path, raw)
    return out


def _find(artifacts: Mapping[str, bytes], stem: str) -> Optional[tuple[str, bytes]]:
    for path in sorted(artifacts):
        if path.split("/")[-1].rsplit(".", 1)[0] == stem and "/" not in path:
            return path, artifacts[path]
    return None


def explain(requested: Results, mine: RoundScoring, evidence: Evidence, artifacts: Optional[Mapping[str, bytes]],
            artifacts_problem: str = "") -> str:
    """One line: the first difference between the request and the signer's own results.

    `mine` is the signer's RoundScoring. With the operator's artifacts (path -> bytes) the line
    names the input, leaf or file that differs, in this order: live ids, targets, each staked
    model (its file, its leaves, status, scores), leaves of unstaked models, scoredAtRisk,
    leaf count, root, then the first artifacts file that differs. Without artifacts it names
    the first signed field that differs.
    """
    own_root = mine.results_root or b"\x00" * 32
    summary = compare(requested, own_root, mine.leaf_count, mine.scored_at_risk_wei, mine.artifacts_hash)
    if summary is None:
        return "no difference"
    if not artifacts:
        return summary + (f" (artifacts unavailable: {artifacts_problem})" if artifacts_problem else "")
    live = _find(artifacts, "live_ids")
    if live is not None and live[1] != evidence.live_ids_raw:
        return (f"live ids differ from the round's liveIdsHash (the artifacts' {live[0]} has {_ids_count(live[1])} "
                f"ids and keccak256 {_hex(keccak(live[1]))}; the committed file has {_ids_count(evidence.live_ids_raw)})")
    targets = _find(artifacts, "targets")
    if targets is not None and targets[1] != evidence.targets_raw:
        return (f"targets differ from the targets source (the artifacts' {targets[0]} has keccak256 "
                f"{_hex(keccak(targets[1]))}, the source's {_hex(keccak(evidence.targets_raw))})")
    their_leaves = _artifact_leaves(artifacts.get("leaves.json", b"")) if "leaves.json" in artifacts else None
    their_files = _submission_files(artifacts)
    mine_by_model = {leaf.model_id: leaf for leaf in mine.leaves}
    stakes = sorted(evidence.stakes, key=lambda s: s.model_id)
    # Causes before consequences: files, leaf sets and statuses first (a withheld file changes
    # the meta model, hence every other model's mmc), scores afterwards.
    for stake in stakes:
        model = stake.model_id
        expected_hash = bytes(stake.submission_hash)
        have_file = evidence.files.get(model) is not None
        theirs_file = their_files.get(model)
        own_path = mine.outcome(model).file_path
        own_file = mine.files.get(own_path) if own_path else None
        if theirs_file is not None and theirs_file[1] != own_file:
            if keccak(theirs_file[1]) != expected_hash:
                return (f"model {model}: the artifacts' {theirs_file[0]} has keccak256 {_hex(keccak(theirs_file[1]))}, "
                        f"the stake committed to {_hex(expected_hash)}"
                        + (" (the submission service serves the committed file)" if have_file else ""))
            return (f"model {model}: the artifacts have the committed file {theirs_file[0]}, but the submission "
                    "service does not serve it")
        cause = ""
        if theirs_file is None and own_file is not None:
            cause = ("file with a valid receipt withheld" if model in evidence.receipt_models
                     else "file withheld; the submission service serves it")
        if their_leaves is None:
            if cause:
                return f"model {model}: artifacts have no file for a stake committed to {_hex(expected_hash)} ({cause})"
            continue
        found = [row for row in their_leaves if row[0] == model]
        if not found:
            return f"no leaf for model {model} (staked {format_nmr(stake.stake_wei)})"
        if len(found) > 1:
            return f"model {model} has {len(found)} leaves, expected 1"
        status = found[0][1]
        own = mine_by_model[model]
        if status != own.status:
            return (f"leaf of model {model}: status {STATUS.get(status, status)}, expected {STATUS[own.status]}"
                    + (f" ({cause})" if cause else ""))
        if cause:
            return f"model {model}: artifacts have no file for a stake committed to {_hex(expected_hash)} ({cause})"
    if their_leaves is not None:
        staked = {s.model_id for s in stakes}
        extra = [row[0] for row in their_leaves if row[0] not in staked]
        if extra:
            return f"leaf of model {extra[0]}: the model has no stake in round {requested.round_id} at close"
        for model, _status, corr, mmc in sorted(their_leaves):
            own = mine_by_model[model]
            if corr != own.corr_nanos:
                return f"leaf of model {model}: corr {corr} nanos, expected {own.corr_nanos} nanos"
            if mmc != own.mmc_nanos:
                return f"leaf of model {model}: mmc {mmc} nanos, expected {own.mmc_nanos} nanos"
    if requested.scored_at_risk != mine.scored_at_risk_wei:
        return (f"scored_at_risk {format_nmr(requested.scored_at_risk)}, "
                f"expected {format_nmr(mine.scored_at_risk_wei)}")
    if requested.leaf_count != mine.leaf_count:
        return f"leaf_count {requested.leaf_count}, expected {mine.leaf_count}"
    if requested.results_root != own_root:
        return f"results_root {_hex(requested.results_root)}, expected {_hex(own_root)} (the artifacts' leaves match mine)"
    for path in sorted(set(mine.files) | set(artifacts) - {"manifest.json"}):
        if path == "manifest.json":
            continue
        if mine.files.get(path) != artifacts.get(path):
            state = "missing from the artifacts" if path not in artifacts else (
                "not expected" if path not in mine.files else "differs")
            return f"artifacts_hash {_hex(requested.artifacts_hash)}, expected {_hex(mine.artifacts_hash)} ({path} {state})"
    return summary
