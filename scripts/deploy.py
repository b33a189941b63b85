"""brownie run scripts/deploy.py [--network NAME]

Deploys NMR and the tournament on the connected network, grants the operator and guardian
roles, sets the oracle signer set, funds the reward pool, prints the addresses and writes
deployments/<chainId>.json for the oracle.

On the local chain (chain id 31337) anvil's well-known test keys play every role: admin
key 0, operator 1, guardian 2, signers 7-9 (2-of-3). Elsewhere, set DEPLOYER_KEY (hex private
key of the admin/treasury) and OPERATOR, GUARDIAN, SIGNERS (comma-separated), THRESHOLD;
optional PRESET (seed|2024) and REWARD_POOL_NMR.

Protocol v2: TOKEN=ADDRESS uses an existing token instead of deploying NMR, and then BURN_METHOD
must say how it burns: `burn` (OpenZeppelin `burn(uint256)`) or `legacy-mint` (the mainnet NMR,
0x1776e1F26f98b1A5dF9cD347953a26dd3Cb46671). Without TOKEN, BURN_METHOD defaults to `burn`.
"""
import os

from brownie import web3

from tournament.chain.client import Transactor
from tournament.chain.deploy import deploy_tournament
from tournament.chain.keys import anvil_test_accounts, key_from_env
from tournament.protocol.units import parse_nmr

LOCAL_CHAIN_ID = 31337


def main():
    preset = os.environ.get("PRESET", "seed")
    reward_pool_wei = parse_nmr(os.environ.get("REWARD_POOL_NMR", "100000"))  # exact, no float rounding
    if web3.eth.chain_id == LOCAL_CHAIN_ID:
        keys = anvil_test_accounts(10)
        admin, operator, guardian = keys[0], keys[1].address, keys[2].address
        signers, threshold = [k.address for k in keys[7:10]], 2
    else:
        admin = key_from_env("DEPLOYER_KEY")
        operator, guardian = os.environ["OPERATOR"], os.environ["GUARDIAN"]
        signers = [s.strip() for s in os.environ["SIGNERS"].split(",") if s.strip()]
        threshold = int(os.environ["THRESHOLD"])
    token = os.environ.get("TOKEN") or None
    burn_method = os.environ.get("BURN_METHOD") or None
    deployment = deploy_tournament(
        web3, Transactor(web3, admin), operator=operator, guardian=guardian, signers=signers,
        threshold=threshold, config=preset, reward_pool_wei=reward_pool_wei, token=token,
        burn_method=burn_method,
    )
    print(f"chain id   {deployment.chain_id}")
    print(f"NMR        {deployment.nmr}{' (existing token)' if token else ''}")
    print(f"burns with {burn_method or 'burn'}")
    print(f"Tournament {deployment.tournament}")
    print(f"signers    {threshold}-of-{len(signers)}: {', '.join(signers)}")
    print(f"written    deployments/{deployment.chain_id}.json")
