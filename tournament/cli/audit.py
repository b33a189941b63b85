"""`tournament audit`: verify one round's payouts from the chain's events and the published artifacts.

Reads the round with tournament.auditor.readers, runs the pure verifier (tournament.auditor.verify)
and prints a per-stake table and a verdict (or JSON with --json). `--receipts DIR` hands in
upload receipts (a participant's proof that a file was uploaded); `--targets-source` checks
targets.csv against the targets as their source publishes them. Exit code 0 on PASS, 1 on any
discrepancy (each named by stake, field, expected and found), 2 when the inputs cannot be read.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

if TYPE_CHECKING:   # the command imports the auditor only when it runs: `tournament --help` stays fast
    from tournament.auditor.verify import AuditReport
    from tournament.auditor.views import ArtifactsView
from tournament.protocol.units import format_nmr as _nmr


def render_table(report: AuditReport) -> str:
    """The human report: summary, per-stake rows, findings, notes."""
    s = report.summary
    lines = [f"round {report.round_id}  phase {report.phase}  staked {s['stakedCount']}  "
             f"at risk {_nmr(s['totalAtRiskWei'])} NMR  scored {_nmr(s.get('scoredAtRiskWei'))} NMR  "
             f"pf {s['payoutFactorWei']}  "
             f"rewards {_nmr(s['rewardsWei'])} NMR  burned {_nmr(s['burnedWei'])} NMR"]
    header = f"{'model':>6} {'owner':<12} {'stake NMR':>12} {'cx':>4} {'mx':>4} {'status':<8} " \
             f"{'corr':>12} {'mmc':>12} {'payout NMR':>14} {'burn NMR':>12} {'result':<8} tx"
    lines += ["", header, "-" * len(header)]
    for r in report.stakes:
        scored = r.status == "SCORED"
        corr = f"{r.corr_nanos / 1e9:.9f}" if scored and r.corr_nanos is not None else "-"
        mmc = f"{r.mmc_nanos / 1e9:.9f}" if scored and r.mmc_nanos is not None else "-"
        payout = _nmr(r.payout_wei) if r.refunded_wei is None else f"refund {_nmr(r.refunded_wei)}"
        lines.append(f"{r.model_id:>6} {r.owner[:10] + '..':<12} {_nmr(r.stake_wei):>12} {r.corr_mult:>4} "
                     f"{r.mmc_mult:>4} {r.status or '-':<8} {corr:>12} {mmc:>12} {payout:>14} "
                     f"{_nmr(r.burned_wei):>12} {r.result:<8} {r.tx_hash[:12]}")
    if report.findings:
        lines += ["", f"{len(report.findings)} discrepanc{'y' if len(report.findings) == 1 else 'ies'}:"]
        lines += [f"  - {finding}" for finding in report.findings]
    if report.notes:
        lines += ["", "notes:"] + [f"  - {note}" for note in report.notes]
    lines += ["", f"verdict: {report.verdict}"]
    return "\n".join(lines)


@click.command("audit")
@click.option("--round", "round_id", required=True, type=int, help="Round id to verify.")
@click.option("--rpc", "rpc_url", default="http://127.0.0.1:8545", show_default=True, envvar="TOURNAMENT_RPC",
              help="JSON-RPC URL of the chain.")
@click.option("--artifacts", "artifacts", required=True,
              help="The round's published artifacts: a folder, an operator work folder, or an http(s) URL.")
@click.option("--deployments", "deployments_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, envvar="TOURNAMENT_DEPLOYMENTS",
              help="Folder with <chainId>.json deployment files (default: ./deployments).")
@click.option("--receipts", "receipts_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A folder of upload receipts (*.json) to check with those the artifacts carry.")
@click.option("--targets-source", "targets_source", default=None, metavar="URL_OR_FILE",
              help="The round's targets as their source publishes them (http(s) URL or file).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--confirmations", type=click.IntRange(min=0), default=0, show_default=True,
              envvar="TOURNAMENT_CONFIRMATIONS",
              help="Read the chain this many blocks below its head (a reorg cannot change what was audited).")
def audit(round_id: int, rpc_url: str, artifacts: str, deployments_dir: Path | None, receipts_dir: Path | None,
          targets_source: str | None, as_json: bool, confirmations: int) -> None:
    """Recompute every score and payout of a round and compare them with the chain."""
    import requests

    from tournament.auditor.readers import read_artifacts, read_chain_view, read_receipts_dir, read_targets_source
    from tournament.auditor.verify import verify_round
    from tournament.chain.client import ChainError, Deployment, connect
    from tournament.chain.reader import ChainReader
    from tournament.protocol.receipts import ReceiptError

    try:  # the local inputs first: a bad receipts folder or targets source fails before any RPC call
        receipts = read_receipts_dir(str(receipts_dir)) if receipts_dir is not None else []
        source = read_targets_source(targets_source) if targets_source else None
    except (FileNotFoundError, OSError, ReceiptError, requests.RequestException) as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    try:
        w3 = connect(rpc_url)
        deployment = Deployment.for_rpc(w3, deployments_dir)
        # one pinned block, `confirmations` below the head: the whole audit reads the chain as of it
        reader = ChainReader(w3, deployment, confirmations=confirmations)
        if not reader.round(round_id, with_opened_block=False).exists:
            raise FileNotFoundError(f"round {round_id} was never opened on chain {deployment.chain_id} "
                                    f"(tournament {deployment.tournament}); check --round and --rpc")
        chain = read_chain_view(w3, deployment, round_id, reader=reader)
        view = read_artifacts(artifacts, round_id) if chain.proposals else _optional_artifacts(artifacts, round_id)
    except (ChainError, FileNotFoundError, OSError, requests.RequestException) as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    report = verify_round(chain, view, targets_source=source, receipts=receipts)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render_table(report))
    sys.exit(0 if report.passed else 1)


def _optional_artifacts(artifacts: str, round_id: int) -> Optional[ArtifactsView]:
    from tournament.auditor.readers import read_artifacts

    try:
        return read_artifacts(artifacts, round_id)
    except FileNotFoundError:
        return None
