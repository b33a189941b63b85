"""Deploys NMR (or uses an existing token) and the tournament, wires roles and signers, funds the pool.

Used by `scripts/deploy.py` (any brownie network), the demo and the end-to-end tests, so
every environment is set up by the same code. Writes the deployment file the oracle reads.

Protocol v2: the tournament's constructor takes the token's burn entry point, fixed for its
lifetime: "burn" (`burn(uint256)`, this repository's NMR, the default) or "legacy-mint" (the
mainnet NMR at 0x1776e1F26f98b1A5dF9cD347953a26dd3Cb46671, whose `mint(uint256)` burns the
caller's tokens). With `token=ADDRESS` no NMR is deployed: the tournament uses that token, and
the caller must say how it burns (there is no safe default for a token we did not deploy).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from eth_utils import is_address, to_checksum_address
from web3 import Web3

from tournament.chain.client import Deployment, Transactor, deploy_contract
from tournament.protocol.presets import PRESETS, TournamentConfig

log = logging.getLogger(__name__)

# ITournament.BurnMethod, by the names the deployment file and the command line use.
BURN_METHODS: dict[str, int] = {"burn": 0, "legacy-mint": 1}


def burn_method_value(burn_method: str) -> int:
    """The contract's BurnMethod enum value of `burn_method` ("burn" or "legacy-mint")."""
    try:
        return BURN_METHODS[burn_method]
    except (KeyError, TypeError):
        raise ValueError(f"unknown burn method {burn_method!r}; choose one of {sorted(BURN_METHODS)}") from None


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
) -> Deployment:
    """Deploys the contracts with `admin` as treasury and DEFAULT_ADMIN; returns the deployment.

    Without `token`, NMR is deployed and the admin keeps its whole supply except
    `reward_pool_wei`, which funds the pool; `burn_method` defaults to "burn". With `token`
    (an existing token's address), `burn_method` is required, and funding the pool needs the
    admin to hold that token. A legacy NMR allowance can only be set from zero: a non-zero
    allowance is changed with `changeApproval(spender, old, new)`.
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
        if not w3.eth.get_code(to_checksum_address(token)):
            raise ValueError(f"token {token} has no code on chain {w3.eth.chain_id}")
    method_value = burn_method_value(burn_method)
    start_block = w3.eth.block_number
    if token is None:
        nmr = deploy_contract(admin, "NMR", admin.address)
    else:
        nmr = w3.eth.contract(address=to_checksum_address(token), abi=_token_abi())
    tournament = deploy_contract(admin, "Tournament", nmr.address, admin.address, config.as_tuple(), method_value)
    operator_role = tournament.functions.OPERATOR_ROLE().call()
    guardian_role = tournament.functions.GUARDIAN_ROLE().call()
    admin.transact(tournament.functions.grantRole(operator_role, to_checksum_address(operator)), "granting OPERATOR_ROLE")
    admin.transact(tournament.functions.grantRole(guardian_role, to_checksum_address(guardian)), "granting GUARDIAN_ROLE")
    signer_addresses = [to_checksum_address(s) for s in signers]
    admin.transact(tournament.functions.setSigners(signer_addresses, threshold), "setting the oracle signers")
    if reward_pool_wei:
        allowance = nmr.functions.allowance(admin.address, tournament.address).call()
        if allowance < reward_pool_wei:
            # A fresh tournament: the allowance is zero, which every token (legacy NMR too) may raise.
            admin.transact(nmr.functions.approve(tournament.address, reward_pool_wei), "approving the reward pool")
        admin.transact(tournament.functions.fundRewards(reward_pool_wei), "funding the reward pool")
    fields: dict[str, Any] = dict(
        chain_id=w3.eth.chain_id, nmr=nmr.address, tournament=tournament.address,
        deploy_block=start_block + 1,
        admin=admin.address, operator=to_checksum_address(operator),
        guardian=to_checksum_address(guardian), signers=signer_addresses, threshold=threshold,
        preset=preset_name,
    )
    fields["burn_method"] = burn_method
    deployment = Deployment(**fields)
    if save:
        path = deployment.save(deployments_dir)
        log.info("deployment written to %s", path)
    return deployment


def _token_abi() -> list[dict]:
    """The ERC-20 calls the deployment needs, which the legacy NMR answers too."""
    def fn(name, inputs, outputs, mutability="nonpayable"):
        return {"type": "function", "name": name, "stateMutability": mutability,
                "inputs": [{"name": n, "type": t} for n, t in inputs],
                "outputs": [{"name": "", "type": t} for t in outputs]}
    return [fn("allowance", [("owner", "address"), ("spender", "address")], ["uint256"], "view"),
            fn("approve", [("spender", "address"), ("value", "uint256")], ["bool"]),
            fn("balanceOf", [("owner", "address")], ["uint256"], "view")]
