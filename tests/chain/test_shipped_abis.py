"""The ABIs shipped inside the package (tournament/chain/abi) equal the compiled contracts.

`make compile` writes build/contracts (brownie) and then the shipped copies; this test fails
when a shipped file differs from the build, and when the build itself is stale (its recorded
source differs from contracts/ on disk), so the package can never carry an outdated ABI.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tournament.chain.artifacts import DEFAULT_BUILD_DIR, PROJECT_ROOT, SHIPPED, load_artifact, shipped_artifact


def _build(name: str) -> dict:
    path = DEFAULT_BUILD_DIR / f"{name}.json"
    assert path.exists(), f"{path} missing: run `make compile`"
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_artifact_equals_the_compiled_contract(name):
    build = _build(name)
    stale = [dep for dep in [name, *build.get("dependencies", [])]
             if (DEFAULT_BUILD_DIR / f"{dep}.json").exists()
             and _build(dep)["sourcePath"].startswith("contracts/")
             and _build(dep)["source"] != (PROJECT_ROOT / _build(dep)["sourcePath"]).read_text()]
    assert not stale, f"build/contracts is older than contracts/ for {stale}: run `make compile`"
    shipped = shipped_artifact(name)
    assert shipped is not None, f"tournament/chain/abi/{name}.json missing: run `make compile`"
    assert shipped["abi"] == build["abi"], f"shipped ABI of {name} differs from the compile: run `make compile`"
    assert shipped["bytecode"] == build["bytecode"], f"shipped bytecode of {name} differs: run `make compile`"


def test_load_artifact_prefers_the_shipped_copy_and_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("TOURNAMENT_BUILD_DIR", raising=False)
    assert load_artifact("Tournament")["abi"] == shipped_artifact("Tournament")["abi"]
    assert len(bytes.fromhex(load_artifact("Tournament")["bytecode"].removeprefix("0x"))) > 10_000
    monkeypatch.setenv("TOURNAMENT_BUILD_DIR", str(tmp_path))
    from tournament.chain.errors import ChainError
    with pytest.raises(ChainError, match="make compile"):
        load_artifact("Tournament")
    assert Path(DEFAULT_BUILD_DIR).name == "contracts"
