"""Deploys NMR (or uses an existing token) and the tournament, wires roles and signers, funds the pool.

Used by `scripts/deploy.py` (any brownie network), the demo and the end-to-end tests, so
every environment is set up by the same code. Writes the deployment file the oracle reads.

Protocol v2: the tournament's constructor takes the token's burn entry point, fixed for its
lifetime: "burn" (`burn(uint256)`, this repository's NMR, the default) or "legacy-mint" (the
mainnet NMR at 0x1776e1F26f98b1A5dF9cD347953a26dd3Cb46671, whose `mint(uint256)` burns the
caller's tokens). With `token=ADDRESS` no NMR is deployed: the tournament uses that token, and
the caller must say how it burns (there is no safe default for a token we did not deploy).

Real networks:
- The chain must run Cancun (the tournament uses transient storage): `require_cancun` runs a
  tiny TSTORE/TLOAD/MCOPY/BLOBBASEFEE initcode with eth_call first, and a chain without it is
  refused with one line before anything is sent.
- Resumable: progress is written to `<chainId>-<genesis8>.partial.json` as soon as each
  transaction is sent and each contract exists; a rerun with the same settings continues
  there (a contract with code at its recorded address is not deployed again; roles, signers
  and funding are checked on the chain and done only if missing). The final deployment file
  replaces the partial one.
- Verification: for each contract deployed, `verify/<chainId>-<genesis8>/<Name>.json` holds
  what Etherscan or Sourcify need for an exact match: the compiler version, the standard-JSON
  input (sources as compiled, settings), and the constructor arguments ABI-encoded (taken
  from the deployment transaction itself). It needs a checkout's build/contracts (brownie's
  compile output); an installed package without it logs that no files were written.
"""
from __future__ import annotations

import json
import logging
import posixpath
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

from eth_typing import HexStr
from eth_utils import is_address, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.types import TxParams

from tournament.chain.artifacts import DEFAULT_BUILD_DIR, PROJECT_ROOT, load_artifact
from tournament.chain.contracts import Deployment, genesis_hash
from tournament.chain.errors import ChainError
from tournament.chain.rpc import rpc
from tournament.chain.token import allowance_calls, detect_features
from tournament.chain.transactor import Receipt, Transactor
from tournament.protocol.presets import PRESETS, TournamentConfig

log = logging.getLogger(__name__)

__all__ = ["BURN_METHODS", "CANCUN_PROBE_INITCODE", "burn_method_value", "deploy_tournament", "require_cancun",
           "verification_input", "write_verification_file"]

# ITournament.BurnMethod, by the names the deployment file and the command line use.
BURN_METHODS: dict[str, int] = {"burn": 0, "legacy-mint": 1}

# PUSH1 1 PUSH1 0 TSTORE; PUSH1 0 TLOAD POP; PUSH1 32 PUSH1 0 PUSH1 32 MCOPY; BLOBBASEFEE POP; STOP:
# every opcode Cancun added that the contracts (or their compiler) may use.
CANCUN_PROBE_INITCODE = "0x" + "600160005d" + "60005c50" + "602060006020" + "5e" + "4a50" + "00"


def burn_method_value(burn_method: str) -> int:
    """The contract's BurnMethod enum value of `burn_method` ("burn" or "legacy-mint")."""
    try:
        return BURN_METHODS[burn_method]
    except (KeyError, TypeError):
        raise ValueError(f"unknown burn method {burn_method!r}; choose one of {sorted(BURN_METHODS)}") from None


def require_cancun(w3: Web3) -> None:
    """Refuses (one line) a chain whose EVM lacks Cancun's opcodes: the contracts cannot run there."""
    try:
        probe: TxParams = {"from": to_checksum_address("0x" + "00" * 19 + "01"), "data": HexStr(CANCUN_PROBE_INITCODE)}
        rpc(lambda: w3.eth.call(probe), "probing the chain for Cancun")
    except (ContractLogicError, Web3RPCError, ValueError) as exc:
        chain = int(rpc(lambda: w3.eth.chain_id, "reading the chain id"))
        reason = " ".join(str(exc).split())[:120]
        raise ChainError(f"chain id {chain} does not run Cancun (TSTORE/MCOPY failed: {reason}); the tournament needs "
                         "the Cancun EVM (transient storage): use a Cancun network or set the node's hardfork to "
                         "cancun") from None


# ------------------------------------------------------------------ verification files

def _build_json(name: str, build_dir: Optional[Path]) -> Optional[dict]:
    path = Path(build_dir or DEFAULT_BUILD_DIR) / f"{name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _compile_settings(root: Path) -> dict:
    """remappings and viaIR as brownie-config.yaml gives them to solc."""
    import yaml
    config_path = root / "brownie-config.yaml"
    solc: dict = {}
    if config_path.exists():
        solc = ((yaml.safe_load(config_path.read_text()) or {}).get("compiler") or {}).get("solc") or {}
    remappings = solc.get("remappings") or []
    return {"remappings": [remappings] if isinstance(remappings, str) else list(remappings),
            "viaIR": solc.get("viaIR")}


_IMPORT = re.compile(r"""^\s*import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)


def _import_closure(source: str, remappings: Sequence[str], root: Path) -> set[str]:
    """Every source unit `source` imports, transitively, under the names solc gives them (the
    remapped, project-relative paths brownie compiled with): a verifier needs all of them, even
    a library that was inlined (brownie's allSourcePaths leaves those out)."""
    pairs = [tuple(r.split("=", 1)) for r in remappings if "=" in r]
    seen: set[str] = set()
    todo = [source]
    while todo:
        unit = todo.pop()
        if unit in seen:
            continue
        seen.add(unit)
        for target in _IMPORT.findall((root / unit).read_text()):
            if target.startswith(("./", "../")):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(unit), target))
            else:
                resolved = target
                for prefix, replacement in pairs:
                    if target.startswith(prefix):
                        resolved = replacement + target[len(prefix):]
                        break
            todo.append(resolved)
    return seen


def _made_by_ir_pipeline(bytecode: str) -> bool:
    """Whether solc 0.8's IR pipeline made this creation code. The legacy pipeline always opens
    with PUSHn <free memory start> PUSH1 0x40 MSTORE; the IR pipeline with PUSHn <start> DUP1
    PUSH1 0x40 MSTORE, or a CALLVALUE check first (e.g. 0x6080 34 ... for a small contract)."""
    code = bytes.fromhex(bytecode.removeprefix("0x")[:64])
    if not code or not 0x60 <= code[0] <= 0x7F:
        return False
    after = code[1 + code[0] - 0x5F:]
    return not after.startswith(bytes.fromhex("604052"))


def verification_input(name: str, build_dir: Optional[Path] = None, root: Path = PROJECT_ROOT) -> Optional[dict]:
    """{compilerVersion, sourceName, standardJsonInput} for `name` as brownie compiled it; None without a build."""
    data = _build_json(name, build_dir)
    if data is None:
        return None
    compiler = data["compiler"]
    extra = _compile_settings(root)
    settings: dict[str, Any] = {
        "evmVersion": compiler.get("evm_version"),
        "optimizer": compiler.get("optimizer") or {"enabled": False, "runs": 200},
        "remappings": extra["remappings"],
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode", "evm.deployedBytecode", "metadata"], "": ["ast"]}},
    }
    if extra["viaIR"]:
        # brownie caches: a contract whose sources did not change since viaIR was turned on keeps
        # its legacy-pipeline build, and the build does not record which pipeline made it.
        if _made_by_ir_pipeline(str(data["bytecode"])):
            settings["viaIR"] = True
    paths = _import_closure(data["sourcePath"], extra["remappings"], root)
    sources = {path: {"content": (root / path).read_text()} for path in sorted(paths)}
    version = str(compiler["version"])
    return {"compilerVersion": "v" + version.removeprefix("v"), "sourceName": data["sourcePath"],
            "contractName": data["contractName"],
            "standardJsonInput": {"language": "Solidity", "sources": sources, "settings": settings}}


def write_verification_file(directory: Path, name: str, address: str, deploy_data: str, chain_id: int,
                            tx_hash: str, build_dir: Optional[Path] = None) -> Optional[Path]:
    """Writes `directory/<name>.json` for explorers; `deploy_data` is the deployment transaction's input."""
    found = verification_input(name, build_dir)
    if found is None:
        log.warning("no build/contracts/%s.json here: no verification file for %s (deploy from a checkout "
                    "after `make compile` to get one)", name, address)
        return None
    bytecode = load_artifact(name, build_dir)["bytecode"]
    data = deploy_data[2:] if deploy_data.startswith("0x") else deploy_data
    creation = bytecode[2:] if bytecode.startswith("0x") else bytecode
    if not data.startswith(creation):
        log.warning("%s: the deployment input does not start with the compiled bytecode; verification file "
                    "written without constructor arguments", name)
        args = ""
    else:
        args = data[len(creation):]
    record = {"chainId": chain_id, "address": address, "transactionHash": tx_hash,
              "constructorArguments": args, **found}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path


# ------------------------------------------------------------------ progress of a deployment

class _Progress:
    """The partial deployment file: written after every step, so a rerun continues."""

    def __init__(self, path: Optional[Path], settings: dict):
        self.path = path
        self.data: dict[str, Any] = {"settings": settings, "contracts": {}, "steps": {}}
        if path is not None and path.exists():
            old = json.loads(path.read_text())
            if old.get("settings") != settings:
                raise ChainError(f"{path} is a deployment left half-done with other settings "
                                 f"({_diff(old.get('settings') or {}, settings)}); rerun with those settings to finish "
                                 "it, or delete the file to start over")
            self.data = old
            log.info("resuming the deployment recorded in %s", path)

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)

    def contract(self, name: str) -> dict:
        return self.data["contracts"].setdefault(name, {})

    def step(self, name: str) -> dict:
        return self.data["steps"].setdefault(name, {})

    def done(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()


def _diff(old: dict, new: dict) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in keys[:3])


def _mined(w3: Web3, tx_hash: Optional[str]) -> Optional[Receipt]:
    from web3.exceptions import TransactionNotFound
    if not tx_hash:
        return None
    try:
        return rpc(lambda: w3.eth.get_transaction_receipt(HexStr(tx_hash)), "reading a deployment receipt")
    except TransactionNotFound:
        return None


def _deploy(admin: Transactor, progress: _Progress, name: str, args: Sequence[Any],
            verify_dir: Optional[Path], build_dir: Optional[Path]) -> Any:
    """Deploys `name` unless the progress file names a contract of it that exists; returns its binding."""
    w3 = admin.w3
    artifact = load_artifact(name, build_dir)
    record = progress.contract(name)
    address = record.get("address")
    if not address:
        receipt = _mined(w3, record.get("tx"))   # sent by a run that stopped before its receipt
        if receipt is not None and receipt["status"] == 1:
            address = receipt["contractAddress"]
    if address and rpc(lambda: w3.eth.get_code(to_checksum_address(address)), f"reading {name}'s code"):
        log.info("%s already deployed at %s (resumed)", name, address)
        record["address"] = to_checksum_address(address)
        progress.save()
        return w3.eth.contract(address=to_checksum_address(address), abi=artifact["abi"])
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    constructor = factory.constructor(*args)
    record.clear()
    record["data"] = constructor.data_in_transaction

    def sent(tx_hash: bytes) -> None:
        record["tx"] = "0x" + bytes(tx_hash).hex()
        progress.save()
    receipt = admin.transact(constructor, f"deploying {name}", on_sent=sent)
    record["address"] = to_checksum_address(receipt["contractAddress"])
    record["tx"] = "0x" + bytes(receipt["transactionHash"]).hex()
    progress.save()
    if verify_dir is not None:
        write_verification_file(verify_dir, name, record["address"], record.pop("data"), admin.chain_id,
                                record["tx"], build_dir)
        progress.save()
    log.info("%s deployed at %s", name, record["address"])
    return w3.eth.contract(address=record["address"], abi=artifact["abi"])


def deploy_tournament(
    w3: Web3,
    admin: Transactor,
    *,
    operator: str,
    guardian: str,
    signers: Sequence[str],
    threshold: int,
    config: TournamentConfig | str = "seed",
    reward_pool_wei: int = 0,
    deployments_dir: Optional[Path] = None,
    save: bool = True,
    token: Optional[str] = None,
    burn_method: Optional[str] = None,
    build_dir: Optional[Path] = None,
    verify: bool = True,
    hook: Optional[Callable[[str], None]] = None,
) -> Deployment:
    """Deploys the contracts with `admin` as treasury and DEFAULT_ADMIN; returns the deployment.

    Without `token`, NMR is deployed and the admin keeps its whole supply except
    `reward_pool_wei`, which funds the pool; `burn_method` defaults to "burn". With `token`
    (an existing token's address), `burn_method` is required, and funding the pool needs the
    admin to hold that token. The pool's allowance follows the token's rule (a legacy NMR
    allowance changes with `changeApproval`). With `save`, progress is recorded as it goes
    (a rerun continues) and, with `verify`, verification files are written under
    `<deployments>/verify/`. `hook(point)` is called after each step (tests stop a deploy there).
    """
    preset_name = config if isinstance(config, str) else ""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown preset {config!r}; choose one of {sorted(PRESETS)}")
        config = PRESETS[config]
    if token is None:
        burn_method = "burn" if burn_method is None else burn_method
    else:
        if not isinstance(token, str) or not is_address(token):
            raise ValueError(f"token must be a contract address, got {token!r}")
        if burn_method is None:
            raise ValueError(f"using the existing token {token}: say how it burns (burn_method "
                             f"{' or '.join(repr(m) for m in BURN_METHODS)}); the mainnet NMR needs 'legacy-mint'")
    method_value = burn_method_value(burn_method)
    require_cancun(w3)
    chain = admin.chain_id
    if token is not None and not rpc(lambda: w3.eth.get_code(to_checksum_address(token)), "reading the token's code"):
        raise ValueError(f"token {token} has no code on chain {chain}")
    genesis = genesis_hash(w3)
    signer_addresses = [to_checksum_address(s) for s in signers]
    settings: dict[str, Any] = {"admin": admin.address, "operator": to_checksum_address(operator),
                "guardian": to_checksum_address(guardian), "signers": signer_addresses, "threshold": int(threshold),
                "config": [int(v) for v in config.as_tuple()], "reward_pool_wei": str(int(reward_pool_wei)),
                "token": to_checksum_address(token) if token else None, "burn_method": burn_method}
    base = Path(deployments_dir) if deployments_dir else None
    final_path = Deployment.path_for(chain, base, genesis)
    progress = _Progress(final_path.with_suffix(".partial.json") if save else None, settings)
    verify_dir = final_path.parent / "verify" / final_path.stem if (save and verify) else None
    point = hook or (lambda _name: None)
    if "start_block" not in progress.data:
        progress.data["start_block"] = int(rpc(lambda: w3.eth.block_number, "reading the block number"))
        progress.save()
    start_block = int(progress.data["start_block"])

    if token is None:
        nmr = _deploy(admin, progress, "NMR", [admin.address], verify_dir, build_dir)
        point("deploy:nmr")
    else:
        nmr = w3.eth.contract(address=to_checksum_address(token), abi=_token_abi())
    tournament = _deploy(admin, progress, "Tournament", [nmr.address, admin.address, config.as_tuple(), method_value],
                         verify_dir, build_dir)
    point("deploy:tournament")
    for role_name, holder in (("OPERATOR_ROLE", settings["operator"]), ("GUARDIAN_ROLE", settings["guardian"])):
        role = tournament.functions[role_name]().call()
        if not tournament.functions.hasRole(role, holder).call():
            admin.transact(tournament.functions.grantRole(role, holder), f"granting {role_name}")
        point(f"deploy:{role_name}")
    current_signers, current_threshold, _version = tournament.functions.signerSet().call()
    if [to_checksum_address(a) for a in current_signers] != signer_addresses or int(current_threshold) != threshold:
        admin.transact(tournament.functions.setSigners(signer_addresses, threshold), "setting the oracle signers")
    point("deploy:signers")
    if reward_pool_wei:
        _fund_pool(admin, progress, nmr, tournament, int(reward_pool_wei))
        point("deploy:funded")
    deployment = Deployment(
        chain_id=chain, nmr=nmr.address, tournament=tournament.address, deploy_block=start_block + 1,
        admin=admin.address, operator=settings["operator"], guardian=settings["guardian"],
        signers=[str(a) for a in signer_addresses], threshold=threshold, preset=preset_name, burn_method=burn_method,
        genesis_hash=genesis)
    if save:
        path = deployment.save(deployments_dir)
        progress.done()
        log.info("deployment written to %s", path)
    return deployment


def _fund_pool(admin: Transactor, progress: _Progress, nmr: Any, tournament: Any, reward_pool_wei: int) -> None:
    """Funds the reward pool once, even across reruns (the funding transaction is recorded when sent)."""
    w3 = admin.w3
    step = progress.step("fund")
    receipt = _mined(w3, step.get("tx"))
    if receipt is not None and receipt["status"] == 1:
        log.info("the reward pool was funded by %s (resumed)", step["tx"])
        return
    allowance = int(nmr.functions.allowance(admin.address, tournament.address).call())
    if allowance < reward_pool_wei:
        features = detect_features(w3, nmr.address, admin.address, tournament.address)
        for fn, description in allowance_calls(w3, features, tournament.address, allowance, reward_pool_wei):
            admin.transact(fn, f"{description} (reward pool)")

    def sent(tx_hash: bytes) -> None:
        step["tx"] = "0x" + bytes(tx_hash).hex()
        progress.save()
    admin.transact(tournament.functions.fundRewards(reward_pool_wei), "funding the reward pool", on_sent=sent)


def _token_abi() -> list[dict]:
    """The ERC-20 calls the deployment needs, which the legacy NMR answers too."""
    def fn(name, inputs, outputs, mutability="nonpayable"):
        return {"type": "function", "name": name, "stateMutability": mutability,
                "inputs": [{"name": n, "type": t} for n, t in inputs],
                "outputs": [{"name": "", "type": t} for t in outputs]}
    return [fn("allowance", [("owner", "address"), ("spender", "address")], ["uint256"], "view"),
            fn("approve", [("spender", "address"), ("value", "uint256")], ["bool"]),
            fn("balanceOf", [("owner", "address")], ["uint256"], "view")]
