"""Where the tournament lives (the deployment file) and web3 bindings to its contracts.

`Deployment` is the file scripts/deploy.py writes per chain: `<chainId>-<genesis8>.json`,
keyed by the chain id AND the first 8 hex digits of the genesis block hash, because two
chains can share an id (anvil and Hardhat are both 31337; so is every restarted dev chain).
The old name `<chainId>.json` is still read when no keyed file exists. `Deployment.for_rpc`
picks the file of the chain an RPC serves and checks the deployment's identity there (code
at both addresses, the tournament's `nmr()` is the deployment's token): a wrong file is one
line, "no tournament at 0x... on this RPC (chain id N)", never an undecodable empty return.
`tournament_contract` and `nmr_contract` bind the shipped ABIs to its addresses;
`deploy_contract` deploys a compiled contract through a Transactor.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from tournament.chain.artifacts import PROJECT_ROOT, load_artifact
from tournament.chain.errors import ChainError
from tournament.chain.rpc import rpc
from tournament.chain.transactor import Transactor

__all__ = ["DEFAULT_DEPLOYMENTS_DIR", "Deployment", "deploy_contract", "genesis_hash", "load_contracts",
           "nmr_contract", "no_tournament_message", "tournament_contract", "verify_deployment"]

DEFAULT_DEPLOYMENTS_DIR = PROJECT_ROOT / "deployments"


def genesis_hash(w3: Web3) -> str:
    """0x-hex hash of the chain's block 0: with the chain id, what tells two chains apart."""
    block = rpc(lambda: w3.eth.get_block(0), "reading the genesis block")
    return "0x" + bytes(block["hash"]).hex()


def no_tournament_message(address: Optional[str], chain_id: Optional[int]) -> str:
    """What to say when the deployment's address holds no tournament on the RPC."""
    where = f"at {address}" if address else "at the deployment's address"
    chain = f" (chain id {chain_id})" if chain_id is not None else ""
    return (f"no tournament {where} on this RPC{chain}: wrong --rpc or --deployments? "
            "(a restarted local chain forgets its contracts: deploy again)")


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
    genesis_hash: str = ""   # 0x-hex hash of block 0 ("" in files written before it was recorded)

    @staticmethod
    def _base(directory: Optional[Path]) -> Path:
        from_env = os.environ.get("TOURNAMENT_DEPLOYMENTS")
        return Path(directory or (from_env if from_env is not None else DEFAULT_DEPLOYMENTS_DIR))

    @staticmethod
    def file_name(chain_id: int, genesis: str = "") -> str:
        """`<chainId>-<first 8 hex digits of the genesis hash>.json` (`<chainId>.json` without one)."""
        tag = str(genesis or "").lower().removeprefix("0x")[:8]
        return f"{int(chain_id)}-{tag}.json" if tag else f"{int(chain_id)}.json"

    @classmethod
    def path_for(cls, chain_id: int, directory: Optional[Path] = None, genesis: str = "") -> Path:
        return cls._base(directory) / cls.file_name(chain_id, genesis)

    @property
    def path_name(self) -> str:
        return self.file_name(self.chain_id, self.genesis_hash)

    def save(self, directory: Optional[Path] = None) -> Path:
        path = self.path_for(self.chain_id, directory, self.genesis_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)   # never a half-written deployment file
        return path

    @classmethod
    def from_file(cls, path: Path) -> Deployment:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ChainError(f"deployment file {path} cannot be read ({exc})") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ChainError(f"deployment file {path} has fields this version does not know ({', '.join(unknown)}); "
                             "update the package")
        return cls(**data)

    @classmethod
    def load(cls, chain_id: int, directory: Optional[Path] = None, genesis: str = "") -> Deployment:
        """The deployment file of chain `chain_id` (and genesis hash `genesis`, when given).

        Order: `<chainId>-<genesis8>.json`; the old `<chainId>.json`; without `genesis`, the one
        `<chainId>-*.json` when there is exactly one (several: the RPC's genesis must decide).
        """
        base = cls._base(directory)
        if genesis:
            keyed = cls.path_for(chain_id, directory, genesis)
            if keyed.exists():
                return cls.from_file(keyed)
        legacy = base / f"{int(chain_id)}.json"
        if legacy.exists():
            return cls.from_file(legacy)
        if not genesis:
            candidates = sorted(base.glob(f"{int(chain_id)}-*.json"))
            if len(candidates) == 1:
                return cls.from_file(candidates[0])
            if candidates:
                raise ChainError(f"{len(candidates)} deployment files for chain id {chain_id} in {base} "
                                 f"({', '.join(c.name for c in candidates)}); the RPC's genesis hash decides: "
                                 "connect through Deployment.for_rpc")
        wanted = cls.file_name(chain_id, genesis)
        raise ChainError(f"no deployment for chain id {chain_id} at {base / wanted}; "
                         "deploy first (`brownie run scripts/deploy.py`) or pass --deployments DIR")

    @classmethod
    def for_rpc(cls, w3: Web3, directory: Optional[Path] = None, *, verify: bool = True) -> Deployment:
        """The deployment file of the chain `w3` serves (chain id + genesis hash), identity checked."""
        chain = int(rpc(lambda: w3.eth.chain_id, "reading the chain id"))
        deployment = cls.load(chain, directory, genesis_hash(w3))
        if verify:
            verify_deployment(w3, deployment)
        return deployment


_NMR_VIEW_ABI = [{"type": "function", "name": "nmr", "stateMutability": "view", "inputs": [],
                  "outputs": [{"name": "", "type": "address"}]}]


def verify_deployment(w3: Web3, deployment: Deployment) -> None:
    """Fails with one line unless the RPC has the deployment: code at the tournament and the token
    addresses, and the tournament's `nmr()` is the deployment's token (and, when recorded, the
    genesis hash matches)."""
    from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3RPCError
    chain = int(rpc(lambda: w3.eth.chain_id, "reading the chain id"))
    tournament = to_checksum_address(deployment.tournament)
    missing = ChainError(no_tournament_message(tournament, chain))
    if deployment.genesis_hash and genesis_hash(w3).lower() != deployment.genesis_hash.lower():
        raise missing
    if not rpc(lambda: w3.eth.get_code(tournament), "reading the tournament's code"):
        raise missing
    token = to_checksum_address(deployment.nmr)
    if not rpc(lambda: w3.eth.get_code(token), "reading the token's code"):
        raise ChainError(f"no token at {token} on this RPC (chain id {chain}): wrong --rpc or --deployments?")
    try:
        answer = rpc(lambda: w3.eth.contract(address=tournament, abi=_NMR_VIEW_ABI).functions.nmr().call(),
                     "reading the tournament's token")
    except (BadFunctionCallOutput, ContractLogicError, Web3RPCError, ValueError):
        raise missing from None
    if int(answer, 16) != int(token, 16):
        raise ChainError(f"{no_tournament_message(tournament, chain)} (the contract there uses token {answer}, "
                         f"the deployment file says {token})")


def tournament_contract(w3: Web3, deployment: Deployment) -> Contract:
    return w3.eth.contract(address=to_checksum_address(deployment.tournament),
                           abi=load_artifact("Tournament")["abi"])


def nmr_contract(w3: Web3, deployment: Deployment) -> Contract:
    return w3.eth.contract(address=to_checksum_address(deployment.nmr), abi=load_artifact("NMR")["abi"])


def load_contracts(w3: Web3, deployments_dir: Optional[Path] = None) -> tuple[Deployment, Contract, Contract]:
    """The RPC's deployment (chain id + genesis, identity checked) and its two contract bindings."""
    deployment = Deployment.for_rpc(w3, deployments_dir)
    return deployment, tournament_contract(w3, deployment), nmr_contract(w3, deployment)


def deploy_contract(transactor: Transactor, name: str, *args: Any, description: Optional[str] = None) -> Contract:
    """Deploys a compiled contract and returns its binding."""
    artifact = load_artifact(name)
    factory = transactor.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = transactor.transact(factory.constructor(*args), description or f"deploying {name}")
    return transactor.w3.eth.contract(address=ChecksumAddress(receipt["contractAddress"]), abi=artifact["abi"])
