"""Deploys NMR and the tournament, wires roles and signers, funds the reward pool.

Used by `scripts/deploy.py` (any brownie network), the demo and the end-to-end tests, so
every environment is set up by the same code. Writes the deployment file the oracle reads.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from eth_utils import to_checksum_address
from web3 import Web3

from tournament.chain.client import Deployment, Transactor, deploy_contract
from tournament.protocol.presets import PRESETS, TournamentConfig

log = logging.getLogger(__name__)

BURN_METHOD_BURN = 0         # Tournament.BurnMethod.Burn: the token's `burn(amount)`
BURN_METHOD_LEGACY_MINT = 1  # Tournament.BurnMethod.LegacyMint: mainnet NMR's `mint(value)` burns


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
    burn_method: int = BURN_METHOD_BURN,
) -> Deployment:
    """Deploys both contracts with `admin` as treasury and DEFAULT_ADMIN; returns the deployment.

    The admin keeps the whole NMR supply except `reward_pool_wei`, which funds the pool.
    `burn_method` is the tournament's immutable burn entry point (protocol v2): 0 = the token's
    `burn` (this package's NMR), 1 = legacy mainnet NMR's `mint` (burns the caller's tokens).
    """
    preset_name = config if isinstance(config, str) else ""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown preset {config!r}; choose one of {sorted(PRESETS)}")
        config = PRESETS[config]
    start_block = w3.eth.block_number
    nmr = deploy_contract(admin, "NMR", admin.address)
    tournament = deploy_contract(admin, "Tournament", nmr.address, admin.address, config.as_tuple(), burn_method)
    operator_role = tournament.functions.OPERATOR_ROLE().call()
    guardian_role = tournament.functions.GUARDIAN_ROLE().call()
    admin.transact(tournament.functions.grantRole(operator_role, to_checksum_address(operator)), "granting OPERATOR_ROLE")
    admin.transact(tournament.functions.grantRole(guardian_role, to_checksum_address(guardian)), "granting GUARDIAN_ROLE")
    signer_addresses = [to_checksum_address(s) for s in signers]
    admin.transact(tournament.functions.setSigners(signer_addresses, threshold), "setting the oracle signers")
    if reward_pool_wei:
        admin.transact(nmr.functions.approve(tournament.address, reward_pool_wei), "approving the reward pool")
        admin.transact(tournament.functions.fundRewards(reward_pool_wei), "funding the reward pool")
    deployment = Deployment(
        chain_id=w3.eth.chain_id, nmr=nmr.address, tournament=tournament.address,
        deploy_block=start_block + 1, admin=admin.address, operator=to_checksum_address(operator),
        guardian=to_checksum_address(guardian), signers=signer_addresses, threshold=threshold,
        preset=preset_name,
    )
    if save:
        path = deployment.save(deployments_dir)
        log.info("deployment written to %s", path)
    return deployment
