"""Deploy the tournament: `brownie run scripts/deploy.py [--network NAME]`, or without brownie:

    python scripts/deploy.py --rpc URL [--token ADDRESS --burn-method legacy-mint] [--preset seed]
                             [--reward-pool-nmr N] [--deployments DIR] [--max-fee-gwei G] [--confirmations N]

Deploys NMR (or uses an existing token) and the tournament on the connected network, grants
the operator and guardian roles, sets the oracle signer set, funds the reward pool, prints the
addresses and writes deployments/<chainId>-<genesis8>.json for the oracle, plus the
verification files under deployments/verify/. A deploy that stopped midway continues where it
stopped when run again with the same settings (deployments/<chainId>-<genesis8>.partial.json).
A chain without Cancun is refused before anything is sent.

Keys: DEPLOYER_KEY (hex private key of the admin/treasury) and OPERATOR, GUARDIAN, SIGNERS
(comma-separated), THRESHOLD. On a local chain (chain id 31337) and only when DEPLOYER_KEY is
not set, anvil's well-known test keys play every role: admin key 0, operator 1, guardian 2,
signers 7-9 (2-of-3). Optional PRESET (seed|2024) and REWARD_POOL_NMR.

Existing token (protocol v2): --token ADDRESS (or TOKEN=ADDRESS) uses it instead of deploying
NMR, and then --burn-method (BURN_METHOD) must say how it burns: `burn` (OpenZeppelin
`burn(uint256)`) or `legacy-mint` (the mainnet NMR, 0x1776e1F26f98b1A5dF9cD347953a26dd3Cb46671).
Without a token, the burn method defaults to `burn`.
"""
import argparse
import os
import sys
from pathlib import Path

if __name__ == "__main__":   # run as a file: the package is the checkout's
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tournament.chain.deploy import deploy_tournament  # noqa: E402
from tournament.chain.keys import anvil_test_accounts, key_from_env  # noqa: E402
from tournament.chain.transactor import Transactor  # noqa: E402

LOCAL_CHAIN_ID = 31337


def roles(chain_id: int):
    """(admin account, operator, guardian, signers, threshold) from the environment (anvil's keys locally)."""
    if chain_id == LOCAL_CHAIN_ID and not os.environ.get("DEPLOYER_KEY"):
        keys = anvil_test_accounts(10)
        return keys[0], keys[1].address, keys[2].address, [k.address for k in keys[7:10]], 2
    admin = key_from_env("DEPLOYER_KEY")
    if chain_id == LOCAL_CHAIN_ID and not os.environ.get("OPERATOR"):
        keys = anvil_test_accounts(10)
        return admin, keys[1].address, keys[2].address, [k.address for k in keys[7:10]], 2
    missing = [n for n in ("OPERATOR", "GUARDIAN", "SIGNERS", "THRESHOLD") if not os.environ.get(n)]
    if missing:
        raise SystemExit(f"Error: set {', '.join(missing)} (the role holders) for a deployment on chain id {chain_id}")
    signers = [s.strip() for s in os.environ["SIGNERS"].split(",") if s.strip()]
    return admin, os.environ["OPERATOR"], os.environ["GUARDIAN"], signers, int(os.environ["THRESHOLD"])


def deploy(w3, *, token=None, burn_method=None, preset=None, reward_pool_nmr=None, deployments=None,
           max_fee_gwei=None, confirmations=0):
    preset = preset or os.environ.get("PRESET", "seed")
    pool = reward_pool_nmr if reward_pool_nmr is not None else float(os.environ.get("REWARD_POOL_NMR", "100000"))
    token = token or os.environ.get("TOKEN") or None
    burn_method = burn_method or os.environ.get("BURN_METHOD") or None
    admin, operator, guardian, signers, threshold = roles(int(w3.eth.chain_id))
    sender = Transactor(w3, admin, confirmations=confirmations,
                        max_fee_per_gas_wei=None if max_fee_gwei is None else int(max_fee_gwei * 10**9))
    deployment = deploy_tournament(
        w3, sender, operator=operator, guardian=guardian, signers=signers, threshold=threshold, config=preset,
        reward_pool_wei=int(pool * 10**18), token=token, burn_method=burn_method,
        deployments_dir=Path(deployments) if deployments else None)
    base = Path(deployments or os.environ.get("TOURNAMENT_DEPLOYMENTS", "deployments"))
    print(f"chain id   {deployment.chain_id} (genesis {deployment.genesis_hash[:10]})")
    print(f"NMR        {deployment.nmr}{' (existing token)' if token else ''}")
    print(f"burns with {deployment.burn_method}")
    print(f"Tournament {deployment.tournament}")
    print(f"signers    {threshold}-of-{len(signers)}: {', '.join(signers)}")
    print(f"written    {base / deployment.path_name} (verification files: {base / 'verify'})")
    return deployment


def main():
    """brownie run scripts/deploy.py: options come from the environment."""
    from brownie import web3
    deploy(web3)


def cli(argv=None):
    parser = argparse.ArgumentParser(description="Deploy the tournament on any EVM chain by RPC URL.")
    parser.add_argument("--rpc", default=os.environ.get("TOURNAMENT_RPC", "http://127.0.0.1:8545"))
    parser.add_argument("--token", default=None, help="an existing NMR token's address (no NMR is deployed)")
    parser.add_argument("--burn-method", choices=["burn", "legacy-mint"], default=None)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--reward-pool-nmr", type=float, default=None)
    parser.add_argument("--deployments", default=None, help="folder for the deployment file (default ./deployments)")
    parser.add_argument("--max-fee-gwei", type=float, default=None, help="never pay more per gas than this")
    parser.add_argument("--confirmations", type=int, default=0, help="blocks to wait after each transaction")
    args = parser.parse_args(argv)
    from tournament.chain.errors import ChainError
    from tournament.chain.keys import KeyLoadError
    from tournament.chain.rpc import connect
    try:
        deploy(connect(args.rpc), token=args.token, burn_method=args.burn_method, preset=args.preset,
               reward_pool_nmr=args.reward_pool_nmr, deployments=args.deployments, max_fee_gwei=args.max_fee_gwei,
               confirmations=args.confirmations)
    except (ChainError, KeyLoadError, ValueError) as exc:
        print(f"Error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
