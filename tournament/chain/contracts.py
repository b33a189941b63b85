"""Where the tournament lives (the deployment file) and web3 bindings to its contracts.

`Deployment` is the file scripts/deploy.py writes per chain id; `tournament_contract` and
`nmr_contract` bind the shipped ABIs to its addresses; `deploy_contract` deploys a compiled
contract through a Transactor.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from tournament.chain.artifacts import PROJECT_ROOT, load_artifact
from tournament.chain.errors import ChainError
from tournament.chain.transactor import Transactor

__all__ = ["DEFAULT_DEPLOYMENTS_DIR", "Deployment", "deploy_contract", "load_contracts", "nmr_contract",
           "tournament_contract"]

DEFAULT_DEPLOYMENTS_DIR = PROJECT_ROOT / "deployments"


@dataclass
class Deployment:
    """Where the tournament lives on one chain; written by scripts/deploy.py."""

    chain_id: int
    nmr: str
    tournament: str
    deploy_block: int
    admin: str = ""
    operator: str = ""
    guardian: str = ""
    signers: list[str] = field(default_factory=list)
    threshold: int = 0
    preset: str = ""
    # How the token burns ("burn" or "legacy-mint"); fixed at deployment, shown by burnMethod().
    burn_method: str = "burn"

    @staticmethod
    def path_for(chain_id: int, directory: Optional[Path] = None) -> Path:
        from_env = os.environ.get("TOURNAMENT_DEPLOYMENTS")
        base = Path(directory or (from_env if from_env is not None else DEFAULT_DEPLOYMENTS_DIR))
        return base / f"{chain_id}.json"

    def save(self, directory: Optional[Path] = None) -> Path:
        path = self.path_for(self.chain_id, directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, chain_id: int, directory: Optional[Path] = None) -> Deployment:
        path = cls.path_for(chain_id, directory)
        if not path.exists():
            raise ChainError(f"no deployment for chain id {chain_id} at {path}; "
                             "deploy first (`brownie run scripts/deploy.py`) or pass --deployments DIR")
        return cls(**json.loads(path.read_text()))


def tournament_contract(w3: Web3, deployment: Deployment) -> Contract:
    return w3.eth.contract(address=to_checksum_address(deployment.tournament),
                           abi=load_artifact("Tournament")["abi"])


def nmr_contract(w3: Web3, deployment: Deployment) -> Contract:
    return w3.eth.contract(address=to_checksum_address(deployment.nmr), abi=load_artifact("NMR")["abi"])


def load_contracts(w3: Web3, deployments_dir: Optional[Path] = None) -> tuple[Deployment, Contract, Contract]:
    deployment = Deployment.load(w3.eth.chain_id, deployments_dir)
    return deployment, tournament_contract(w3, deployment), nmr_contract(w3, deployment)


def deploy_contract(transactor: Transactor, name: str, *args: Any, description: Optional[str] = None) -> Contract:
    """Deploys a compiled contract and returns its binding."""
    artifact = load_artifact(name)
    factory = transactor.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = transactor.transact(factory.constructor(*args), description or f"deploying {name}")
    return transactor.w3.eth.contract(address=ChecksumAddress(receipt["contractAddress"]), abi=artifact["abi"])
