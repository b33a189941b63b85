"""The auditor's public names in one place (kept for callers of the v1 module).

The pure verification is tournament.auditor.verify (`verify_round`, Finding, AuditReport),
the records it checks are tournament.auditor.views (ChainView, ...), and the I/O edges are
tournament.auditor.readers (`read_chain_view`, `read_artifacts`, `read_receipts_dir`,
`read_targets_source`).
"""
from __future__ import annotations

from tournament.auditor.readers import (
                                        NMR_INITIAL_SUPPLY_WEI,
                                        read_artifacts,
                                        read_chain_view,
                                        read_receipts_dir,
                                        read_targets_source,
)
from tournament.auditor.verify import SCORE_TOLERANCE, AuditReport, Finding, StakeRow, verify_round
from tournament.auditor.views import (
                                        ArtifactsView,
                                        ChainView,
                                        ProposalView,
                                        RefundView,
                                        SettledView,
                                        SignerSetView,
                                        StakeView,
                                        VetoView,
)

__all__ = [
    "AuditReport", "ArtifactsView", "ChainView", "Finding", "NMR_INITIAL_SUPPLY_WEI", "ProposalView", "RefundView",
    "SCORE_TOLERANCE", "SettledView", "SignerSetView", "StakeRow", "StakeView", "VetoView", "read_artifacts",
    "read_chain_view", "read_receipts_dir", "read_targets_source", "verify_round",
]
