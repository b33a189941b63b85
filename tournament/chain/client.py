"""Compatibility re-exports: the chain edge used to be this one module.

New code imports from the focused modules: errors (ChainError, decode_revert), rpc (connect,
the one retry layer), artifacts (shipped ABIs), contracts (Deployment, bindings, deploy),
transactor (Transactor), events (LogScanner, fetch_events), reader (ChainReader).
"""
from __future__ import annotations

from tournament.chain.artifacts import DEFAULT_BUILD_DIR, PROJECT_ROOT, load_artifact
from tournament.chain.contracts import (
                                        DEFAULT_DEPLOYMENTS_DIR,
                                        Deployment,
                                        deploy_contract,
                                        load_contracts,
                                        nmr_contract,
                                        tournament_contract,
)
from tournament.chain.errors import PHASES, ChainError, NonceUsed, TransactionReverted, decode_revert
from tournament.chain.events import LogScanner, fetch_events
from tournament.chain.rpc import TRANSIENT, connect, with_retries
from tournament.chain.transactor import Transactor

__all__ = [
    "ChainError", "DEFAULT_BUILD_DIR", "DEFAULT_DEPLOYMENTS_DIR", "Deployment", "LogScanner", "NonceUsed", "PHASES",
    "PROJECT_ROOT", "TRANSIENT", "TransactionReverted", "Transactor", "connect", "decode_revert", "deploy_contract",
    "fetch_events", "load_artifact", "load_contracts", "nmr_contract", "tournament_contract", "with_retries",
]
