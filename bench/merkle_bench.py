"""Results tree speed: building the StandardMerkleTree of a round's leaves and a multiproof.

Moved here from a test that asserted wall time (flaky on a loaded machine): the figure is a
benchmark, reported, not asserted. Sizes are a round of 1,000, 10,000 and 15,000 stakes
(Numerai Classic has about 14,000 models); the multiproof covers every 7th leaf, about the
share of a settlement batch.
"""
from __future__ import annotations

import time

from tournament.protocol.merkle import StandardMerkleTree
from tournament.protocol.results import LEAF_TYPES


def _leaves(count: int) -> list[tuple]:
    return [(42, i, 1, (i * 7919) % 2_000_000_001 - 1_000_000_000, -i) for i in range(1, count + 1)]


def run(quick: bool = False) -> tuple[str, dict]:
    sizes = (1_000,) if quick else (1_000, 10_000, 15_000)
    rows, figures = [], {}
    for count in sizes:
        values = _leaves(count)
        started = time.perf_counter()
        tree = StandardMerkleTree.of(values, LEAF_TYPES)
        built_s = time.perf_counter() - started
        started = time.perf_counter()
        multi = tree.get_multiproof(list(range(0, count, 7)))
        proof_s = time.perf_counter() - started
        if not tree.verify_multiproof(multi):  # a wrong tree must not produce a figure
            raise AssertionError(f"multiproof of the {count}-leaf tree does not verify")
        rows.append(f"| {count:,} | {built_s:.2f} | {proof_s:.2f} |")
        figures[str(count)] = {"build_s": round(built_s, 3), "multiproof_s": round(proof_s, 3)}
    section = ("## Results tree (Merkle)\n\n"
               "StandardMerkleTree of the round's leaves (OpenZeppelin's layout, pure Python) and one "
               "multiproof of every 7th leaf.\n\n| leaves | build (s) | multiproof (s) |\n|---:|---:|---:|\n"
               + "\n".join(rows) + "\n")
    return section, figures
