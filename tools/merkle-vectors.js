#!/usr/bin/env node
// Reference vectors from OpenZeppelin's own @openzeppelin/merkle-tree, for the Python port
// (oracle/merkle.py) to be compared against in tests/oracle/test_merkle_tree.py.
//
// stdin (JSON):  {"types": ["uint256", ...], "values": [["1", "-5", ...], ...],
//                 "multiproofs": [[0, 3], ...], "proofIndices": [0, 5, ...], "sortLeaves": true}
//   proofIndices (optional, default every value index) limits the single proofs computed:
//   the library takes about a millisecond per proof.
//   Integers (int*/uint* types) are decimal strings, so 256-bit values survive JSON.
// stdout (JSON): {"root", "tree", "treeIndices", "proofs": [[hex...] per value index],
//                 "multiproofs": [{"leaves": [values], "proof": [hex], "proofFlags": [bool]}]}
//   proofs[k] is the proof of value index proofIndices[k]; values keep the input's order.
'use strict';
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');

function readStdin() {
  return require('fs').readFileSync(0, 'utf8');
}

const isInteger = type => /^u?int\d*$/.test(type);

function decode(types, value) {
  return value.map((item, i) => (isInteger(types[i]) ? BigInt(item) : item));
}

function encodeJson(key, item) {
  return typeof item === 'bigint' ? item.toString() : item;
}

const input = JSON.parse(readStdin());
const values = input.values.map(v => decode(input.types, v));
const tree = StandardMerkleTree.of(values, input.types, { sortLeaves: input.sortLeaves ?? true });
const dump = tree.dump();
const output = {
  root: tree.root,
  tree: dump.tree,
  treeIndices: dump.values.map(v => v.treeIndex),
  proofs: (input.proofIndices ?? values.map((_, i) => i)).map(i => tree.getProof(i)),
  multiproofs: (input.multiproofs || []).map(indices => tree.getMultiProof(indices)),
};
process.stdout.write(JSON.stringify(output, encodeJson));
