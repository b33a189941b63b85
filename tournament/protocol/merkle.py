"""An exact Python port of OpenZeppelin's StandardMerkleTree (@openzeppelin/merkle-tree 1.0.8).

The results of a round are committed on-chain as the root of this tree, and the contract
checks settlement batches with OpenZeppelin's `MerkleProof.multiProofVerifyCalldata`, so
every byte here must match the JavaScript library: the leaf hash is
`keccak256(keccak256(abi.encode(values...)))`, inner nodes hash the sorted pair, the tree
is OZ's flat array (root at 0, children of i at 2i+1 and 2i+2, leaves at the end in
reverse order), and leaves are sorted by hash before building (`sortLeaves: true`, the
default of `StandardMerkleTree.of`). Proofs and multiproofs are produced by the same
algorithms as `getProof` / `getMultiProof`, so they are byte-identical to the reference
(tests/protocol/test_merkle_tree.py checks this against tools/merkle-vectors.js).
Pure code: no I/O.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple, Union

from eth_abi.encoding import TupleEncoder
from eth_abi.exceptions import EncodingError
from eth_abi.registry import registry as _abi_registry
from eth_hash.auto import keccak

__all__ = [
    "MerkleTreeError",
    "MultiProof",
    "StandardMerkleTree",
    "get_multiproof",
    "get_proof",
    "make_merkle_tree",
    "process_multiproof",
    "process_proof",
    "standard_leaf_hash",
    "standard_node_hash",
    "verify",
    "verify_multiproof",
]

Bytes32Like = Union[bytes, str]


class MerkleTreeError(ValueError):
    """A tree, proof or leaf that cannot be built or proven (the OZ library throws here too)."""


class MultiProof(NamedTuple):
    """What `getMultiProof` returns; unpacks as `(leaves, proof, proof_flags)`.

    `leaves` are the leaf *values* in the order the proof consumes them (descending tree
    index, which with sorted leaves is ascending leaf hash). The contract must hash them in
    exactly this order before calling `multiProofVerify`.
    """

    leaves: list[tuple]
    proof: list[bytes]
    proof_flags: list[bool]


def _to_bytes32(node: Bytes32Like) -> bytes:
    if isinstance(node, str):
        text = node[2:] if node[:2] in ("0x", "0X") else node
        try:
            node = bytes.fromhex(text)
        except ValueError as error:
            raise MerkleTreeError(f"not a hex string: {node!r}") from error
    node = bytes(node)
    if len(node) != 32:
        raise MerkleTreeError(f"Merkle tree nodes must be 32 bytes, got {len(node)}")
    return node


def _tuple_encoder(leaf_types: Sequence[str]) -> TupleEncoder:
    # Same encoders eth_abi.encode uses, built once per tree instead of once per leaf.
    return TupleEncoder(encoders=[_abi_registry.get_encoder(t) for t in leaf_types])


def _hash_encoded(encoder: TupleEncoder, leaf_types: Sequence[str], value: Sequence[Any]) -> bytes:
    try:
        encoded = encoder(tuple(value))
    except (EncodingError, TypeError) as error:
        raise MerkleTreeError(
            f"leaf {tuple(value)!r} cannot be ABI-encoded as ({','.join(leaf_types)}): {error}"
        ) from error
    return keccak(keccak(encoded))


def standard_leaf_hash(leaf_types: Sequence[str], value: Sequence[Any]) -> bytes:
    """`keccak256(bytes.concat(keccak256(abi.encode(value...))))`, as OZ's `standardLeafHash`."""
    return _hash_encoded(_tuple_encoder(leaf_types), leaf_types, value)


def standard_node_hash(a: bytes, b: bytes) -> bytes:
    """keccak256 of the sorted pair (OZ `standardNodeHash`, Solidity `commutativeKeccak256`)."""
    # Equal-length byte strings compare like the 256-bit numbers they encode.
    return keccak(a + b) if a <= b else keccak(b + a)


def _left(i: int) -> int:
    return 2 * i + 1


def _sibling(i: int) -> int:
    if i <= 0:
        raise MerkleTreeError("root has no siblings")
    return i - (-1) ** (i % 2)


def _parent(i: int) -> int:
    if i <= 0:
        raise MerkleTreeError("root has no parent")
    return (i - 1) // 2


def _check_leaf_node(tree: Sequence[bytes], i: int) -> None:
    is_leaf = 0 <= i < len(tree) and not _left(i) < len(tree)
    if not is_leaf:
        raise MerkleTreeError(f"tree index {i} is not a leaf")


def make_merkle_tree(leaf_hashes: Sequence[Bytes32Like]) -> list[bytes]:
    """OZ `makeMerkleTree`: the flat tree array over leaf hashes given in leaf order.

    Leaf `i` goes to tree index `len(tree) - 1 - i`; node `i` hashes its children `2i+1`, `2i+2`.
    """
    if len(leaf_hashes) == 0:
        raise MerkleTreeError("Expected non-zero number of leaves: a Merkle tree needs at least one leaf")
    leaves = [_to_bytes32(leaf) for leaf in leaf_hashes]
    size = 2 * len(leaves) - 1
    tree: list[bytes] = [b""] * size
    for i, leaf in enumerate(leaves):
        tree[size - 1 - i] = leaf
    for i in range(size - 1 - len(leaves), -1, -1):
        tree[i] = standard_node_hash(tree[2 * i + 1], tree[2 * i + 2])
    return tree


def get_proof(tree: Sequence[bytes], index: int) -> list[bytes]:
    """OZ core `getProof`: siblings from the leaf at tree index `index` up to the root."""
    _check_leaf_node(tree, index)
    proof = []
    while index > 0:
        proof.append(tree[_sibling(index)])
        index = _parent(index)
    return proof


def get_multiproof(tree: Sequence[bytes], indices: Sequence[int]) -> tuple[list[bytes], list[bytes], list[bool]]:
    """OZ core `getMultiProof` over tree indices: `(leaf_hashes_in_order, proof, proof_flags)`."""
    for i in indices:
        _check_leaf_node(tree, i)
    ordered = sorted(indices, reverse=True)
    if any(a == b for a, b in zip(ordered, ordered[1:])):
        raise MerkleTreeError("Cannot prove duplicated index")
    queue = deque(ordered)
    proof: list[bytes] = []
    proof_flags: list[bool] = []
    while queue and queue[0] > 0:
        j = queue.popleft()
        s = _sibling(j)
        p = _parent(j)
        if queue and s == queue[0]:
            proof_flags.append(True)
            queue.popleft()
        else:
            proof_flags.append(False)
            proof.append(tree[s])
        queue.append(p)
    if len(ordered) == 0:
        proof.append(tree[0])
    return [tree[i] for i in ordered], proof, proof_flags


def process_proof(leaf_hash: Bytes32Like, proof: Sequence[Bytes32Like]) -> bytes:
    """The root implied by a leaf hash and its proof (OZ `processProof`)."""
    node = _to_bytes32(leaf_hash)
    for sibling in proof:
        node = standard_node_hash(node, _to_bytes32(sibling))
    return node


def process_multiproof(
    leaf_hashes: Sequence[Bytes32Like], proof: Sequence[Bytes32Like], proof_flags: Sequence[bool]
) -> bytes:
    """The root implied by a multiproof (OZ `processMultiProof`, same checks as the JS library)."""
    leaves = [_to_bytes32(leaf) for leaf in leaf_hashes]
    proof_nodes = deque(_to_bytes32(node) for node in proof)
    if len(proof_nodes) < sum(1 for flag in proof_flags if not flag):
        raise MerkleTreeError("Invalid multiproof format: fewer proof nodes than false flags")
    if len(leaves) + len(proof_nodes) != len(proof_flags) + 1:
        raise MerkleTreeError("Provided leaves and multiproof are not compatible: "
                              "need len(leaves) + len(proof) == len(proof_flags) + 1")
    queue = deque(leaves)
    for flag in proof_flags:
        if not queue:
            raise MerkleTreeError("Invalid multiproof: the queue ran empty")
        a = queue.popleft()
        if flag:
            if not queue:
                raise MerkleTreeError("Invalid multiproof: the queue ran empty")
            b = queue.popleft()
        else:
            b = proof_nodes.popleft()
        queue.append(standard_node_hash(a, b))
    if len(queue) + len(proof_nodes) != 1:
        raise MerkleTreeError("Invalid multiproof: nodes left over")
    return queue.pop() if queue else proof_nodes.popleft()


def verify(root: Bytes32Like, leaf_types: Sequence[str], value: Sequence[Any], proof: Sequence[Bytes32Like]) -> bool:
    """True when `value` is a leaf of the tree with this root (OZ `StandardMerkleTree.verify`)."""
    try:
        return process_proof(standard_leaf_hash(leaf_types, value), proof) == _to_bytes32(root)
    except MerkleTreeError:
        return False


def verify_multiproof(
    root: Bytes32Like,
    leaf_types: Sequence[str],
    leaves: Sequence[Sequence[Any]],
    proof: Sequence[Bytes32Like],
    proof_flags: Sequence[bool],
) -> bool:
    """True when the multiproof proves `leaves` (in the given order) against `root`.

    A malformed multiproof (which OZ's JS throws on and Solidity reverts on) is simply False.
    """
    encoder = _tuple_encoder(leaf_types)
    try:
        hashes = [_hash_encoded(encoder, leaf_types, leaf) for leaf in leaves]
        return process_multiproof(hashes, proof, proof_flags) == _to_bytes32(root)
    except MerkleTreeError:
        return False


class StandardMerkleTree:
    """OZ `StandardMerkleTree.of(values, leafEncoding, {sortLeaves})`, built once, indexed by value.

    Leaves are addressed like in OZ: an `int` is the position of the value in the list given to
    the constructor ("value index"); anything else is a leaf value, looked up by its hash.
    Node hashes are returned as 32-byte `bytes`; `root_hex` and `dump()` give 0x-hex strings.
    """

    def __init__(self, values: Sequence[Sequence[Any]], leaf_types: Sequence[str], sort_leaves: bool = True):
        if len(values) == 0:
            raise MerkleTreeError("Expected non-zero number of leaves: cannot build a Merkle tree of no values")
        self.leaf_types: tuple[str, ...] = tuple(leaf_types)
        self._encoder = _tuple_encoder(self.leaf_types)
        self.values: tuple[tuple, ...] = tuple(tuple(v) for v in values)
        hashes = [self._leaf_hash(v) for v in self.values]
        # Python's sort is stable, like V8's: equal hashes (duplicate values) keep input order.
        order = sorted(range(len(hashes)), key=hashes.__getitem__) if sort_leaves else list(range(len(hashes)))
        self.tree: list[bytes] = make_merkle_tree([hashes[i] for i in order])
        size = len(self.tree)
        self.tree_indices: list[int] = [0] * len(self.values)
        for leaf_index, value_index in enumerate(order):
            self.tree_indices[value_index] = size - 1 - leaf_index
        # Later duplicates win, as in OZ's Object.fromEntries(hash -> valueIndex).
        self._index_by_hash: dict[bytes, int] = {h: i for i, h in enumerate(hashes)}

    @classmethod
    def of(cls, values: Sequence[Sequence[Any]], leaf_types: Sequence[str],
           sort_leaves: bool = True) -> StandardMerkleTree:
        """Same as the constructor; named like OZ's `StandardMerkleTree.of`."""
        return cls(values, leaf_types, sort_leaves)

    @property
    def root(self) -> bytes:
        return self.tree[0]

    @property
    def root_hex(self) -> str:
        return "0x" + self.root.hex()

    def __len__(self) -> int:
        return len(self.values)

    def _leaf_hash(self, value: Sequence[Any]) -> bytes:
        return _hash_encoded(self._encoder, self.leaf_types, value)

    def leaf_hash(self, leaf: Union[int, Sequence[Any]]) -> bytes:
        """The leaf hash of a value (or of the value at a value index)."""
        if isinstance(leaf, int):
            return self.tree[self.tree_indices[self._check_index(leaf)]]
        return self._leaf_hash(leaf)

    def index_of(self, value: Sequence[Any]) -> int:
        """The value index of `value`; MerkleTreeError if it is not a leaf of this tree."""
        index = self._index_by_hash.get(self._leaf_hash(value))
        if index is None:
            raise MerkleTreeError(f"Leaf is not in tree: {tuple(value)!r}")
        return index

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self.values):
            raise MerkleTreeError(f"Index out of bounds: {index} (tree has {len(self.values)} leaves)")
        return index

    def _value_index(self, leaf: Union[int, Sequence[Any]]) -> int:
        return self._check_index(leaf) if isinstance(leaf, int) else self.index_of(leaf)

    def get_proof(self, leaf: Union[int, Sequence[Any]]) -> list[bytes]:
        """OZ `getProof(leaf)`: the sibling hashes from the leaf up to the root."""
        tree_index = self.tree_indices[self._value_index(leaf)]
        proof = get_proof(self.tree, tree_index)
        if process_proof(self.tree[tree_index], proof) != self.root:  # OZ's sanity check
            raise MerkleTreeError("Unable to prove value")
        return proof

    def get_multiproof(self, leaves: Sequence[Union[int, Sequence[Any]]]) -> MultiProof:
        """OZ `getMultiProof(leaves)`: `(leaf values in proof order, proof, proof_flags)`."""
        tree_indices = [self.tree_indices[self._value_index(leaf)] for leaf in leaves]
        leaf_hashes, proof, proof_flags = get_multiproof(self.tree, tree_indices)
        if process_multiproof(leaf_hashes, proof, proof_flags) != self.root:  # OZ's sanity check
            raise MerkleTreeError("Unable to prove values")
        return MultiProof(
            leaves=[self.values[self._index_by_hash[h]] for h in leaf_hashes],
            proof=proof,
            proof_flags=proof_flags,
        )

    def verify(self, leaf: Union[int, Sequence[Any]], proof: Sequence[Bytes32Like]) -> bool:
        try:
            return process_proof(self.leaf_hash(leaf), proof) == self.root
        except MerkleTreeError:
            return False

    def verify_multiproof(self, multiproof: MultiProof) -> bool:
        leaves, proof, proof_flags = multiproof
        try:
            hashes = [self.leaf_hash(leaf) for leaf in leaves]
            return process_multiproof(hashes, proof, proof_flags) == self.root
        except MerkleTreeError:
            return False

    def dump(self) -> dict:
        """OZ's `dump()` ("standard-v1"), loadable by `StandardMerkleTree.load` in JavaScript.

        Integers are written as decimal strings (JSON has no 256-bit integers); bytes as 0x-hex.
        """
        def jsonable(item: Any) -> Any:
            if isinstance(item, bool):
                return item
            if isinstance(item, int):
                return str(item)
            if isinstance(item, (bytes, bytearray)):
                return "0x" + bytes(item).hex()
            if isinstance(item, (list, tuple)):
                return [jsonable(x) for x in item]
            return item

        return {
            "format": "standard-v1",
            "leafEncoding": list(self.leaf_types),
            "tree": ["0x" + node.hex() for node in self.tree],
            "values": [{"value": jsonable(v), "treeIndex": t} for v, t in zip(self.values, self.tree_indices)],
        }
