"""The auditor: recompute a round from public data and compare it with what the chain says.

`verify_round(chain, artifacts)` is the pure core: `chain` is a `ChainView` (a plain record
of what the tournament's events and view calls say about one round), `artifacts` an
`ArtifactsView` (the published folder's bytes). It checks, in the order of the protocol:
the manifest against the on-chain `artifactsHash` and every file against the manifest; every
submission file against the hash its stake committed to; the scores recomputed with the
oracle's own scoring code against the posted leaves (2e-9 tolerance), the leaves against the
root, the leaf count against the staked count, the signatures against the signer set of that
version at its threshold; every `StakeSettled` against the protocol's integer payout to the
wei, burns against the round's totals and the token's supply, rewards against the reserve;
and that nothing is left unsettled or unrefunded past its timeout. Each discrepancy is a
`Finding` naming the stake (or the round), the field, the expected and the found values.
`read_chain_view` and `read_artifacts` are the I/O edges (web3 and files/HTTP); nothing in
the core trusts the operator's own notes.
"""
from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from tournament.protocol import payout as payout_math
from tournament.protocol.artifacts import (MANIFEST_NAME, SCORES_NAME, SUBMISSIONS_DIR, ArtifactsError, artifacts_hash,
                              file_entry, parse_manifest)
from tournament.protocol.results import INVALID, SCORED, Leaf, ResultsError, ResultsTree, leaves_from_json
from tournament.protocol.signing import Domain, Results, SigningError, check_signatures, recover_signer
from tournament.protocol.submissions import ValidationResult, submission_hash

__all__ = [
    "AuditReport", "ArtifactsView", "ChainView", "Finding", "ProposalView", "RefundView",
    "SettledView", "SignerSetView", "StakeRow", "StakeView", "SCORE_TOLERANCE",
    "read_artifacts", "read_chain_view", "verify_round",
]

log = logging.getLogger(__name__)

SCORE_TOLERANCE = 2e-9          # protocol: a posted score is accepted within 2e-9 of the float
NANOS = 1e-9
LEAVES_NAME = "leaves.json"
LIVE_IDS_NAME = "live_ids.csv"
TARGETS_NAME = "targets.csv"
META_MODEL_NAME = "meta_model.csv"
STATUS_NAMES = {SCORED: "SCORED", INVALID: "INVALID"}
ZERO32 = b"\x00" * 32
NMR_INITIAL_SUPPLY_WEI = 11_000_000 * 10**18   # protocol: minted once at deployment, never again


# ------------------------------------------------------------------ what was read

@dataclass
class StakeView:
    """A stake as the chain has it at close: last StakeChanged before close (and getStake)."""

    model_id: int
    owner: str
    stake_wei: int                      # StakeChanged.total of the last event
    corr_mult: int
    mmc_mult: int
    submission_hash: bytes              # latest non-zero commitment
    get_stake_wei: Optional[int] = None  # getStake(round, model).amount, for the cross-check
    closed: bool = False                # getStake(...).closed
    tx_hash: str = ""                   # the last StakeChanged


@dataclass
class ProposalView:
    """One ResultsProposed event plus the signatures read from its transaction's calldata."""

    attempt: int
    results_root: bytes
    artifacts_hash: bytes
    leaf_count: int
    payout_factor_wei: int
    reserve_wei: int
    challenge_end: int
    signer_set_version: int
    tx_hash: str = ""
    block_number: int = 0
    signatures: Optional[list[bytes]] = None       # None when the calldata could not be decoded
    calldata_results: Optional[dict] = None        # the Results struct as sent (roundId, ...)


@dataclass
class VetoView:
    attempt: int
    guardian: str
    reason: str
    tx_hash: str = ""


@dataclass
class SettledView:
    """One StakeSettled event."""

    model_id: int
    owner: str
    stake_wei: int
    status: int
    corr_nanos: int
    mmc_nanos: int
    payout_wei: int
    burned_wei: int
    tx_hash: str = ""


@dataclass
class RefundView:
    model_id: int
    owner: str
    amount_wei: int
    tx_hash: str = ""


@dataclass
class SignerSetView:
    version: int
    signers: list[str]
    threshold: int


@dataclass
class ChainView:
    """Everything the auditor read from the chain about one round (events and view calls)."""

    round_id: int
    chain_id: int
    tournament: str
    now: int                                # latest block timestamp
    phase: str
    close_time: int
    resolve_time: int
    config: dict                            # the round's snapshot: clipBps, stakeThreshold, ...
    staked_count: int                       # getRound
    total_at_risk_wei: int                  # getRound
    stakes: dict[int, StakeView] = field(default_factory=dict)
    proposals: list[ProposalView] = field(default_factory=list)
    vetoes: list[VetoView] = field(default_factory=list)
    signer_sets: dict[int, SignerSetView] = field(default_factory=dict)
    settled: dict[int, list[SettledView]] = field(default_factory=dict)   # model -> events (one, normally)
    refunds: dict[int, list[RefundView]] = field(default_factory=dict)
    round_settled: Optional[dict] = None    # RoundSettled: rewards, burned, reserveReleased
    # Token supply (whole tournament, not only this round): the fall must equal all burns.
    initial_supply_wei: Optional[int] = None
    total_supply_wei: Optional[int] = None
    tournament_burns_wei: Optional[int] = None     # sum of StakeSettled.burned over all rounds
    other_burns_wei: Optional[int] = None          # Transfer-to-zero not sent by the tournament

    @property
    def accepted(self) -> Optional[ProposalView]:
        """The proposal that counts: the last one after the last veto (None if vetoed or none)."""
        if not self.proposals:
            return None
        last = self.proposals[-1]
        vetoed = {v.attempt for v in self.vetoes}
        return None if last.attempt in vetoed else last


@dataclass
class ArtifactsView:
    """The published folder: relative POSIX path -> bytes (manifest.json included when present)."""

    files: dict[str, bytes]
    source: str = ""

    def get(self, path: str) -> Optional[bytes]:
        return self.files.get(path)


# ------------------------------------------------------------------ what is reported

@dataclass
class Finding:
    """One discrepancy. `model_id` None means the round as a whole."""

    round_id: int
    model_id: Optional[int]
    field: str
    expected: Any
    found: Any
    message: str

    def where(self) -> str:
        return f"round {self.round_id}" + (f" model {self.model_id}" if self.model_id is not None else "")

    def __str__(self) -> str:
        return (f"{self.where()}: {self.field}: expected {_show(self.expected)}, found {_show(self.found)}"
                f" ({self.message})")


@dataclass
class StakeRow:
    """One line of the per-stake table."""

    model_id: int
    owner: str
    stake_wei: int
    corr_mult: int
    mmc_mult: int
    status: str = ""                 # posted leaf status (SCORED/INVALID), "" if none
    corr_nanos: Optional[int] = None  # posted
    mmc_nanos: Optional[int] = None
    corr: Optional[float] = None     # recomputed
    mmc: Optional[float] = None
    expected_payout_wei: Optional[int] = None
    payout_wei: Optional[int] = None  # StakeSettled
    burned_wei: Optional[int] = None
    refunded_wei: Optional[int] = None
    tx_hash: str = ""
    message: str = ""                # why a stake is INVALID, as the validator says
    result: str = "OK"               # OK | FAIL | PENDING | REFUNDED


@dataclass
class AuditReport:
    round_id: int
    phase: str
    verdict: str                      # PASS | FAIL
    findings: list[Finding]
    stakes: list[StakeRow]
    notes: list[str]
    summary: dict

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    def findings_for(self, model_id: Optional[int]) -> list[Finding]:
        return [f for f in self.findings if f.model_id == model_id]

    def to_json(self) -> dict:
        return {
            "roundId": self.round_id, "phase": self.phase, "verdict": self.verdict,
            "summary": _jsonable(self.summary),
            "findings": [_jsonable(asdict(f)) for f in self.findings],
            "stakes": [_jsonable(asdict(s)) for s in self.stakes],
            "notes": self.notes,
        }


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value) if isinstance(value, str) else str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, int) and abs(value) >= 2**53:
        return str(value)     # wei amounts stay exact in JSON
    return value


# ------------------------------------------------------------------ the pure core

class _Audit:
    """Accumulates findings while the checks run (one instance per verify_round call)."""

    def __init__(self, chain: ChainView):
        self.chain = chain
        self.round_id = chain.round_id
        self.findings: list[Finding] = []
        self.notes: list[str] = []

    def fail(self, model_id: Optional[int], field_name: str, expected: Any, found: Any, message: str) -> None:
        finding = Finding(self.round_id, model_id, field_name, expected, found, message)
        log.info("finding: %s", finding)
        self.findings.append(finding)

    def note(self, text: str) -> None:
        self.notes.append(text)


def verify_round(chain: ChainView, artifacts: Optional[ArtifactsView]) -> AuditReport:
    """Recompute one round from `chain` and `artifacts` and report every discrepancy (pure)."""
    audit = _Audit(chain)
    rows = {m: StakeRow(m, s.owner, s.stake_wei, s.corr_mult, s.mmc_mult)
            for m, s in sorted(chain.stakes.items())}
    _check_stakes(audit, chain)
    for veto in chain.vetoes:
        audit.note(f"attempt {veto.attempt} was vetoed by {veto.guardian}: {veto.reason!r}")
    proposal = chain.accepted
    posted: dict[int, Leaf] = {}
    recomputed: dict[int, tuple[int, float, float, str]] = {}
    if proposal is None:
        audit.note("no results proposed (or the last attempt was vetoed): nothing to recompute yet")
    elif artifacts is None:
        audit.fail(None, "artifacts", "the round's published artifacts", "none given",
                   "results were proposed; pass --artifacts to verify them")
    else:
        files_ok = _check_manifest(audit, chain, proposal, artifacts)
        posted = _check_leaves(audit, chain, proposal, artifacts)
        recomputed = _recompute_scores(audit, chain, artifacts, files_ok)
        _compare_scores(audit, chain, posted, recomputed)
        _check_scores_table(audit, artifacts, posted)
        _check_signatures(audit, chain, proposal)
    if proposal is not None:
        _check_payouts(audit, chain, proposal, posted, rows)
    _check_refunds(audit, chain, proposal)
    _check_supply(audit, chain)
    _check_timeouts(audit, chain, proposal)

    for model_id, row in rows.items():
        leaf = posted.get(model_id)
        if leaf is not None:
            row.status = STATUS_NAMES[leaf.status]
            row.corr_nanos, row.mmc_nanos = leaf.corr_nanos, leaf.mmc_nanos
        if model_id in recomputed:
            _, corr, mmc, message = recomputed[model_id]
            row.corr = None if np.isnan(corr) else float(corr)
            row.mmc = None if np.isnan(mmc) else float(mmc)
            row.message = message
        settled = chain.settled.get(model_id) or []
        if settled:
            row.payout_wei, row.burned_wei, row.tx_hash = (settled[-1].payout_wei, settled[-1].burned_wei,
                                                           settled[-1].tx_hash)
        refunds = chain.refunds.get(model_id) or []
        if refunds:
            row.refunded_wei, row.tx_hash = refunds[-1].amount_wei, refunds[-1].tx_hash
        if audit.findings and any(f.model_id == model_id for f in audit.findings):
            row.result = "FAIL"
        elif refunds:
            row.result = "REFUNDED"
        elif not settled:
            row.result = "PENDING"
    stake_rows = list(rows.values())
    summary = _summary(chain, proposal, stake_rows)
    verdict = "FAIL" if audit.findings else "PASS"
    return AuditReport(chain.round_id, chain.phase, verdict, audit.findings, stake_rows, audit.notes, summary)


def _summary(chain: ChainView, proposal: Optional[ProposalView], rows: list[StakeRow]) -> dict:
    rewards = sum(max(r.payout_wei or 0, 0) for r in rows)
    burns = sum(r.burned_wei or 0 for r in rows)
    return {
        "phase": chain.phase, "stakedCount": chain.staked_count, "totalAtRiskWei": chain.total_at_risk_wei,
        "payoutFactorWei": proposal.payout_factor_wei if proposal else None,
        "reserveWei": proposal.reserve_wei if proposal else None,
        "rewardsWei": rewards, "burnedWei": burns,
        "settled": sum(1 for r in rows if r.payout_wei is not None),
        "refunded": sum(1 for r in rows if r.refunded_wei is not None),
        "attempt": proposal.attempt if proposal else None,
        "challengeEnd": proposal.challenge_end if proposal else None,
        "signerSetVersion": proposal.signer_set_version if proposal else None,
        "vetoes": len(chain.vetoes),
    }


def _check_stakes(audit: _Audit, chain: ChainView) -> None:
    """The stake table from the events must agree with the contract's own counters and storage."""
    for model_id, stake in sorted(chain.stakes.items()):
        if stake.get_stake_wei is not None and stake.get_stake_wei != stake.stake_wei:
            audit.fail(model_id, "stake_wei", stake.stake_wei, stake.get_stake_wei,
                       "getStake differs from the last StakeChanged before close")
        if stake.submission_hash == ZERO32:
            audit.fail(model_id, "submission_hash", "a non-zero commitment", "0x" + "00" * 32,
                       "a staked model has no submission commitment in its StakeChanged events")
    if chain.staked_count != len(chain.stakes):
        audit.fail(None, "staked_count", len(chain.stakes), chain.staked_count,
                   "getRound().stakedCount differs from the staked models found in StakeChanged events")
    total = sum(s.stake_wei for s in chain.stakes.values())
    if chain.total_at_risk_wei != total:
        audit.fail(None, "total_at_risk_wei", total, chain.total_at_risk_wei,
                   "getRound().totalAtRisk differs from the sum of stakes at close")


def _check_manifest(audit: _Audit, chain: ChainView, proposal: ProposalView,
                    artifacts: ArtifactsView) -> set[str]:
    """Step 1. Returns the paths whose bytes match their manifest entry."""
    manifest_bytes = artifacts.get(MANIFEST_NAME)
    if manifest_bytes is None:
        audit.fail(None, "manifest", MANIFEST_NAME, "missing", "the artifacts have no manifest.json")
        return set()
    digest = artifacts_hash(manifest_bytes)
    if digest != proposal.artifacts_hash:
        audit.fail(None, "artifacts_hash", proposal.artifacts_hash, digest,
                   "keccak256(manifest.json) differs from the artifactsHash in ResultsProposed")
    try:
        manifest = parse_manifest(manifest_bytes)
    except ArtifactsError as error:
        audit.fail(None, "manifest", "a canonical manifest", "unreadable", str(error))
        return set()
    if manifest.round_id != chain.round_id:
        audit.fail(None, "manifest.roundId", chain.round_id, manifest.round_id, "the manifest names another round")
    matching: set[str] = set()
    for entry in manifest.files:
        content = artifacts.get(entry.path)
        model_id = _submission_model(entry.path)
        if content is None:
            audit.fail(model_id, f"file:{entry.path}", entry.keccak256, "missing", "listed in manifest.json but absent")
            continue
        actual = file_entry(entry.path, content)
        if actual.keccak256 != entry.keccak256 or actual.size_bytes != entry.size_bytes:
            audit.fail(model_id, f"file:{entry.path}", entry.keccak256, actual.keccak256,
                       f"file differs from its manifest entry ({actual.size_bytes} bytes, listed "
                       f"{entry.size_bytes})")
            continue
        matching.add(entry.path)
    listed = set(manifest.by_path())
    for path in sorted(set(artifacts.files) - listed - {MANIFEST_NAME}):
        audit.fail(_submission_model(path), f"file:{path}", "not present", "present",
                   "file not listed in manifest.json")
    return matching


def _submission_model(path: str) -> Optional[int]:
    if not path.startswith(SUBMISSIONS_DIR + "/"):
        return None
    stem = path[len(SUBMISSIONS_DIR) + 1:].split(".", 1)[0]
    return int(stem) if stem.isdigit() else None


def _submission_files(artifacts: ArtifactsView) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for path in sorted(artifacts.files):
        model_id = _submission_model(path)
        if model_id is not None:
            found.setdefault(model_id, []).append(path)
    return found


def _check_leaves(audit: _Audit, chain: ChainView, proposal: ProposalView,
                  artifacts: ArtifactsView) -> dict[int, Leaf]:
    """Step 3 (structure): the posted leaves rebuild the root; one leaf per staked model."""
    raw = artifacts.get(LEAVES_NAME)
    if raw is None:
        audit.fail(None, "leaves", LEAVES_NAME, "missing", "the artifacts have no leaves.json")
        return {}
    try:
        leaves = leaves_from_json(raw)
    except (ValueError, KeyError, TypeError, ResultsError) as error:
        audit.fail(None, "leaves", "a list of {roundId, modelId, status, corr, mmc}", "unreadable",
                   f"{LEAVES_NAME}: {error}")
        return {}
    by_model: dict[int, Leaf] = {}
    for leaf in leaves:
        if leaf.round_id != chain.round_id:
            audit.fail(leaf.model_id, "leaf.roundId", chain.round_id, leaf.round_id, "leaf of another round")
        if leaf.model_id in by_model:
            audit.fail(leaf.model_id, "leaf", "one leaf", "two leaves", "model appears twice in leaves.json")
        by_model[leaf.model_id] = leaf
    if proposal.leaf_count != chain.staked_count:
        audit.fail(None, "leaf_count", chain.staked_count, proposal.leaf_count,
                   "ResultsProposed.leafCount differs from the staked count")
    if len(leaves) != chain.staked_count:
        audit.fail(None, "leaves.count", chain.staked_count, len(leaves),
                   "leaves.json does not have one leaf per staked model")
    for model_id in sorted(set(chain.stakes) - set(by_model)):
        audit.fail(model_id, "leaf", "a leaf", "none", "staked model missing from leaves.json")
    for model_id in sorted(set(by_model) - set(chain.stakes)):
        audit.fail(model_id, "leaf", "none", "a leaf", "leaf for a model that is not staked in this round")
    if leaves:
        try:
            root = ResultsTree(leaves, chain.round_id).root
        except ResultsError as error:
            audit.fail(None, "results_root", proposal.results_root, "no tree", str(error))
        else:
            if root != proposal.results_root:
                audit.fail(None, "results_root", proposal.results_root, root,
                           "the posted leaves do not rebuild the root in ResultsProposed")
    return by_model


def _read_table(raw: bytes):
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(raw), dtype={"id": str})
    return frame.set_index("id")


def _recompute_scores(audit: _Audit, chain: ChainView, artifacts: ArtifactsView,
                      files_ok: set[str]) -> dict[int, tuple[int, float, float, str]]:
    """Steps 2 and 3: every file against its commitment, then the oracle's own scoring.

    Returns model -> (expected status, corr, mmc, message) for every staked model.
    """
    from tournament.protocol.submissions import score_submissions

    targets_raw, live_raw = artifacts.get(TARGETS_NAME), artifacts.get(LIVE_IDS_NAME)
    if targets_raw is None:
        audit.fail(None, f"file:{TARGETS_NAME}", "present", "missing", "cannot recompute scores without targets")
        return {}
    try:
        targets = _read_table(targets_raw)["target"].astype(np.float64)
        live_ids = (_read_table(live_raw).index.astype(str) if live_raw is not None
                    else targets.index.astype(str))
        targets = targets.reindex(live_ids)
        if targets.isna().any():
            raise ValueError(f"{int(targets.isna().sum())} live id(s) have no target")
    except (ValueError, KeyError) as error:
        audit.fail(None, f"file:{TARGETS_NAME}", "id,target for every live id", "unreadable", str(error))
        return {}
    if live_raw is None:
        audit.note(f"{LIVE_IDS_NAME} missing: the live ids are taken from {TARGETS_NAME}")

    files = _submission_files(artifacts)
    raw_by_model: dict[str, Any] = {}
    for model_id, stake in sorted(chain.stakes.items()):
        paths = files.get(model_id, [])
        name = f"submissions/{model_id}"
        matching = [p for p in paths if submission_hash(artifacts.files[p]) == stake.submission_hash]
        if matching:
            raw_by_model[str(model_id)] = artifacts.files[matching[0]]
            if matching[0] not in files_ok:
                audit.note(f"model {model_id}: {matching[0]} matches its commitment but not the manifest")
            continue
        if paths:
            found = "0x" + submission_hash(artifacts.files[paths[0]]).hex()
            raw_by_model[str(model_id)] = ValidationResult(
                name, False, f"{paths[0]}: keccak256 {found} differs from the commitment "
                f"0x{stake.submission_hash.hex()} (hash mismatch)", "hash_mismatch")
            audit.note(f"model {model_id}: {paths[0]} does not hash to the on-chain commitment; "
                       "the stake must be INVALID")
        else:
            raw_by_model[str(model_id)] = ValidationResult(name, False, "no submission file received", "missing")
    for model_id in sorted(set(files) - set(chain.stakes)):
        audit.note(f"submission file(s) {files[model_id]} for model {model_id}, which has no stake in this round")
    if not raw_by_model:
        return {}
    stakes = {str(m): float(s.stake_wei) for m, s in chain.stakes.items()}
    table = score_submissions(raw_by_model, targets, stakes)
    out: dict[int, tuple[int, float, float, str]] = {}
    for row in table.itertuples(index=False):
        status = SCORED if row.status == "SCORED" else INVALID
        out[int(row.model)] = (status, float(row.corr), float(row.mmc), row.message)
    _check_meta_model(audit, artifacts, raw_by_model, targets, chain)
    return out


def _check_meta_model(audit: _Audit, artifacts: ArtifactsView, raw_by_model: dict, targets, chain: ChainView) -> None:
    """The published meta model is the stake-weighted mean of the valid files' ranks."""
    from tournament.protocol.scoring import meta_model
    from tournament.protocol.submissions import validate_predictions

    raw = artifacts.get(META_MODEL_NAME)
    if raw is None:
        audit.note(f"{META_MODEL_NAME} not published; MMC is recomputed without it")
        return
    live = targets.index.to_numpy(dtype=object)
    columns, weights = [], []
    for model, content in raw_by_model.items():
        if isinstance(content, ValidationResult):
            continue
        result = validate_predictions(content, live, name=model)
        if result.valid:
            columns.append(result.predictions)
            weights.append(float(chain.stakes[int(model)].stake_wei))
    if not columns:
        return
    expected = meta_model(np.column_stack(columns), np.array(weights))
    try:
        published = _read_table(raw)["meta_model"].astype(np.float64).reindex(targets.index).to_numpy()
    except (ValueError, KeyError) as error:
        audit.fail(None, f"file:{META_MODEL_NAME}", "id,meta_model", "unreadable", str(error))
        return
    worst = float(np.nanmax(np.abs(published - expected))) if np.isfinite(published).all() else float("inf")
    if not worst <= 1e-9:
        audit.fail(None, "meta_model", "stake-weighted mean of valid ranks", f"max deviation {worst:.3g}",
                   f"{META_MODEL_NAME} differs from the recomputed meta model")


def _compare_scores(audit: _Audit, chain: ChainView, posted: dict[int, Leaf],
                    recomputed: dict[int, tuple[int, float, float, str]]) -> None:
    disputed = sorted(m for m in chain.stakes if m in posted and m in recomputed
                      and posted[m].status != recomputed[m][0])
    # Every valid file weighs in the meta model: one disputed status moves every MMC.
    hint = (f"; the meta model differs because the status of model(s) {disputed[:10]} is disputed"
            if disputed else "")
    for model_id in sorted(chain.stakes):
        leaf, mine = posted.get(model_id), recomputed.get(model_id)
        if leaf is None or mine is None:
            continue
        status, corr, mmc, message = mine
        if leaf.status != status:
            audit.fail(model_id, "status", STATUS_NAMES[status], STATUS_NAMES[leaf.status],
                       message or "the submission is valid and must be scored")
            continue
        if status != SCORED:
            continue
        for name, value, nanos in (("corr", corr, leaf.corr_nanos), ("mmc", mmc, leaf.mmc_nanos)):
            if not abs(value - nanos * NANOS) <= SCORE_TOLERANCE:
                audit.fail(model_id, name, f"{value:.9f}", f"{nanos * NANOS:.9f}",
                           f"posted {name} is {abs(value - nanos * NANOS):.3g} from the recomputed score "
                           f"(tolerance {SCORE_TOLERANCE:g}){hint if name == 'mmc' else ''}")


def _check_scores_table(audit: _Audit, artifacts: ArtifactsView, posted: dict[int, Leaf]) -> None:
    """The published scores.csv must say what the signed leaves say (status and nanos)."""
    raw = artifacts.get(SCORES_NAME)
    if raw is None or not posted:
        return
    import pandas as pd

    try:
        table = pd.read_csv(io.BytesIO(raw))
        rows = {int(r.model_id): r for r in table.itertuples(index=False)}
    except (ValueError, AttributeError, KeyError) as error:
        audit.fail(None, f"file:{SCORES_NAME}", "model_id,...,status,...,corr_nanos,mmc_nanos", "unreadable",
                   str(error))
        return
    for model_id, leaf in sorted(posted.items()):
        row = rows.get(model_id)
        if row is None:
            audit.fail(model_id, "scores.csv", "a row", "none", f"{SCORES_NAME} has no row for a leaf")
            continue
        for name, want, got in (("status", STATUS_NAMES[leaf.status], str(row.status)),
                                ("corr_nanos", leaf.corr_nanos, int(row.corr_nanos)),
                                ("mmc_nanos", leaf.mmc_nanos, int(row.mmc_nanos))):
            if want != got:
                audit.fail(model_id, f"scores.csv.{name}", want, got, f"{SCORES_NAME} contradicts leaves.json")


def _check_signatures(audit: _Audit, chain: ChainView, proposal: ProposalView) -> None:
    signer_set = chain.signer_sets.get(proposal.signer_set_version)
    if signer_set is None:
        audit.fail(None, "signer_set_version", "a SignersUpdated event", proposal.signer_set_version,
                   "no signer set with this version was ever published")
        return
    if proposal.signatures is None:
        audit.fail(None, "signatures", "decodable proposeResults calldata", "undecodable",
                   f"could not read the signatures from transaction {proposal.tx_hash}")
        return
    results = Results(chain.round_id, proposal.attempt, proposal.results_root, proposal.leaf_count,
                      proposal.artifacts_hash, proposal.signer_set_version)
    if proposal.calldata_results is not None:
        sent = proposal.calldata_results
        for key, value in (("roundId", chain.round_id), ("attempt", proposal.attempt),
                           ("resultsRoot", proposal.results_root), ("leafCount", proposal.leaf_count),
                           ("artifactsHash", proposal.artifacts_hash),
                           ("signerSetVersion", proposal.signer_set_version)):
            if sent.get(key) != value:
                audit.fail(None, f"calldata.{key}", value, sent.get(key),
                           "the proposeResults calldata differs from the ResultsProposed event")
    domain = Domain(chain.chain_id, chain.tournament)
    problems = check_signatures(domain, results, proposal.signatures, signer_set.signers, signer_set.threshold)
    if problems:
        recovered = []
        for signature in proposal.signatures:
            try:
                recovered.append(recover_signer(domain, results, signature))
            except SigningError:
                recovered.append("unrecoverable")
        audit.fail(None, "signatures", f"{signer_set.threshold} of {signer_set.signers}", recovered,
                   "; ".join(problems))


def _check_payouts(audit: _Audit, chain: ChainView, proposal: ProposalView, posted: dict[int, Leaf],
                   rows: dict[int, StakeRow]) -> None:
    """Step 4: pf, reserve, and every StakeSettled to the wei; round totals."""
    cfg = chain.config
    clip_bps, threshold = int(cfg["clipBps"]), int(cfg["stakeThreshold"])
    pf = payout_math.payout_factor_wei(chain.total_at_risk_wei, threshold)
    if proposal.payout_factor_wei != pf:
        audit.fail(None, "payout_factor_wei", pf, proposal.payout_factor_wei,
                   "ResultsProposed.payoutFactor differs from the protocol's pf")
    reserve = chain.total_at_risk_wei * clip_bps // 10_000
    if proposal.reserve_wei != reserve:
        audit.fail(None, "reserve_wei", reserve, proposal.reserve_wei,
                   "ResultsProposed.reserve differs from totalAtRisk * clipBps / 10000")
    rewards = burns = 0
    for model_id, events in sorted(chain.settled.items()):
        if len(events) > 1:
            audit.fail(model_id, "StakeSettled", 1, len(events), "stake settled more than once")
        if chain.refunds.get(model_id):
            audit.fail(model_id, "StakeRefunded", 0, len(chain.refunds[model_id]), "stake both settled and refunded")
        stake = chain.stakes.get(model_id)
        for event in events:
            rewards += max(event.payout_wei, 0)
            burns += event.burned_wei
            if stake is None:
                audit.fail(model_id, "StakeSettled", "no settlement", event.payout_wei,
                           "settled a model that was not staked at close")
                continue
            if event.stake_wei != stake.stake_wei:
                audit.fail(model_id, "stake_wei", stake.stake_wei, event.stake_wei,
                           "StakeSettled.stake differs from the stake at close")
            if event.owner.lower() != stake.owner.lower():
                audit.fail(model_id, "owner", stake.owner, event.owner, "credited to another owner")
            leaf = posted.get(model_id)
            if leaf is not None:
                for name, want, got in (("status", leaf.status, event.status),
                                        ("corr_nanos", leaf.corr_nanos, event.corr_nanos),
                                        ("mmc_nanos", leaf.mmc_nanos, event.mmc_nanos)):
                    if want != got:
                        audit.fail(model_id, f"settled.{name}", want, got,
                                   "StakeSettled differs from the posted leaf")
            # The payout follows from the settled leaf (the contract proved it against the root).
            try:
                _, burned, _ = payout_math.settle_amounts(
                    stake.stake_wei, event.status, event.corr_nanos, event.mmc_nanos,
                    stake.corr_mult, stake.mmc_mult, proposal.payout_factor_wei, clip_bps)
                expected = 0 if event.status == INVALID else payout_math.payout_wei(
                    stake.stake_wei, event.corr_nanos, event.mmc_nanos, stake.corr_mult, stake.mmc_mult,
                    proposal.payout_factor_wei, clip_bps)
            except ValueError as error:
                audit.fail(model_id, "status", "SCORED or INVALID", event.status, str(error))
                continue
            if model_id in rows:
                rows[model_id].expected_payout_wei = expected
            if event.payout_wei != expected:
                audit.fail(model_id, "payout_wei", expected, event.payout_wei,
                           "StakeSettled.payout differs from the protocol's integer payout")
            if event.burned_wei != burned:
                audit.fail(model_id, "burned_wei", burned, event.burned_wei,
                           "StakeSettled.burned differs from the protocol's burn")
    if rewards > proposal.reserve_wei:
        audit.fail(None, "rewards_wei", f"<= {proposal.reserve_wei}", rewards, "rewards exceed the round's reserve")
    if chain.round_settled is not None:
        totals = chain.round_settled
        for name, want, got in (("round.rewards_wei", rewards, totals["rewards"]),
                                ("round.burned_wei", burns, totals["burned"]),
                                ("round.reserve_released_wei", proposal.reserve_wei - rewards,
                                 totals["reserveReleased"])):
            if want != got:
                audit.fail(None, name, want, got, "RoundSettled differs from the sum of its StakeSettled events")


def _check_refunds(audit: _Audit, chain: ChainView, proposal: Optional[ProposalView]) -> None:
    for model_id, events in sorted(chain.refunds.items()):
        stake = chain.stakes.get(model_id)
        if len(events) > 1:
            audit.fail(model_id, "StakeRefunded", 1, len(events), "stake refunded more than once")
        for event in events:
            expected = stake.stake_wei if stake else 0
            if event.amount_wei != expected:
                audit.fail(model_id, "refunded_wei", expected, event.amount_wei, "a refund returns the stake in full")
    if chain.refunds and not chain.settled and chain.round_settled is not None:
        if chain.round_settled["burned"] or chain.round_settled["rewards"]:
            audit.fail(None, "round.burned_wei", 0, chain.round_settled["burned"], "a refunded round burns nothing")


def _check_supply(audit: _Audit, chain: ChainView) -> None:
    """Total supply falls by exactly the burns (all rounds; plus anyone's own NMR burns)."""
    if chain.initial_supply_wei is None or chain.total_supply_wei is None or chain.tournament_burns_wei is None:
        return
    fall = chain.initial_supply_wei - chain.total_supply_wei
    expected = chain.tournament_burns_wei + (chain.other_burns_wei or 0)
    if fall != expected:
        audit.fail(None, "supply_fall_wei", expected, fall,
                   "NMR total supply fell by a different amount than the tournament's burns "
                   f"({chain.tournament_burns_wei}) plus other holders' burns ({chain.other_burns_wei or 0})")
    if chain.other_burns_wei:
        audit.note(f"{chain.other_burns_wei} wei of NMR were burned outside the tournament")


def _check_timeouts(audit: _Audit, chain: ChainView, proposal: Optional[ProposalView]) -> None:
    """Step 5: nothing unsettled or unrefunded past its timeout."""
    if not chain.stakes:
        return
    cfg = chain.config
    open_models = [m for m in chain.stakes if not chain.settled.get(m) and not chain.refunds.get(m)]
    if not open_models:
        return
    if proposal is None:
        deadline = chain.resolve_time + int(cfg["resultsTimeout"])
        what = "refunded (no accepted results by resolveTime + resultsTimeout)"
    else:
        deadline = proposal.challenge_end + int(cfg["settleTimeout"])
        what = "settled or refunded (settleTimeout after acceptance)"
    if chain.now >= deadline:
        for model_id in sorted(open_models):
            audit.fail(model_id, "closed", f"{what} by {deadline}", f"still open at {chain.now}",
                       "stake left unsettled past its timeout; anyone may call refund()")
    else:
        audit.note(f"{len(open_models)} stake(s) not settled yet (deadline {deadline}, now {chain.now})")


# ------------------------------------------------------------------ edges: artifacts

def read_artifacts(dir_or_url: str, round_id: Optional[int] = None) -> ArtifactsView:
    """The published folder as bytes: a local directory, or an HTTP(S) base URL.

    A directory may be the artifacts folder itself or an operator work folder (then
    `rounds/<round_id>/artifacts` inside it is used). Over HTTP the manifest is fetched from
    `<url>/manifest.json` and then every file it lists.
    """
    text = str(dir_or_url)
    if text.startswith(("http://", "https://")):
        return _read_artifacts_http(text.rstrip("/"))
    folder = Path(text)
    if round_id is not None and not (folder / MANIFEST_NAME).exists():
        for candidate in (folder / "rounds" / str(round_id) / "artifacts", folder / str(round_id)):
            if (candidate / MANIFEST_NAME).exists():
                folder = candidate
                break
    if not folder.is_dir():
        raise FileNotFoundError(f"artifacts folder {folder} does not exist; pass the round's published folder")
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return ArtifactsView(files, str(folder))


def _read_artifacts_http(base_url: str) -> ArtifactsView:
    import requests

    def get(path: str) -> Optional[bytes]:
        response = requests.get(f"{base_url}/{path}", timeout=60)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.content

    manifest_bytes = get(MANIFEST_NAME)
    files: dict[str, bytes] = {}
    if manifest_bytes is None:
        return ArtifactsView(files, base_url)
    files[MANIFEST_NAME] = manifest_bytes
    try:
        listed = [e.path for e in parse_manifest(manifest_bytes).files]
    except ArtifactsError:
        listed = [f["path"] for f in json.loads(manifest_bytes).get("files", [])]
    for path in listed:
        content = get(path)
        if content is not None:
            files[path] = content
    return ArtifactsView(files, base_url)


# ------------------------------------------------------------------ edges: chain

def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def read_chain_view(w3, deployment, round_id: int, *, tournament=None, nmr=None, cache: Optional[dict] = None) -> ChainView:
    """Read one round's events and views. `cache` (a dict) shares whole-tournament event
    lists (signer sets, burns) between rounds of one request."""
    from eth_utils import to_checksum_address

    from tournament.chain.client import PHASES, fetch_events, nmr_contract, tournament_contract

    tournament = tournament or tournament_contract(w3, deployment)
    nmr = nmr or nmr_contract(w3, deployment)
    cache = {} if cache is None else cache
    start = int(deployment.deploy_block)
    head = w3.eth.get_block("latest")
    to_block = int(head["number"])
    by_round = {"roundId": round_id}

    round_state = tournament.functions.getRound(round_id).call()
    (close_time, resolve_time, staked_count, _closed_count, _attempt, _leaf_count, total_at_risk,
     _challenge_end, _settled, _root, _pf, _reserve, _paid, _burned, _closed_amount, config) = round_state
    config_names = ["corrMultMin", "corrMultMax", "mmcMultMin", "mmcMultMax", "clipBps", "challengePeriod",
                    "resultsTimeout", "settleTimeout", "minResolutionDelay", "stakeThreshold", "minStake"]
    config_dict = dict(zip(config_names, (int(v) for v in config)))
    phase_index = tournament.functions.phase(round_id).call()

    def events(name: str, filters: Optional[dict] = by_round) -> list:
        key = (name, tuple(sorted((filters or {}).items())), to_block)
        if key not in cache:
            cache[key] = fetch_events(getattr(tournament.events, name), start, to_block, argument_filters=filters)
        return cache[key]

    view = ChainView(round_id=round_id, chain_id=int(w3.eth.chain_id), tournament=tournament.address,
                     now=int(head["timestamp"]), phase=PHASES[phase_index], close_time=int(close_time),
                     resolve_time=int(resolve_time), config=config_dict, staked_count=int(staked_count),
                     total_at_risk_wei=int(total_at_risk))

    latest: dict[int, Any] = {}
    commitment: dict[int, bytes] = {}
    # The contract refuses stake changes after close, so the last event is the stake at close.
    for event in events("StakeChanged"):
        model_id = int(event["args"]["modelId"])
        latest[model_id] = event
        if bytes(event["args"]["submissionHash"]) != ZERO32:
            commitment[model_id] = bytes(event["args"]["submissionHash"])
    for model_id, event in sorted(latest.items()):
        args = event["args"]
        if int(args["total"]) == 0:
            continue
        (amount, _cm, _mm), closed = tournament.functions.getStake(round_id, model_id).call()
        view.stakes[model_id] = StakeView(
            model_id, to_checksum_address(args["owner"]), int(args["total"]), int(args["corrMult"]),
            int(args["mmcMult"]), commitment.get(model_id, ZERO32), int(amount), bool(closed),
            _hex(event["transactionHash"]))

    for event in events("ResultsProposed"):
        args = event["args"]
        proposal = ProposalView(int(args["attempt"]), bytes(args["resultsRoot"]), bytes(args["artifactsHash"]),
                                int(args["leafCount"]), int(args["payoutFactor"]), int(args["reserve"]),
                                int(args["challengeEnd"]), int(args["signerSetVersion"]),
                                _hex(event["transactionHash"]), int(event["blockNumber"]))
        _read_signatures(w3, tournament, proposal)
        view.proposals.append(proposal)
    for event in events("ResultsVetoed"):
        args = event["args"]
        view.vetoes.append(VetoView(int(args["attempt"]), to_checksum_address(args["guardian"]), args["reason"],
                                    _hex(event["transactionHash"])))
    for event in events("SignersUpdated", None):
        args = event["args"]
        version = int(args["version"])
        view.signer_sets[version] = SignerSetView(version, [to_checksum_address(s) for s in args["signers"]],
                                                  int(args["threshold"]))
    for event in events("StakeSettled"):
        args = event["args"]
        view.settled.setdefault(int(args["modelId"]), []).append(SettledView(
            int(args["modelId"]), to_checksum_address(args["owner"]), int(args["stake"]), int(args["status"]),
            int(args["corr"]), int(args["mmc"]), int(args["payout"]), int(args["burned"]),
            _hex(event["transactionHash"])))
    for event in events("StakeRefunded"):
        args = event["args"]
        view.refunds.setdefault(int(args["modelId"]), []).append(RefundView(
            int(args["modelId"]), to_checksum_address(args["owner"]), int(args["amount"]),
            _hex(event["transactionHash"])))
    for event in events("RoundSettled"):
        args = event["args"]
        view.round_settled = {"rewards": int(args["rewards"]), "burned": int(args["burned"]),
                              "reserveReleased": int(args["reserveReleased"]),
                              "tx_hash": _hex(event["transactionHash"])}

    # Supply: the whole tournament's burns against the token's fall since deployment.
    try:
        view.total_supply_wei = int(nmr.functions.totalSupply().call())
        if "initial_supply" not in cache:
            try:
                cache["initial_supply"] = int(nmr.functions.totalSupply().call(block_identifier=start))
            except Exception as error:  # a pruned node has no state at the deploy block
                log.info("no historical state (%s); using the protocol's fixed initial supply", error)
                cache["initial_supply"] = NMR_INITIAL_SUPPLY_WEI
        view.initial_supply_wei = cache["initial_supply"]
        view.tournament_burns_wei = sum(int(e["args"]["burned"]) for e in events("StakeSettled", None))
        zero = "0x" + "00" * 20
        key = ("burns", to_block)
        if key not in cache:
            cache[key] = fetch_events(nmr.events.Transfer, start, to_block, argument_filters={"to": zero})
        view.other_burns_wei = sum(int(e["args"]["value"]) for e in cache[key]
                                   if e["args"]["from"].lower() != tournament.address.lower())
    except Exception as error:  # an archive-less RPC cannot read the supply at deployment
        log.warning("supply check skipped: %s", error)
        view.initial_supply_wei = view.total_supply_wei = view.tournament_burns_wei = None
    return view


def _read_signatures(w3, tournament, proposal: ProposalView) -> None:
    """Signatures are not in events: decode them from the proposeResults calldata."""
    try:
        tx = w3.eth.get_transaction(proposal.tx_hash)
        function, params = tournament.decode_function_input(tx["input"])
    except Exception as error:  # e.g. sent through a multisig wrapper: the outer calldata is not ours
        log.warning("cannot decode the calldata of %s: %s", proposal.tx_hash, error)
        return
    if function.fn_name != "proposeResults":
        log.warning("%s calls %s, not proposeResults", proposal.tx_hash, function.fn_name)
        return
    results = params["results"]
    if isinstance(results, (tuple, list)):
        names = ["roundId", "attempt", "resultsRoot", "leafCount", "artifactsHash", "signerSetVersion"]
        results = dict(zip(names, results))
    proposal.calldata_results = {k: (bytes(v) if isinstance(v, (bytes, bytearray)) else int(v))
                                 for k, v in dict(results).items()}
    proposal.signatures = [bytes(s) for s in params["signatures"]]

