"""The auditor's pure verification of one round: recompute it with score_round and compare with the chain.

`verify_round(chain, artifacts, targets_source=..., receipts=...)` takes a `ChainView` (what
the tournament's events and views say about the round, tournament.auditor.views), an
`ArtifactsView` (the published folder's bytes) and, optionally, the targets as their source
publishes them and upload receipts handed in by anyone. It recomputes the round with
tournament.protocol.round_scoring.score_round, the very function the operator and the
co-signers run, from the chain's stakes and the published files, and checks, in the
protocol's order:
- the manifest against the on-chain artifactsHash, every file against the manifest, and that
  every file the protocol requires is there (live_ids.csv, targets.csv, receipts.json,
  meta_model.csv, scores.csv, leaves.json, manifest.json);
- live_ids.csv against the round's liveIdsHash, targets.csv against the targets source;
- the posted leaves against the root, the staked models and the recomputed scores (2e-9),
  scoredAtRisk against the SCORED stakes, the meta model and the scores table (with every
  INVALID stake's reason) against the recomputation;
- upload receipts: a valid receipt (signed by a RECEIPT_ROLE holder, for the stake's
  committed hash, received before close) whose file is absent from the artifacts, or whose
  stake is INVALID for want of that file, fails the round, naming the model;
- the signatures against the signer set; every StakeSettled against the protocol's integer
  payout to the wei; burns against the supply; rewards against the reserve; timeouts.
Each discrepancy is a `Finding` (round or stake, field, expected, found, message). It never
raises on bad input: an unreadable or degenerate file (constant targets, a corrupt Parquet,
bad JSON) is a finding with a message. Pure: no I/O.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional, Union

import numpy as np
from eth_hash.auto import keccak

from tournament.auditor.views import (
    ArtifactsView,
    ChainView,
    ProposalView,
    RefundView,
    SettledView,
    SignerSetView,
    StakeView,
    VetoView,
)
from tournament.protocol import payout as payout_math
from tournament.protocol.artifacts import ArtifactsError, artifacts_hash, file_entry, parse_manifest
from tournament.protocol.constants import (
    LEAVES_NAME,
    LIVE_IDS_NAME,
    MANIFEST_NAME,
    META_MODEL_NAME,
    RECEIPTS_NAME,
    REQUIRED_FILES,
    SCORES_NAME,
    SUBMISSIONS_DIR,
    TARGETS_NAME,
)
from tournament.protocol.receipts import ReceiptError, SignedReceipt, parse_receipts, receipt_from_json
from tournament.protocol.results import INVALID, SCORED, Leaf, ResultsError, ResultsTree, leaves_from_json
from tournament.protocol.round_scoring import RoundInputs, RoundScoring, StakeAtClose, score_round
from tournament.protocol.signing import (
    Domain,
    Results,
    SigningError,
    check_signatures,
    recover_receipt_signer,
    recover_signer,
)
from tournament.protocol.tables import ConstantTargetsError, TablesError, read_live_ids, read_table, read_targets

__all__ = [
    "AuditReport", "ArtifactsView", "ChainView", "Finding", "ProposalView", "RefundView", "SCORE_TOLERANCE",
    "SettledView", "SignerSetView", "StakeRow", "StakeView", "VetoView", "verify_round",
]

log = logging.getLogger(__name__)

SCORE_TOLERANCE = 2e-9          # protocol: a posted score is accepted within 2e-9 of the float
META_TOLERANCE = 1e-9
NANOS = 1e-9
STATUS_NAMES: dict[int, str] = {SCORED: "SCORED", INVALID: "INVALID"}
ZERO32 = b"\x00" * 32
FILE_REASONS = ("missing", "hash_mismatch")   # INVALID for want of the committed file
ReceiptLike = Union[SignedReceipt, Mapping[str, Any]]


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

    @property
    def where(self) -> str:
        """'round 3' or 'round 3 model 12'."""
        return f"round {self.round_id}" + (f" model {self.model_id}" if self.model_id is not None else "")

    def __str__(self) -> str:
        return (f"{self.where}: {self.field}: expected {_show(self.expected)}, found {_show(self.found)}"
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
            "findings": [_jsonable({**asdict(f), "where": f.where}) for f in self.findings],
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


# ------------------------------------------------------------------ the pure core

def verify_round(chain: ChainView, artifacts: Optional[ArtifactsView], *,
                 targets_source: Optional[bytes] = None,
                 receipts: Iterable[ReceiptLike] = ()) -> AuditReport:
    """Recompute one round from `chain` and `artifacts` and report every discrepancy (pure, never raises).

    targets_source: the targets as the round's targets source publishes them (bytes); when
    given, targets.csv must equal them and the scores are recomputed from them. receipts:
    upload receipts handed in by anyone (participants), checked with those of receipts.json.
    """
    audit = _Audit(chain)
    rows = {m: StakeRow(m, s.owner, s.stake_wei, s.corr_mult, s.mmc_mult)
            for m, s in sorted(chain.stakes.items())}
    proposal = chain.accepted
    posted: dict[int, Leaf] = {}
    recomputed: Optional[RoundScoring] = None
    try:
        _check_stakes(audit, chain)
        for veto in chain.vetoes:
            audit.note(f"attempt {veto.attempt} was vetoed by {veto.guardian}: {veto.reason!r}")
        if proposal is None:
            audit.note("no results proposed (or the last attempt was vetoed): nothing to recompute yet")
        elif artifacts is None:
            audit.fail(None, "artifacts", "the round's published artifacts", "none given",
                       "results were proposed; pass --artifacts to verify them")
        else:
            manifest_paths = _check_manifest(audit, chain, proposal, artifacts)
            _check_required_files(audit, artifacts, manifest_paths)
            _check_live_ids(audit, chain, artifacts)
            _check_targets_source(audit, artifacts, targets_source)
            posted = _check_leaves(audit, chain, proposal, artifacts)
            published_receipts = _published_receipts(audit, artifacts)
            recomputed = _recompute(audit, chain, artifacts, targets_source, published_receipts)
            if recomputed is not None:
                _compare_scores(audit, chain, posted, recomputed)
                _check_meta_model(audit, artifacts, recomputed)
                _check_scores_table(audit, chain, artifacts, posted, recomputed)
                _compare_artifacts(audit, artifacts, recomputed)
            _check_scored_at_risk(audit, chain, proposal, posted, recomputed)
            _check_receipts(audit, chain, artifacts, posted, recomputed,
                            list(published_receipts or []) + list(receipts))
            _check_signatures(audit, chain, proposal, recomputed)
        if proposal is not None:
            _check_payouts(audit, chain, proposal, posted, rows)
        _check_refunds(audit, chain, proposal)
        _check_supply(audit, chain)
        _check_timeouts(audit, chain, proposal)
    except Exception as error:  # the audit must end with a verdict whatever the inputs hold
        log.exception("round %s: the audit stopped early", chain.round_id)
        audit.fail(None, "audit", "a complete audit", f"stopped by {type(error).__name__}",
                   f"the inputs could not be checked to the end: {error}")

    for model_id, row in rows.items():
        leaf = posted.get(model_id)
        if leaf is not None:
            row.status = STATUS_NAMES[leaf.status]
            row.corr_nanos, row.mmc_nanos = leaf.corr_nanos, leaf.mmc_nanos
        if recomputed is not None:
            try:
                outcome = recomputed.outcome(model_id)
            except KeyError:
                outcome = None
            if outcome is not None:
                row.corr, row.mmc, row.message = outcome.corr, outcome.mmc, outcome.message
        settled = chain.settled.get(model_id) or []
        if settled:
            row.payout_wei, row.burned_wei, row.tx_hash = (settled[-1].payout_wei, settled[-1].burned_wei,
                                                           settled[-1].tx_hash)
        refunds = chain.refunds.get(model_id) or []
        if refunds:
            row.refunded_wei, row.tx_hash = refunds[-1].amount_wei, refunds[-1].tx_hash
        if any(f.model_id == model_id for f in audit.findings):
            row.result = "FAIL"
        elif refunds:
            row.result = "REFUNDED"
        elif not settled:
            row.result = "PENDING"
    stake_rows = list(rows.values())
    summary = _summary(chain, proposal, stake_rows, recomputed)
    verdict = "FAIL" if audit.findings else "PASS"
    return AuditReport(chain.round_id, chain.phase, verdict, audit.findings, stake_rows, audit.notes, summary)


def _summary(chain: ChainView, proposal: Optional[ProposalView], rows: list[StakeRow],
             recomputed: Optional[RoundScoring]) -> dict:
    rewards = sum(max(r.payout_wei or 0, 0) for r in rows)
    burns = sum(r.burned_wei or 0 for r in rows)
    return {
        "phase": chain.phase, "stakedCount": chain.staked_count, "totalAtRiskWei": chain.total_at_risk_wei,
        "scoredAtRiskWei": proposal.scored_at_risk_wei if proposal else None,
        "recomputedScoredAtRiskWei": recomputed.scored_at_risk_wei if recomputed else None,
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


def _check_manifest(audit: _Audit, chain: ChainView, proposal: ProposalView, artifacts: ArtifactsView) -> set[str]:
    """The manifest hashes to artifactsHash and lists exactly the files present. Returns the listed paths."""
    manifest_bytes = artifacts.get(MANIFEST_NAME)
    if manifest_bytes is None:
        audit.fail(None, f"file:{MANIFEST_NAME}", "present", "missing", "the artifacts have no manifest.json")
        return set()
    digest = artifacts_hash(manifest_bytes)
    if digest != proposal.artifacts_hash:
        audit.fail(None, "artifacts_hash", proposal.artifacts_hash, digest,
                   "keccak256(manifest.json) differs from the artifactsHash in ResultsProposed")
    try:
        manifest = parse_manifest(manifest_bytes)
    except ArtifactsError as error:
        audit.fail(None, f"file:{MANIFEST_NAME}", "a canonical manifest", "unreadable", str(error))
        return set()
    if manifest.round_id != chain.round_id:
        audit.fail(None, "manifest.roundId", chain.round_id, manifest.round_id, "the manifest names another round")
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
    listed = set(manifest.by_path())
    for path in sorted(set(artifacts.files) - listed - {MANIFEST_NAME}):
        audit.fail(_submission_model(path), f"file:{path}", "not present", "present",
                   "file not listed in manifest.json")
    return listed


def _check_required_files(audit: _Audit, artifacts: ArtifactsView, listed: set[str]) -> None:
    """(v2) Every file the protocol lists is required; a missing one is named."""
    for name in REQUIRED_FILES:
        if name == MANIFEST_NAME or name in artifacts.files or name in listed:
            continue  # the manifest's own checks name a listed file that is absent
        audit.fail(None, f"file:{name}", "present", "missing",
                   f"the protocol requires {name} in every round's artifacts; it is neither in the folder nor "
                   "in manifest.json")


def _check_live_ids(audit: _Audit, chain: ChainView, artifacts: ArtifactsView) -> None:
    """(v2) live_ids.csv is the file committed at open: keccak256 == the round's liveIdsHash."""
    raw = artifacts.get(LIVE_IDS_NAME)
    if chain.live_ids_hash is None:
        audit.note("the chain view has no liveIdsHash (a v1 round): live_ids.csv is not checked against the chain")
        return
    if raw is None:
        return  # already named as a missing required file
    digest = keccak(raw)
    if digest != chain.live_ids_hash:
        audit.fail(None, "live_ids_hash", chain.live_ids_hash, digest,
                   f"keccak256({LIVE_IDS_NAME}) differs from the liveIdsHash committed when the round opened; "
                   "the live ids were changed after open")


def _check_targets_source(audit: _Audit, artifacts: ArtifactsView, targets_source: Optional[bytes]) -> None:
    """(v2) targets.csv is the targets source's file byte for byte."""
    if targets_source is None:
        audit.note("no targets source given: targets.csv is taken as published (use --targets-source)")
        return
    raw = artifacts.get(TARGETS_NAME)
    if raw is None:
        return
    if bytes(raw) != bytes(targets_source):
        audit.fail(None, "targets_source", "0x" + keccak(bytes(targets_source)).hex(), "0x" + keccak(raw).hex(),
                   f"{TARGETS_NAME} differs from the targets source ({len(raw)} bytes, the source has "
                   f"{len(targets_source)}); the scores are recomputed from the source")


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


def _committed_file(artifacts: ArtifactsView, paths: Sequence[str], commitment: bytes) -> Optional[str]:
    """Of a model's published files (`paths`), the one that hashes to its commitment, if any."""
    for path in paths:
        if keccak(artifacts.files[path]) == commitment:
            return path
    return None


def _check_leaves(audit: _Audit, chain: ChainView, proposal: ProposalView,
                  artifacts: ArtifactsView) -> dict[int, Leaf]:
    """The posted leaves rebuild the root; one leaf per staked model."""
    raw = artifacts.get(LEAVES_NAME)
    if raw is None:
        return {}  # named as a missing required file
    try:
        leaves = leaves_from_json(raw)
    except (ValueError, KeyError, TypeError) as error:
        audit.fail(None, f"file:{LEAVES_NAME}", "a list of {roundId, modelId, status, corr, mmc}", "unreadable",
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


def _published_receipts(audit: _Audit, artifacts: ArtifactsView) -> Optional[list[SignedReceipt]]:
    raw = artifacts.get(RECEIPTS_NAME)
    if raw is None:
        return None
    try:
        return parse_receipts(raw, RECEIPTS_NAME)
    except ReceiptError as error:
        audit.fail(None, f"file:{RECEIPTS_NAME}", "a JSON list of signed upload receipts", "unreadable", str(error))
        return None


def _recompute(audit: _Audit, chain: ChainView, artifacts: ArtifactsView, targets_source: Optional[bytes],
               published_receipts: Optional[list[SignedReceipt]]) -> Optional[RoundScoring]:
    """score_round over the chain's stakes and the published files (targets from the source when given)."""
    live_raw = artifacts.get(LIVE_IDS_NAME)
    targets_raw = targets_source if targets_source is not None else artifacts.get(TARGETS_NAME)
    targets_name = "the targets source" if targets_source is not None else TARGETS_NAME
    if live_raw is None or targets_raw is None:
        audit.note("scores not recomputed: the live ids or the targets are missing")
        return None
    try:
        live_ids = read_live_ids(live_raw)
    except TablesError as error:
        audit.fail(None, f"file:{LIVE_IDS_NAME}", "a table with a column id of distinct ids", "unreadable",
                   str(error))
        return None
    try:
        read_targets(targets_raw, live_ids, name=targets_name)
    except ConstantTargetsError as error:
        audit.fail(None, "targets", "targets that are not all equal", "constant", str(error))
        return None
    except TablesError as error:
        audit.fail(None, f"file:{TARGETS_NAME}", "id,target for every live id, targets in {0,0.25,0.5,0.75,1}",
                   "unusable", str(error))
        return None
    files: dict[int, Optional[bytes]] = {}
    on_disk = _submission_files(artifacts)
    for model_id, stake in sorted(chain.stakes.items()):
        paths = on_disk.get(model_id, [])
        chosen = _committed_file(artifacts, paths, stake.submission_hash) or (paths[0] if paths else None)
        files[model_id] = artifacts.files[chosen] if chosen else None
    for model_id in sorted(set(on_disk) - set(chain.stakes)):
        audit.note(f"submission file(s) {on_disk[model_id]} for model {model_id}, which has no stake in this round")
    inputs = RoundInputs(
        chain.round_id,
        [StakeAtClose(m, s.owner, s.stake_wei, s.corr_mult, s.mmc_mult, bytes(s.submission_hash))
         for m, s in sorted(chain.stakes.items()) if s.stake_wei > 0],
        {m: raw for m, raw in files.items() if chain.stakes[m].stake_wei > 0},
        live_raw, targets_raw,
        [r for r in (published_receipts or []) if r.receipt.round_id == chain.round_id])
    try:
        return score_round(inputs)
    except ValueError as error:
        audit.fail(None, "scores", "a round that can be recomputed", "not recomputable", str(error))
        return None


def _compare_scores(audit: _Audit, chain: ChainView, posted: dict[int, Leaf], recomputed: RoundScoring) -> None:
    outcomes = {o.model_id: o for o in recomputed.outcomes}
    disputed = sorted(m for m in chain.stakes if m in posted and m in outcomes
                      and posted[m].status != outcomes[m].status)
    # Every valid file weighs in the meta model: one disputed status moves every MMC.
    hint = (f"; the meta model differs because the status of model(s) {disputed[:10]} is disputed"
            if disputed else "")
    for model_id in sorted(chain.stakes):
        leaf, mine = posted.get(model_id), outcomes.get(model_id)
        if leaf is None or mine is None:
            continue
        if leaf.status != mine.status:
            audit.fail(model_id, "status", STATUS_NAMES[mine.status], STATUS_NAMES[leaf.status],
                       mine.message or "the submission is valid and must be scored")
            continue
        if mine.status != SCORED:
            continue
        for name, raw, nanos in (("corr", mine.corr, leaf.corr_nanos), ("mmc", mine.mmc, leaf.mmc_nanos)):
            # A leaf carries the score clipped to [-1, 1] (to_nanos): an honest |mmc| > 1 is posted
            # as +-1e9 nanos, so the comparison is with the clipped recomputed score.
            value = None if raw is None else min(1.0, max(-1.0, float(raw)))
            if value is None or not abs(value - nanos * NANOS) <= SCORE_TOLERANCE:
                audit.fail(model_id, name, f"{value:.9f}", f"{nanos * NANOS:.9f}",
                           f"posted {name} is {abs((value or 0) - nanos * NANOS):.3g} from the recomputed score "
                           f"(tolerance {SCORE_TOLERANCE:g}){hint if name == 'mmc' else ''}")


def _check_scored_at_risk(audit: _Audit, chain: ChainView, proposal: ProposalView, posted: dict[int, Leaf],
                          recomputed: Optional[RoundScoring]) -> None:
    """(v2) scoredAtRisk = the stakes at close of the SCORED leaves."""
    if proposal.scored_at_risk_wei is None:
        audit.note("the proposal carries no scoredAtRisk (a v1 chain): pf and the reserve follow totalAtRisk")
        return
    if posted:
        expected = sum(chain.stakes[m].stake_wei for m, leaf in posted.items()
                       if leaf.status == SCORED and m in chain.stakes)
    elif recomputed is not None:
        expected = recomputed.scored_at_risk_wei
    else:
        return
    if proposal.scored_at_risk_wei != expected:
        audit.fail(None, "scored_at_risk_wei", expected, proposal.scored_at_risk_wei,
                   "ResultsProposed.scoredAtRisk differs from the sum of the stakes of the SCORED leaves")


def _float_column(values: list, name: str, column: str) -> np.ndarray:
    out = np.empty(len(values))
    for k, value in enumerate(values):
        if value is None or value == "":
            out[k] = np.nan
            continue
        try:
            out[k] = float(value)
        except (TypeError, ValueError):
            raise TablesError(f"{name}: {column} {str(value)[:20]!r} in row {k + 1} is not a number") from None
    return out


def _check_meta_model(audit: _Audit, artifacts: ArtifactsView, recomputed: RoundScoring) -> None:
    """The published meta model is the stake-weighted mean of the valid files' ranks (within 1e-9)."""
    raw = artifacts.get(META_MODEL_NAME)
    if raw is None:
        return  # named as a missing required file
    try:
        columns = read_table(raw, META_MODEL_NAME, ("id", "meta_model"))
        by_id = dict(zip((str(i).strip() for i in columns["id"]),
                         _float_column(columns["meta_model"], META_MODEL_NAME, "meta_model")))
    except TablesError as error:
        audit.fail(None, f"file:{META_MODEL_NAME}", "id,meta_model", "unreadable", str(error))
        return
    missing = [i for i in recomputed.live_ids if i not in by_id]
    if missing:
        audit.fail(None, "meta_model", "a value for every live id", f"{len(missing)} missing (first {missing[0]!r})",
                   f"{META_MODEL_NAME} does not cover the live ids")
        return
    published = np.array([by_id[i] for i in recomputed.live_ids])
    expected = recomputed.meta_model
    if np.isnan(expected).all():
        if not np.isnan(published).all():
            audit.fail(None, "meta_model", "empty (no valid submission)", "values",
                       f"{META_MODEL_NAME} has values though no submission is valid")
        return
    worst = float(np.max(np.abs(published - expected))) if np.isfinite(published).all() else float("inf")
    if not worst <= META_TOLERANCE:
        audit.fail(None, "meta_model", "stake-weighted mean of valid ranks", f"max deviation {worst:.3g}",
                   f"{META_MODEL_NAME} differs from the recomputed meta model")


def _check_scores_table(audit: _Audit, chain: ChainView, artifacts: ArtifactsView, posted: dict[int, Leaf],
                        recomputed: RoundScoring) -> None:
    """scores.csv says what the signed leaves say, with the recomputed reason of every INVALID stake."""
    raw = artifacts.get(SCORES_NAME)
    if raw is None:
        return  # named as a missing required file
    try:
        columns = read_table(raw, SCORES_NAME, ("model_id", "stake_wei", "status", "corr_nanos", "mmc_nanos",
                                                "message"))
        rows: dict[int, dict] = {}
        for k in range(len(columns["model_id"])):
            record = {key: values[k] for key, values in columns.items()}
            rows[int(float(record["model_id"]))] = record
    except (TablesError, ValueError, TypeError) as error:
        audit.fail(None, f"file:{SCORES_NAME}", "model_id,owner,stake_wei,status,...,message", "unreadable",
                   str(error))
        return
    outcomes = {o.model_id: o for o in recomputed.outcomes}
    for model_id in sorted(chain.stakes):
        row = rows.get(model_id)
        if row is None:
            audit.fail(model_id, "scores.csv", "a row", "none", f"{SCORES_NAME} has no row for a staked model")
            continue
        leaf = posted.get(model_id)
        checks: list[tuple[str, Any, Any]] = []
        try:
            checks.append(("stake_wei", chain.stakes[model_id].stake_wei, int(float(row["stake_wei"]))
                           if "e" in str(row["stake_wei"]).lower() else int(row["stake_wei"])))
            if leaf is not None:
                checks += [("status", STATUS_NAMES[leaf.status], str(row["status"]).strip()),
                           ("corr_nanos", leaf.corr_nanos, int(float(row["corr_nanos"]))),
                           ("mmc_nanos", leaf.mmc_nanos, int(float(row["mmc_nanos"])))]
        except (TypeError, ValueError) as error:
            audit.fail(model_id, "scores.csv", "numbers in stake_wei, corr_nanos, mmc_nanos", "unreadable",
                       f"{SCORES_NAME}: {error}")
            continue
        mine = outcomes.get(model_id)
        if mine is not None and leaf is not None and leaf.status == mine.status == INVALID:
            checks.append(("message", mine.message, str(row["message"] or "")))
        for name, want, got in checks:
            if want != got:
                audit.fail(model_id, f"scores.csv.{name}", want, got,
                           f"{SCORES_NAME} contradicts " + ("the recomputed reason" if name == "message"
                                                            else "the chain" if name == "stake_wei"
                                                            else "leaves.json"))


def _compare_artifacts(audit: _Audit, artifacts: ArtifactsView, recomputed: RoundScoring) -> None:
    """Notes where the published folder differs from the recomputed one byte for byte (the checks above
    decide whether a difference is wrong; float text may differ in the last digit across machines)."""
    published = artifacts.get(MANIFEST_NAME)
    if published == recomputed.manifest_bytes:
        audit.note("the recomputed artifacts equal the published ones byte for byte")
        return
    differing = sorted(p for p, content in recomputed.files.items()
                       if p in artifacts.files and artifacts.files[p] != content)
    extra = sorted(p for p in artifacts.files if p not in recomputed.files and p != MANIFEST_NAME)
    if differing:
        audit.note(f"published files that differ from the recomputed ones byte for byte: {differing[:10]}")
    if extra:
        audit.note(f"published files that the recomputation does not produce: {extra[:10]}")


def _receipt_problem(chain: ChainView, signed: SignedReceipt, domain: Domain) -> Optional[str]:
    """Why a receipt does not bind the round (None: it is a valid receipt of a committed file)."""
    r = signed.receipt
    if r.round_id != chain.round_id:
        return f"is for round {r.round_id}"
    stake = chain.stakes.get(r.model_id)
    if stake is None:
        return "is for a model not staked in this round"
    if r.submission_hash != stake.submission_hash:
        return (f"is for 0x{r.submission_hash.hex()}, not the committed 0x{stake.submission_hash.hex()} "
                "(a replaced upload)")
    if r.received_at >= chain.close_time:
        return f"was received at {r.received_at}, not before the close at {chain.close_time}"
    try:
        signer = recover_receipt_signer(domain, r, signed.signature)
    except SigningError as error:
        return f"has an invalid signature ({error})"
    if chain.receipt_signers is None:
        return f"is signed by {signer}, but the RECEIPT_ROLE holders are unknown (a v1 chain view)"
    if int(signer, 16) not in {int(a, 16) for a in chain.receipt_signers}:
        return f"is signed by {signer}, who does not hold RECEIPT_ROLE"
    return None


def _check_receipts(audit: _Audit, chain: ChainView, artifacts: ArtifactsView, posted: dict[int, Leaf],
                    recomputed: Optional[RoundScoring], receipts: Sequence[ReceiptLike]) -> None:
    """(v2) A valid receipt of a committed file binds the round to that file."""
    domain = Domain(chain.chain_id, chain.tournament)
    outcomes = {o.model_id: o for o in recomputed.outcomes} if recomputed else {}
    on_disk = _submission_files(artifacts)
    seen: set[tuple] = set()
    for item in receipts:
        try:
            signed = receipt_from_json(item)
        except ReceiptError as error:
            audit.note(f"an unreadable receipt was ignored: {error}")
            continue
        if signed.sort_key() in seen:
            continue
        seen.add(signed.sort_key())
        r = signed.receipt
        problem = _receipt_problem(chain, signed, domain)
        if problem is not None:
            audit.note(f"receipt for model {r.model_id} ignored: it {problem}")
            continue
        committed = "0x" + r.submission_hash.hex()
        path = _committed_file(artifacts, on_disk.get(r.model_id, []), r.submission_hash)
        if path is None:
            others = on_disk.get(r.model_id, [])
            found = (f"{others[0]} with keccak256 0x{keccak(artifacts.files[others[0]]).hex()}" if others
                     else "no file")
            audit.fail(r.model_id, "receipt:file", f"submissions/{r.model_id}.* with keccak256 {committed}", found,
                       f"a valid upload receipt (received at {r.received_at}) shows the committed file was uploaded, "
                       "but the artifacts do not carry it")
        leaf = posted.get(r.model_id)
        mine = outcomes.get(r.model_id)
        for_file = path is None or (mine is not None and mine.rule in FILE_REASONS)
        if leaf is not None and leaf.status == INVALID and for_file:
            reason = mine.message if mine is not None else "its file is not in the artifacts"
            audit.fail(r.model_id, "receipt:status", "scored on its receipted file", "INVALID",
                       f"the stake is INVALID for want of the file its upload receipt proves ({reason})")


def _check_signatures(audit: _Audit, chain: ChainView, proposal: ProposalView,
                      recomputed: Optional[RoundScoring]) -> None:
    signer_set = chain.signer_sets.get(proposal.signer_set_version)
    if signer_set is None:
        audit.fail(None, "signer_set_version", "a SignersUpdated event", proposal.signer_set_version,
                   "no signer set with this version was ever published")
        return
    if proposal.signatures is None:
        audit.fail(None, "signatures", "decodable proposeResults calldata", "undecodable",
                   f"could not read the signatures from transaction {proposal.tx_hash}")
        return
    scored_at_risk = proposal.scored_at_risk_wei
    if scored_at_risk is None:   # a v1 event: the signed value is only in the calldata (or recomputed)
        in_calldata = (proposal.calldata_results or {}).get("scoredAtRisk")
        scored_at_risk = in_calldata if in_calldata is not None else (recomputed.scored_at_risk_wei if recomputed
                                                                      else 0)
    results = Results(chain.round_id, proposal.attempt, proposal.results_root, proposal.leaf_count,
                      scored_at_risk, proposal.artifacts_hash, proposal.signer_set_version)
    if proposal.calldata_results is not None:
        sent = proposal.calldata_results
        for key, value in (("roundId", chain.round_id), ("attempt", proposal.attempt),
                           ("resultsRoot", proposal.results_root), ("leafCount", proposal.leaf_count),
                           ("scoredAtRisk", scored_at_risk), ("artifactsHash", proposal.artifacts_hash),
                           ("signerSetVersion", proposal.signer_set_version)):
            if key in sent and sent.get(key) != value:
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
    # (v2) pf and the reserve follow scoredAtRisk; a v1 proposal has none and used totalAtRisk.
    at_risk, at_risk_name = ((proposal.scored_at_risk_wei, "scoredAtRisk") if proposal.scored_at_risk_wei is not None
                             else (chain.total_at_risk_wei, "totalAtRisk"))
    pf = payout_math.payout_factor_wei(at_risk, threshold)
    if proposal.payout_factor_wei != pf:
        audit.fail(None, "payout_factor_wei", pf, proposal.payout_factor_wei,
                   f"ResultsProposed.payoutFactor differs from the protocol's pf of {at_risk_name}")
    reserve = at_risk * clip_bps // 10_000
    if proposal.reserve_wei != reserve:
        audit.fail(None, "reserve_wei", reserve, proposal.reserve_wei,
                   f"ResultsProposed.reserve differs from {at_risk_name} * clipBps / 10000")
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
    scored_settled = sum(e.stake_wei for events in chain.settled.values() for e in events if e.status == SCORED)
    if (proposal.scored_at_risk_wei is not None and chain.round_settled is not None and not chain.refunds
            and scored_settled != proposal.scored_at_risk_wei):
        audit.fail(None, "settled_scored_wei", proposal.scored_at_risk_wei, scored_settled,
                   "the SCORED stakes settled in the round do not sum to its scoredAtRisk")
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
    """Step 5: stakes still open, before or past their timeout (reported; refundable past it)."""
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
        # Not a wrong payout: the protocol's fallback applies (a full refund that anyone may
        # trigger), so this is reported, not failed. A round whose keeper is late is not wrong.
        models = ", ".join(str(m) for m in sorted(open_models))
        audit.note(f"{len(open_models)} stake(s) still open past their deadline ({what} by {deadline}, "
                   f"now {chain.now}): models {models} are refundable; anyone may call refund()")
    else:
        audit.note(f"{len(open_models)} stake(s) not settled yet (deadline {deadline}, now {chain.now})")
