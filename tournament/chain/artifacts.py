"""The contracts' ABIs and bytecode, shipped inside the package (tournament/chain/abi/*.json).

`make compile` runs brownie, then `python -m tournament.chain.artifacts` copies the ABI (and
the bytecode of deployable contracts) of each SHIPPED contract from build/contracts into
tournament/chain/abi/, where `load_artifact` finds them with importlib.resources: an
installed package (`pip install .`) needs no checkout and no brownie. tests/protocol/
test_shipped_abis.py fails when a shipped file differs from a fresh compile, so they cannot
drift. Contracts that only tests and benchmarks deploy (mocks, references) are not shipped;
`load_artifact` reads them from build/contracts of a checkout.
"""
from __future__ import annotations

import json
import os
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from tournament.chain.errors import ChainError

__all__ = ["DEFAULT_BUILD_DIR", "PROJECT_ROOT", "SHIPPED", "export_artifacts", "load_artifact", "shipped_artifact"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUILD_DIR = PROJECT_ROOT / "build" / "contracts"
# Every contract the package talks to at run time; interfaces for their events and errors.
SHIPPED = ("Tournament", "NMR", "ITournament")


def _artifact_of(data: dict) -> dict[str, Any]:
    """The part of a compiled contract the package uses: name, ABI, creation bytecode."""
    return {"contractName": data["contractName"], "abi": data["abi"], "bytecode": data.get("bytecode") or ""}


@cache
def shipped_artifact(name: str) -> Optional[dict]:
    """The shipped artifact of `name`, or None when the package does not ship it."""
    path = resources.files("tournament.chain").joinpath("abi", f"{name}.json")
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def load_artifact(name: str, build_dir: Optional[Path] = None) -> dict:
    """ABI and bytecode of a contract: {"abi": [...], "bytecode": "0x..."}.

    The shipped copy unless `build_dir` (or $TOURNAMENT_BUILD_DIR) names a brownie build
    folder, which then wins (e.g. to run against contracts compiled a minute ago).
    """
    override = build_dir or os.environ.get("TOURNAMENT_BUILD_DIR")
    if not override:
        shipped = shipped_artifact(name)
        if shipped is not None:
            return {"abi": shipped["abi"], "bytecode": shipped["bytecode"]}
    path = Path(override or DEFAULT_BUILD_DIR) / f"{name}.json"
    if not path.exists():
        raise ChainError(f"contract {name}: not shipped with the package and {path} not found; "
                         "run `make compile` in a checkout")
    data = json.loads(path.read_text())
    return {"abi": data["abi"], "bytecode": data["bytecode"]}


def export_artifacts(build_dir: Path = DEFAULT_BUILD_DIR, out_dir: Optional[Path] = None,
                     names: tuple[str, ...] = SHIPPED) -> list[Path]:
    """Writes abi/<Name>.json for each shipped contract from a brownie build; returns the paths."""
    out = Path(out_dir or Path(__file__).resolve().parent / "abi")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        source = Path(build_dir) / f"{name}.json"
        if not source.exists():
            raise ChainError(f"{source}: not compiled; run `brownie compile` first")
        path = out / f"{name}.json"
        path.write_text(json.dumps(_artifact_of(json.loads(source.read_text())), indent=1, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":  # `python -m tournament.chain.artifacts [BUILD_DIR]`, run by `make compile`
    export_artifacts(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_BUILD_DIR)
