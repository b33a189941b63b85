"""The results of a round as the protocol commits them: one leaf per staked model and their Merkle tree.

A leaf is `(uint256 roundId, uint256 modelId, uint8 status, int64 corr, int64 mmc)` with
status SCORED (1) or INVALID (2, corr = mmc = 0), scores in nanos within [-1e9, 1e9].
`build_leaves` turns the scorer's output into the sorted leaf list, `ResultsTree` gives the
root the signers sign and, for `settle`, batches of leaves with their multiproof in exactly
the order OpenZeppelin's `MerkleProof.multiProofVerify` consumes them. The operator, the
contract tests and the auditor all build leaves here, so a root computed by any of them is
the same. Pure code: no I/O.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

from tournament.protocol.constants import Status
from tournament.protocol.merkle import MerkleTreeError, StandardMerkleTree, process_multiproof

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "INVALID",
    "LEAF_TYPES",
    "Leaf",
    "ResultsError",
    "ResultsTree",
    "SCORED",
    "SCORE_NANOS_MAX",
    "SettleBatch",
    "batches",
    "build_leaves",
    "leaves_from_json",
    "leaves_to_json",
]

log = logging.getLogger(__name__)

LEAF_TYPES: list[str] = ["uint256", "uint256", "uint8", "int64", "int64"]
SCORED = Status.SCORED
INVALID = Status.INVALID
SCORE_NANOS_MAX = 1_000_000_000  # a score of 1.0; scores live in [-1e9, 1e9]
UINT256_MAX = 2**256 - 1
DEFAULT_BATCH_SIZE = 200


class ResultsError(ValueError):
    """Leaves or scores that break the protocol's rules (the message says which and how)."""


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResultsError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if not low <= value <= high:
        raise ResultsError(f"{name} = {value} is outside [{low}, {high}]")


@dataclass(frozen=True, order=True)
class Leaf:
    """One staked model's result in a round. Ordered by (round_id, model_id)."""

    round_id: int
    model_id: int
    status: int
    corr_nanos: int
    mmc_nanos: int

    def __post_init__(self) -> None:
        _check_int("round_id", self.round_id, 0, UINT256_MAX)
        _check_int("model_id", self.model_id, 0, UINT256_MAX)
        where = f"round {self.round_id} model {self.model_id}"
        if self.status not in (SCORED, INVALID) or isinstance(self.status, bool):
            raise ResultsError(f"{where}: status must be {SCORED} (SCORED) or {INVALID} (INVALID), "
                               f"got {self.status!r}")
        _check_int(f"{where}: corr_nanos", self.corr_nanos, -SCORE_NANOS_MAX, SCORE_NANOS_MAX)
        _check_int(f"{where}: mmc_nanos", self.mmc_nanos, -SCORE_NANOS_MAX, SCORE_NANOS_MAX)
        if self.status == INVALID and (self.corr_nanos, self.mmc_nanos) != (0, 0):
            raise ResultsError(f"{where}: an INVALID leaf must have corr = mmc = 0, "
                               f"got corr={self.corr_nanos} mmc={self.mmc_nanos}")

    def values(self) -> tuple[int, int, int, int, int]:
        """The leaf as the tree (and `abi.encode` on-chain) sees it, in LEAF_TYPES order."""
        return (self.round_id, self.model_id, self.status, self.corr_nanos, self.mmc_nanos)

    @classmethod
    def scored(cls, round_id: int, model_id: int, corr_nanos: int, mmc_nanos: int) -> Leaf:
        return cls(round_id, model_id, SCORED, corr_nanos, mmc_nanos)

    @classmethod
    def invalid(cls, round_id: int, model_id: int) -> Leaf:
        return cls(round_id, model_id, INVALID, 0, 0)


def _score_pair(model_id: int, score: Any) -> Optional[tuple[int, int]]:
    """Accept `(corr_nanos, mmc_nanos)`, an object with those attributes, or None (no valid score)."""
    if score is None:
        return None
    if hasattr(score, "corr_nanos") and hasattr(score, "mmc_nanos"):
        return score.corr_nanos, score.mmc_nanos
    try:
        corr_nanos, mmc_nanos = score
    except (TypeError, ValueError) as error:
        raise ResultsError(f"model {model_id}: a score must be (corr_nanos, mmc_nanos) or None, "
                           f"got {score!r}") from error
    return corr_nanos, mmc_nanos


def build_leaves(
    round_id: int,
    staked_model_ids: Iterable[int],
    scores_by_model: Mapping[int, Any],
) -> list[Leaf]:
    """The round's leaves: one per staked model, sorted by modelId.

    `scores_by_model[model_id]` is `(corr_nanos, mmc_nanos)` (integers, already rounded half to
    even by the scorer) or an object with `.corr_nanos` / `.mmc_nanos`; a staked model that is
    missing from it or maps to None has no valid submission and gets an INVALID leaf.
    A score for a model that is not staked is an error (the scorer and the chain disagree).
    """
    _check_int("round_id", round_id, 0, UINT256_MAX)
    staked = list(staked_model_ids)
    seen: set[int] = set(staked)
    duplicates = sorted(m for m, count in Counter(staked).items() if count > 1)
    if duplicates:
        raise ResultsError(f"round {round_id}: staked model ids must be distinct; duplicated: "
                           f"{duplicates[:10]}")
    unknown = sorted(set(scores_by_model) - seen)
    if unknown:
        raise ResultsError(f"round {round_id}: scores given for {len(unknown)} model(s) that are not staked "
                           f"in this round (first: {unknown[:10]}); score only the round's staked models")
    leaves = []
    for model_id in sorted(staked):
        score = _score_pair(model_id, scores_by_model.get(model_id))
        if score is None:
            leaves.append(Leaf.invalid(round_id, model_id))
        else:
            leaves.append(Leaf.scored(round_id, model_id, *score))
    invalid_count = sum(1 for leaf in leaves if leaf.status == INVALID)
    log.info("round %s: %d leaves (%d scored, %d invalid)", round_id, len(leaves),
             len(leaves) - invalid_count, invalid_count)
    return leaves


def batches(leaves: Sequence[Leaf], batch_size: int) -> list[list[Leaf]]:
    """Split leaves into consecutive chunks of at most `batch_size` (the last may be shorter)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ResultsError(f"batch_size must be a positive integer, got {batch_size!r}")
    return [list(leaves[i:i + batch_size]) for i in range(0, len(leaves), batch_size)]


def leaves_to_json(leaves: Sequence[Leaf]) -> bytes:
    """`leaves.json` of the artifacts folder: `[{roundId, modelId, status, corr, mmc}]` sorted by modelId.

    The one writer of the file (the operator's format since v1: keys in leaf order, one space
    of indent per level, a trailing newline), so the same leaves always give the same bytes.
    """
    rows = [{"roundId": int(leaf.round_id), "modelId": int(leaf.model_id), "status": int(leaf.status),
             "corr": int(leaf.corr_nanos), "mmc": int(leaf.mmc_nanos)}
            for leaf in sorted(leaves, key=lambda leaf: (leaf.round_id, leaf.model_id))]
    return (json.dumps(rows, indent=1) + "\n").encode("ascii")


def leaves_from_json(data: bytes) -> list[Leaf]:
    """Leaves read back from `leaves.json` (validated like any Leaf)."""
    try:
        rows = json.loads(data)
        return [Leaf(row["roundId"], row["modelId"], row["status"], row["corr"], row["mmc"]) for row in rows]
    except (ValueError, KeyError, TypeError) as error:
        if isinstance(error, ResultsError):
            raise
        raise ResultsError(f"leaves.json: not a list of {{roundId, modelId, status, corr, mmc}} "
                           f"({type(error).__name__}: {error})") from None


class SettleBatch(NamedTuple):
    """Arguments for one `settle` call: leaves in multiproof order, the proof and its flags.

    The contract must hash `leaves` in this exact order (leaf hash = keccak256(keccak256(
    abi.encode(roundId, modelId, status, corr, mmc)))) and pass the hashes with `proof` and
    `proof_flags` to `MerkleProof.multiProofVerify[Calldata]`.
    """

    leaves: list[Leaf]
    proof: list[bytes]
    proof_flags: list[bool]

    def leaf_values(self) -> list[tuple[int, int, int, int, int]]:
        return [leaf.values() for leaf in self.leaves]

    def proof_hex(self) -> list[str]:
        return ["0x" + node.hex() for node in self.proof]


class ResultsTree:
    """The Merkle tree of one round's leaves (OZ StandardMerkleTree over LEAF_TYPES, sorted leaves)."""

    def __init__(self, leaves: Sequence[Leaf], round_id: Optional[int] = None):
        if not leaves:
            raise ResultsError(
                f"round {round_id if round_id is not None else '?'}: no leaves, so no results tree "
                "(a Merkle tree needs at least one leaf); a round without staked models has nothing to settle")
        expected_round = leaves[0].round_id if round_id is None else round_id
        wrong = [leaf for leaf in leaves if leaf.round_id != expected_round]
        if wrong:
            raise ResultsError(f"leaves of round {wrong[0].round_id} (model {wrong[0].model_id}) given for "
                               f"round {expected_round}; every leaf must carry the round id it settles")
        ordered = sorted(leaves, key=lambda leaf: leaf.model_id)
        repeated = sorted({a.model_id for a, b in zip(ordered, ordered[1:]) if a.model_id == b.model_id})
        if repeated:
            raise ResultsError(f"round {expected_round}: more than one leaf for model(s) {repeated[:10]}")
        self.round_id: int = expected_round
        self.leaves: list[Leaf] = ordered
        self.tree = StandardMerkleTree.of([leaf.values() for leaf in ordered], LEAF_TYPES)
        self._by_model = {leaf.model_id: leaf for leaf in ordered}
        self._index_by_model = {leaf.model_id: i for i, leaf in enumerate(ordered)}

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def root_hex(self) -> str:
        return self.tree.root_hex

    @property
    def leaf_count(self) -> int:
        return len(self.leaves)

    def leaf_for(self, model_id: int) -> Leaf:
        try:
            return self._by_model[model_id]
        except KeyError:
            raise ResultsError(f"round {self.round_id}: model {model_id} has no leaf (it was not staked)") from None

    def _value_index(self, leaf: Leaf) -> int:
        if not isinstance(leaf, Leaf):
            raise ResultsError(f"expected a Leaf, got {leaf!r}")
        if leaf.round_id != self.round_id:
            raise ResultsError(f"leaf of round {leaf.round_id} (model {leaf.model_id}) is not in the results "
                               f"of round {self.round_id}")
        known = self._by_model.get(leaf.model_id)
        if known != leaf:
            raise ResultsError(f"round {self.round_id}: {leaf} is not a leaf of these results (tree has {known})")
        return self._index_by_model[leaf.model_id]  # the tree was built from self.leaves, in order

    def proof(self, leaf: Leaf) -> list[bytes]:
        """Single-leaf proof (for `MerkleProof.verify`)."""
        return self.tree.get_proof(self._value_index(leaf))

    def multiproof(self, leaves: Sequence[Leaf]) -> SettleBatch:
        """What `settle` needs for these leaves: the leaves reordered for the proof, proof, flags.

        The returned leaf order is OZ `getMultiProof`'s: ascending leaf hash (descending tree
        index), whatever order the leaves were given in.
        """
        indices = [self._value_index(leaf) for leaf in leaves]
        if len(set(indices)) != len(indices):
            raise ResultsError(f"round {self.round_id}: a leaf appears twice in one multiproof")
        values, proof, proof_flags = self.tree.get_multiproof(indices)
        return SettleBatch([Leaf(*v) for v in values], proof, proof_flags)

    def verify_multiproof(self, batch: SettleBatch) -> bool:
        """Check a batch the way the contract does (leaves hashed in the order given)."""
        try:
            hashes = [self.tree.leaf_hash(leaf.values()) for leaf in batch.leaves]
            return process_multiproof(hashes, batch.proof, batch.proof_flags) == self.root
        except MerkleTreeError:
            return False

    def batches(self, leaves: Optional[Sequence[Leaf]] = None,
                batch_size: int = DEFAULT_BATCH_SIZE) -> list[SettleBatch]:
        """Settlement batches covering `leaves` (default: all) once each, at most `batch_size` per call.

        Leaves are grouped by their position in the tree (ascending leaf hash), not by modelId:
        neighbours in the tree share subtrees, so each multiproof needs few extra hashes.
        """
        chosen = self.leaves if leaves is None else list(leaves)
        by_position = sorted(chosen, key=lambda leaf: -self.tree.tree_indices[self._value_index(leaf)])
        return [self.multiproof(chunk) for chunk in batches(by_position, batch_size)]
