"""oracle/merkle.py is byte-identical to OpenZeppelin's StandardMerkleTree (via tools/merkle-vectors.js)
and its proofs and multiproofs verify for any leaf set, and fail for any changed leaf."""
from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tournament.protocol.merkle import (
    MerkleTreeError,
    MultiProof,
    StandardMerkleTree,
    make_merkle_tree,
    process_multiproof,
    standard_leaf_hash,
    standard_node_hash,
    verify,
    verify_multiproof,
)

REPO = Path(__file__).resolve().parents[2]
VECTORS_JS = REPO / "tools" / "merkle-vectors.js"
LEAF_TYPES = ["uint256", "uint256", "uint8", "int64", "int64"]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def reference(types, values, multiproofs=(), sort_leaves=True, proof_indices=None) -> dict:
    """Run the OZ library on the same input (integers travel as decimal strings)."""
    node = shutil.which("node")
    assert node, "node is required for the reference vectors (make setup installs it)"
    payload = {
        "types": types,
        "values": [[str(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v] for v in values],
        "multiproofs": [list(ix) for ix in multiproofs],
        "sortLeaves": sort_leaves,
    }
    if proof_indices is not None:
        payload["proofIndices"] = list(proof_indices)
    done = subprocess.run([node, str(VECTORS_JS)], input=json.dumps(payload), capture_output=True,
                          text=True, cwd=REPO, check=True, timeout=120)
    return json.loads(done.stdout)


def hexes(nodes) -> list[str]:
    return ["0x" + n.hex() for n in nodes]


def as_json_value(types, value) -> list:
    return [str(x) if t.startswith(("uint", "int")) else x for t, x in zip(types, value)]


def random_leaf(rng: random.Random, model_id: int) -> tuple:
    status = rng.choice([1, 2])
    corr = rng.choice([0, INT64_MIN, INT64_MAX, -(10**9), 10**9, rng.randint(-(10**9), 10**9)])
    mmc = rng.randint(-(10**9), 10**9) if status == 1 else 0
    return (rng.choice([1, 2**256 - 1, rng.randrange(2**64)]), model_id, status, corr, mmc)


def random_index_sets(rng: random.Random, n: int, count: int) -> list[list[int]]:
    sets = [[], list(range(n)), [0], [n - 1]]
    for _ in range(count):
        k = rng.randint(1, n)
        sets.append(rng.sample(range(n), k))  # unsorted on purpose: the order given must not matter
    return sets


def assert_same_as_reference(tree: StandardMerkleTree, ref: dict, index_sets, types, proof_indices) -> None:
    assert tree.root_hex == ref["root"]
    assert hexes(tree.tree) == ref["tree"]
    assert tree.tree_indices == ref["treeIndices"]
    assert len(ref["proofs"]) == len(proof_indices)
    for i, proof in zip(proof_indices, ref["proofs"]):
        assert hexes(tree.get_proof(i)) == proof, f"proof of value {i}"
    for indices, ref_multi in zip(index_sets, ref["multiproofs"]):
        multi = tree.get_multiproof(indices)
        assert [as_json_value(types, v) for v in multi.leaves] == ref_multi["leaves"], f"leaf order for {indices}"
        assert hexes(multi.proof) == ref_multi["proof"]
        assert multi.proof_flags == ref_multi["proofFlags"]
        assert tree.verify_multiproof(multi)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000])
def test_results_tree_matches_openzeppelin_reference(n):
    rng = random.Random(1000 + n)
    values = [random_leaf(rng, model_id) for model_id in rng.sample(range(1, 10**6), n)]
    index_sets = random_index_sets(rng, n, 6 if n < 1000 else 3)
    # The JS library needs ~1 ms per proof: all of them up to 64 leaves, a sample of 1000.
    proof_indices = list(range(n)) if n <= 64 else sorted(rng.sample(range(n), 100))
    ref = reference(LEAF_TYPES, values, index_sets, proof_indices=proof_indices)
    tree = StandardMerkleTree.of(values, LEAF_TYPES)
    assert_same_as_reference(tree, ref, index_sets, LEAF_TYPES, proof_indices)


def test_other_leaf_types_duplicates_and_unsorted_option_match_reference():
    rng = random.Random(7)
    types = ["address", "bytes32", "bool", "int256", "string"]
    values = [("0x" + rng.randbytes(20).hex(), "0x" + rng.randbytes(32).hex(), rng.random() < 0.5,
               rng.randint(-(2**255), 2**255 - 1), f"model-{i}") for i in range(9)]
    values.append(values[3])  # duplicate values are allowed by OZ; the later one wins lookups
    # eth_abi wants checksummed addresses or bytes; OZ takes any hex. Same encoding either way.
    py_values = [(bytes.fromhex(a[2:]), bytes.fromhex(b[2:]), c, d, e) for a, b, c, d, e in values]
    for sort_leaves in (True, False):
        index_sets = [[0, 5, 9], [1, 2, 3, 4], [8]]
        ref = reference(types, values, index_sets, sort_leaves=sort_leaves)
        tree = StandardMerkleTree.of(py_values, types, sort_leaves=sort_leaves)
        assert tree.root_hex == ref["root"]
        assert hexes(tree.tree) == ref["tree"]
        assert tree.tree_indices == ref["treeIndices"]
        for i, proof in enumerate(ref["proofs"]):
            assert hexes(tree.get_proof(i)) == proof
        for indices, ref_multi in zip(index_sets, ref["multiproofs"]):
            multi = tree.get_multiproof(indices)
            assert hexes(multi.proof) == ref_multi["proof"]
            assert multi.proof_flags == ref_multi["proofFlags"]
            assert [v[4] for v in multi.leaves] == [v[4] for v in ref_multi["leaves"]]


def test_fixed_vector_pins_the_leaf_encoding():
    # From @openzeppelin/merkle-tree 1.0.8 (tools/merkle-vectors.js); pinned so an encoding change
    # shows up even without node.
    tree = StandardMerkleTree.of([(7, 1, 1, 25_000_000, -3), (7, 2, 2, 0, 0), (7, 5, 1, -10_000_000, 42)],
                                 LEAF_TYPES)
    ref = reference(LEAF_TYPES, [list(v) for v in tree.values])
    assert tree.root_hex == ref["root"]
    assert tree.root_hex == "0x" + PINNED_ROOT


PINNED_ROOT = "0387e8054cb8e144fabe9f39b8f38a52ab0d6decbb41a28041b1b5692e86e66a"


def test_leaf_hash_is_double_keccak_of_abi_encoding():
    from eth_abi import encode
    from eth_hash.auto import keccak

    value = (3, 17, 1, -123, 456)
    assert standard_leaf_hash(LEAF_TYPES, value) == keccak(keccak(encode(LEAF_TYPES, list(value))))


def test_node_hash_is_commutative_keccak_of_sorted_pair():
    from eth_hash.auto import keccak

    a, b = b"\x01" + b"\x00" * 31, b"\x00" * 31 + b"\xff"
    assert standard_node_hash(a, b) == standard_node_hash(b, a) == keccak(b + a)


def test_multiproof_leaves_come_in_ascending_leaf_hash_order():
    rng = random.Random(3)
    values = [random_leaf(rng, i) for i in range(1, 51)]
    tree = StandardMerkleTree.of(values, LEAF_TYPES)
    multi = tree.get_multiproof(rng.sample(range(50), 20))
    hashes = [standard_leaf_hash(LEAF_TYPES, v) for v in multi.leaves]
    assert hashes == sorted(hashes)


def test_leaves_can_be_given_by_value_or_index():
    values = [(1, i, 1, i, -i) for i in range(1, 6)]
    tree = StandardMerkleTree.of(values, LEAF_TYPES)
    assert tree.get_proof(values[2]) == tree.get_proof(2)
    assert tree.get_multiproof([values[4], values[0]]) == tree.get_multiproof([0, 4])
    assert tree.index_of(values[3]) == 3
    assert verify(tree.root, LEAF_TYPES, values[1], tree.get_proof(1))
    assert verify(tree.root_hex, LEAF_TYPES, values[1], hexes(tree.get_proof(1)))


def test_empty_tree_is_refused():
    with pytest.raises(MerkleTreeError, match="non-zero number of leaves"):
        StandardMerkleTree.of([], LEAF_TYPES)
    with pytest.raises(MerkleTreeError, match="non-zero number of leaves"):
        make_merkle_tree([])


def test_bad_requests_raise_clear_errors():
    tree = StandardMerkleTree.of([(1, i, 1, 0, 0) for i in range(4)], LEAF_TYPES)
    with pytest.raises(MerkleTreeError, match="duplicated index"):
        tree.get_multiproof([1, 2, 1])
    with pytest.raises(MerkleTreeError, match="out of bounds"):
        tree.get_proof(4)
    with pytest.raises(MerkleTreeError, match="not in tree"):
        tree.get_proof((1, 99, 1, 0, 0))
    with pytest.raises(MerkleTreeError, match="cannot be ABI-encoded"):
        StandardMerkleTree.of([(1, 1, 1, 2**63, 0)], LEAF_TYPES)


def test_malformed_multiproofs_do_not_verify():
    tree = StandardMerkleTree.of([(1, i, 1, 0, 0) for i in range(8)], LEAF_TYPES)
    leaves, proof, flags = tree.get_multiproof([1, 4, 6])
    assert tree.verify_multiproof(MultiProof(leaves, proof, flags))
    assert not tree.verify_multiproof(MultiProof(leaves, proof[:-1], flags))
    assert not tree.verify_multiproof(MultiProof(leaves, proof, [not f for f in flags]))
    assert not tree.verify_multiproof(MultiProof(list(reversed(leaves)), proof, flags))
    assert not tree.verify_multiproof(MultiProof(leaves[:-1], proof, flags))
    with pytest.raises(MerkleTreeError, match="not compatible"):
        process_multiproof([tree.leaf_hash(leaf) for leaf in leaves], proof, flags + [True])


def test_ten_thousand_leaves_build_and_prove():
    # Correctness at a round's size; the speed is a benchmark figure (bench/merkle_bench.py).
    values = [(42, i, 1, (i * 7919) % 2_000_000_001 - 1_000_000_000, -i) for i in range(1, 10_001)]
    tree = StandardMerkleTree.of(values, LEAF_TYPES)
    multi = tree.get_multiproof(list(range(0, 10_000, 7)))
    assert tree.verify_multiproof(multi)
    assert tree.verify(9_999, tree.get_proof(9_999))


leaf_strategy = st.tuples(
    st.integers(0, 2**256 - 1), st.integers(0, 2**256 - 1), st.sampled_from([1, 2]),
    st.integers(INT64_MIN, INT64_MAX), st.integers(INT64_MIN, INT64_MAX),
)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(leaf_strategy, min_size=1, max_size=40, unique=True), data=st.data())
def test_every_proof_and_random_multiproofs_verify_and_changed_leaves_fail(values, data):
    tree = StandardMerkleTree.of(values, LEAF_TYPES)
    root = tree.root
    for i, value in enumerate(values):
        proof = tree.get_proof(i)
        assert verify(root, LEAF_TYPES, value, proof)
        changed = (value[0], value[1], value[2], value[3] ^ 1, value[4])
        assert not verify(root, LEAF_TYPES, changed, proof)
    indices = data.draw(st.lists(st.integers(0, len(values) - 1), unique=True))
    leaves, proof, flags = tree.get_multiproof(indices)
    assert sorted(leaves) == sorted(values[i] for i in indices)
    assert verify_multiproof(root, LEAF_TYPES, leaves, proof, flags)
    if leaves:
        k = data.draw(st.integers(0, len(leaves) - 1))
        bumped = list(leaves)
        bumped[k] = (bumped[k][0], bumped[k][1], bumped[k][2], bumped[k][3], bumped[k][4] ^ 1)
        assert not verify_multiproof(root, LEAF_TYPES, bumped, proof, flags)


# ---- tournament/protocol/results.py: the protocol's leaves and the results tree on top of the port ----

from tournament.protocol.results import (  # noqa: E402  (kept next to the tests that use them)
    INVALID,
    SCORED,
    Leaf,
    ResultsError,
    ResultsTree,
    batches,
    build_leaves,
    leaves_from_json,
    leaves_to_json,
)
from tournament.protocol.results import LEAF_TYPES as RESULT_LEAF_TYPES  # noqa: E402


def test_result_leaf_types_are_the_protocols():
    assert RESULT_LEAF_TYPES == ["uint256", "uint256", "uint8", "int64", "int64"]
    assert (SCORED, INVALID) == (1, 2)


def test_build_leaves_sorts_by_model_id_and_marks_unscored_models_invalid():
    class Score:  # the scorer may hand over objects with these attributes
        corr_nanos, mmc_nanos = -7, 8

    leaves = build_leaves(9, [30, 10, 20, 40], {10: (25_000_000, -1), 20: None, 40: Score()})
    assert leaves == [
        Leaf(9, 10, SCORED, 25_000_000, -1),
        Leaf(9, 20, INVALID, 0, 0),
        Leaf(9, 30, INVALID, 0, 0),
        Leaf(9, 40, SCORED, -7, 8),
    ]
    assert leaves[0].values() == (9, 10, 1, 25_000_000, -1)


def test_scores_at_the_bounds_are_accepted_and_beyond_refused():
    assert build_leaves(1, [1, 2], {1: (10**9, -(10**9)), 2: (-(10**9), 10**9)})[0].corr_nanos == 10**9
    with pytest.raises(ResultsError, match=r"corr_nanos = 1000000001 is outside"):
        build_leaves(1, [1], {1: (10**9 + 1, 0)})
    with pytest.raises(ResultsError, match=r"mmc_nanos = -1000000001 is outside"):
        build_leaves(1, [1], {1: (0, -(10**9) - 1)})
    with pytest.raises(ResultsError, match="must be an integer"):
        build_leaves(1, [1], {1: (0.025, 0)})


@pytest.mark.parametrize("make, message", [
    (lambda: build_leaves(1, [3, 4, 3], {}), "duplicated: \\[3\\]"),
    (lambda: build_leaves(1, [3], {5: (1, 1)}), "not staked"),
    (lambda: build_leaves(1, [3], {3: 17}), "must be \\(corr_nanos, mmc_nanos\\)"),
    (lambda: Leaf(1, 2, INVALID, 5, 0), "INVALID leaf must have corr = mmc = 0"),
    (lambda: Leaf(1, 2, 3, 0, 0), "status must be"),
    (lambda: Leaf(-1, 2, 1, 0, 0), "round_id"),
    (lambda: ResultsTree([Leaf(1, 2, 1, 0, 0), Leaf(2, 3, 1, 0, 0)]), "round 2 .* given for round 1"),
    (lambda: ResultsTree([Leaf(1, 2, 1, 0, 0)], round_id=7), "given for round 7"),
    (lambda: ResultsTree([Leaf(1, 2, 1, 0, 0), Leaf(1, 2, 1, 5, 0)]), "more than one leaf for model"),
    (lambda: ResultsTree([]), "no leaves"),
    (lambda: batches([Leaf(1, 2, 1, 0, 0)], 0), "batch_size"),
])
def test_broken_results_are_refused_with_clear_errors(make, message):
    with pytest.raises(ResultsError, match=message):
        make()


def results_fixture(n: int, seed: int = 11) -> list[Leaf]:
    rng = random.Random(seed)
    ids = rng.sample(range(1, 100_000), n)
    scores = {m: (rng.randint(-(10**9), 10**9), rng.randint(-(10**9), 10**9)) for m in ids if rng.random() < 0.8}
    return build_leaves(77, ids, scores)


def test_results_root_equals_openzeppelins_over_the_leaf_values():
    leaves = results_fixture(25)
    tree = ResultsTree(list(reversed(leaves)))  # input order must not matter
    assert tree.leaves == leaves and tree.leaf_count == 25 and tree.round_id == 77
    ref = reference(RESULT_LEAF_TYPES, [list(leaf.values()) for leaf in leaves], [[0, 3, 9]])
    assert tree.root_hex == ref["root"]
    batch = tree.multiproof([leaves[9], leaves[0], leaves[3]])
    assert [list(v) for v in batch.leaf_values()] == [[int(x) for x in v] for v in ref["multiproofs"][0]["leaves"]]
    assert batch.proof_hex() == ref["multiproofs"][0]["proof"]
    assert batch.proof_flags == ref["multiproofs"][0]["proofFlags"]


def test_settlement_batches_cover_every_leaf_once_and_each_verifies():
    leaves = results_fixture(203)
    tree = ResultsTree(leaves)
    all_batches = tree.batches(batch_size=50)
    assert [len(b.leaves) for b in all_batches] == [50, 50, 50, 50, 3]
    settled = [leaf for b in all_batches for leaf in b.leaves]
    assert sorted(settled) == leaves
    for batch in all_batches:
        assert tree.verify_multiproof(batch)
        hashes = [standard_leaf_hash(RESULT_LEAF_TYPES, leaf.values()) for leaf in batch.leaves]
        assert hashes == sorted(hashes)  # the order the contract must hash them in
    # grouping by tree position keeps each proof small: far fewer extra hashes than leaves
    assert sum(len(b.proof) for b in all_batches) < len(leaves) / 2


def test_a_partial_batch_of_remaining_leaves_verifies_and_a_changed_leaf_does_not():
    leaves = results_fixture(40)
    tree = ResultsTree(leaves)
    remaining = leaves[5:17]
    [batch] = tree.batches(remaining, batch_size=100)
    assert sorted(batch.leaves) == remaining and tree.verify_multiproof(batch)
    scored = next(leaf for leaf in batch.leaves if leaf.status == SCORED)
    forged = [Leaf(scored.round_id, scored.model_id, SCORED, scored.corr_nanos + 1, scored.mmc_nanos)
              if leaf == scored else leaf for leaf in batch.leaves]
    assert not tree.verify_multiproof(batch._replace(leaves=forged))
    with pytest.raises(ResultsError, match="is not a leaf of these results"):
        tree.multiproof(forged)
    with pytest.raises(ResultsError, match="appears twice"):
        tree.multiproof([leaves[0], leaves[0]])


def test_leaves_json_round_trips_in_canonical_bytes():
    leaves = results_fixture(12)
    data = leaves_to_json(list(reversed(leaves)))
    # the operator's format since v1: leaf-ordered keys, one space of indent, a trailing newline
    assert data == leaves_to_json(leaves) and data.endswith(b"\n]\n")
    assert data.startswith(b'[\n {\n  "roundId": 77,\n  "modelId": ')
    assert leaves_from_json(data) == leaves
    first = json.loads(data)[0]
    assert first == {"roundId": 77, "modelId": leaves[0].model_id, "status": leaves[0].status,
                     "corr": leaves[0].corr_nanos, "mmc": leaves[0].mmc_nanos}
    with pytest.raises(ResultsError, match="leaves.json"):
        leaves_from_json(b'[{"roundId": 1}]')
    with pytest.raises(ResultsError, match="outside"):
        leaves_from_json(b'[{"roundId":1,"modelId":2,"status":1,"corr":2000000000,"mmc":0}]')
