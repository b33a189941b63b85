"""The auditor's readers: one round's chain state (events and views) and its published artifacts.

`read_chain_view(w3, deployment, round_id, reader=None, block="latest")` fills a ChainView
(tournament.auditor.views) from the tournament's events and views, all read at ONE block by
the block-pinned `tournament.chain.reader.ChainReader` (pass a `reader` to audit at its pin,
e.g. the block a watchtower found a proposal at); `read_artifacts(dir_or_url)` reads the
published folder into an ArtifactsView. These are the I/O edges; the checks are pure
(tournament.auditor.verify).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

from eth_utils import to_checksum_address

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
from tournament.chain.reader import BlockSpec, ChainReader
from tournament.protocol.artifacts import ArtifactsError, parse_manifest
from tournament.protocol.constants import MANIFEST_NAME, WEI_PER_NMR

__all__ = ["NMR_INITIAL_SUPPLY_WEI", "chain_view", "read_artifacts", "read_chain_view", "read_receipts_dir", "read_targets_source"]

log = logging.getLogger(__name__)

NMR_INITIAL_SUPPLY_WEI = 11_000_000 * WEI_PER_NMR   # protocol: minted once at deployment, never again


# ------------------------------------------------------------------ edges: artifacts

def read_artifacts(dir_or_url: str, round_id: Optional[int] = None) -> ArtifactsView:
    """The published folder as bytes: a local directory, or an HTTP(S) base URL.

    A directory may be the artifacts folder itself or an operator work folder (then
    `rounds/<round_id>/artifacts` inside it is used). Over HTTP the manifest is fetched from
    `<url>/manifest.json` and then every file it lists.
    """
    text = str(dir_or_url)
    if text.startswith(("http://", "https://")):
        return _read_artifacts_http(text.rstrip("/"))
    folder = Path(text)
    if round_id is not None and not (folder / MANIFEST_NAME).exists():
        for candidate in (folder / "rounds" / str(round_id) / "artifacts", folder / str(round_id)):
            if (candidate / MANIFEST_NAME).exists():
                folder = candidate
                break
    if not folder.is_dir():
        raise FileNotFoundError(f"artifacts folder {folder} does not exist; pass the round's published folder")
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return ArtifactsView(files, str(folder))


def _read_artifacts_http(base_url: str) -> ArtifactsView:
    import requests

    def get(path: str) -> Optional[bytes]:
        response = requests.get(f"{base_url}/{path}", timeout=60)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.content

    manifest_bytes = get(MANIFEST_NAME)
    files: dict[str, bytes] = {}
    if manifest_bytes is None:
        return ArtifactsView(files, base_url)
    files[MANIFEST_NAME] = manifest_bytes
    try:
        listed = [e.path for e in parse_manifest(manifest_bytes).files]
    except ArtifactsError:
        listed = [f["path"] for f in json.loads(manifest_bytes).get("files", [])]
    for path in listed:
        content = get(path)
        if content is not None:
            files[path] = content
    return ArtifactsView(files, base_url)


# ------------------------------------------------------------------ edges: chain

# (chain id, NMR address) -> total supply at the deployment block: it never changes, and an
# explorer audits many rounds (one archive read per process, not per round).
_INITIAL_SUPPLY: dict[tuple[int, str], int] = {}


def read_chain_view(w3: Any, deployment: Any, round_id: int, *, reader: Optional[ChainReader] = None,
                    block: BlockSpec = "latest", confirmations: int = 0) -> ChainView:
    """One round's chain state at ONE block: `reader`'s pin, or a reader pinned at `block`
    (minus `confirmations`) built on `w3` and `deployment` (which may be None with a reader)."""
    if reader is None:
        reader = ChainReader(w3, deployment, block, confirmations=confirmations)
    return chain_view(reader, round_id)


def chain_view(reader: ChainReader, round_id: int) -> ChainView:
    """Every view and event of the round the auditor checks, read by `reader` at its pinned block:
    getRound and phase in one batch, the round's events in one paged scan, the stakes in
    JSON-RPC batches (never one call per stake)."""
    state = reader.round(round_id, with_opened_block=False)
    view = ChainView(round_id=round_id, chain_id=reader.chain_id, tournament=str(reader.tournament.address),
                     now=reader.now(), phase=state.phase.label, close_time=int(state.close_time),
                     resolve_time=int(state.resolve_time), config=state.config.as_abi_dict(),
                     staked_count=int(state.staked_count), total_at_risk_wei=int(state.total_at_risk_wei))
    view.live_ids_hash = state.live_ids_hash   # (v2) None on a v1 contract
    view.receipt_signers = _receipt_signers(reader)
    events = reader.round_events(round_id)

    # The contract refuses stake changes after close, so the last event is the stake at close.
    for model_id, stake in sorted(reader.stakes(round_id).items()):
        view.stakes[model_id] = StakeView(
            model_id, stake.owner, stake.event_total_wei, stake.corr_mult, stake.mmc_mult, stake.submission_hash,
            stake.amount_wei, stake.closed, stake.changed_tx)

    for event in events.of("ResultsProposed"):
        args = event.args
        proposal = ProposalView(int(args["attempt"]), bytes(args["resultsRoot"]), bytes(args["artifactsHash"]),
                                int(args["leafCount"]), int(args["payoutFactor"]), int(args["reserve"]),
                                int(args["challengeEnd"]), int(args["signerSetVersion"]),
                                event.tx_hash, event.block_number)
        if "scoredAtRisk" in args:   # (v2)
            proposal.scored_at_risk_wei = int(args["scoredAtRisk"])
        _read_signatures(reader, proposal)
        view.proposals.append(proposal)
    for event in events.of("ResultsVetoed"):
        args = event.args
        view.vetoes.append(VetoView(int(args["attempt"]), to_checksum_address(args["guardian"]), args["reason"],
                                    event.tx_hash))
    for version, signer_set in sorted(reader.signer_sets().items()):
        view.signer_sets[version] = SignerSetView(version, list(signer_set.signers), signer_set.threshold)
    for event in events.of("StakeSettled"):
        args = event.args
        view.settled.setdefault(int(args["modelId"]), []).append(SettledView(
            int(args["modelId"]), to_checksum_address(args["owner"]), int(args["stake"]), int(args["status"]),
            int(args["corr"]), int(args["mmc"]), int(args["payout"]), int(args["burned"]), event.tx_hash))
    for event in events.of("StakeRefunded"):
        args = event.args
        view.refunds.setdefault(int(args["modelId"]), []).append(RefundView(
            int(args["modelId"]), to_checksum_address(args["owner"]), int(args["amount"]), event.tx_hash))
    for event in events.of("RoundSettled"):
        args = event.args
        view.round_settled = {"rewards": int(args["rewards"]), "burned": int(args["burned"]),
                              "reserveReleased": int(args["reserveReleased"]), "tx_hash": event.tx_hash}
    _read_supply(reader, view)
    return view


def _read_supply(reader: ChainReader, view: ChainView) -> None:
    """Supply: the whole tournament's burns against the token's fall since deployment, at the pin."""
    try:
        view.total_supply_wei = reader.total_supply_wei()
        view.initial_supply_wei = _initial_supply(reader)
        view.tournament_burns_wei = sum(int(e.args["burned"]) for e in reader.events("StakeSettled"))
        tournament = str(reader.tournament.address).lower()
        view.other_burns_wei = sum(int(e.args["value"]) for e in reader.token_burns()
                                   if str(e.args["from"]).lower() != tournament)
    except Exception as error:  # an archive-less RPC cannot read the supply at deployment
        log.warning("supply check skipped: %s", error)
        view.initial_supply_wei = view.total_supply_wei = view.tournament_burns_wei = None


def _initial_supply(reader: ChainReader) -> int:
    """The NMR supply at the deployment block (cached per process once read)."""
    key = (reader.chain_id, str(reader.nmr.address).lower())
    if key not in _INITIAL_SUPPLY:
        try:
            _INITIAL_SUPPLY[key] = reader.total_supply_wei(block=int(reader.deployment.deploy_block))
        except Exception as error:  # a pruned node has no state at the deploy block
            log.info("no historical state (%s); using the protocol's fixed initial supply", error)
            return NMR_INITIAL_SUPPLY_WEI
    return _INITIAL_SUPPLY[key]


def _receipt_signers(reader: ChainReader) -> Optional[list[str]]:
    """(v2) The current RECEIPT_ROLE holders, replayed from RoleGranted/RoleRevoked; None on a v1 contract."""
    if not any(item.get("name") == "RECEIPT_ROLE" for item in reader.tournament.abi):
        return None
    role = reader.role_id("RECEIPT_ROLE")
    changes = [(e, True) for e in reader.events("RoleGranted", {"role": role})]
    changes += [(e, False) for e in reader.events("RoleRevoked", {"role": role})]
    holders: dict[str, bool] = {}
    for event, granted in sorted(changes, key=lambda c: (c[0].block_number, c[0].log_index)):
        holders[to_checksum_address(event.args["account"])] = granted
    return sorted(a for a, held in holders.items() if held)


def read_receipts_dir(folder: str) -> list:
    """Every upload receipt in the *.json files of a folder (a receipt, a list, or {"receipts": [...]} each)."""
    from tournament.protocol.receipts import parse_receipts

    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"receipts folder {path} does not exist; pass a folder of receipt .json files")
    found = []
    for item in sorted(path.rglob("*.json")):
        found += parse_receipts(item.read_bytes(), str(item))
    return found


def read_targets_source(url_or_file: str) -> bytes:
    """The targets as their source publishes them, byte for byte: an http(s) URL or a local file."""
    text = str(url_or_file)
    if text.startswith(("http://", "https://")):
        import requests

        response = requests.get(text, timeout=60)
        response.raise_for_status()
        return response.content
    return Path(text).read_bytes()


def _read_signatures(reader: ChainReader, proposal: ProposalView) -> None:
    """Signatures are not in events: decode them from the proposeResults calldata."""
    call = reader.proposal_calldata(proposal.tx_hash)
    if call is None:   # e.g. sent through a multisig wrapper: the outer calldata is not ours
        return
    name, params = call
    if name != "proposeResults":
        log.warning("%s calls %s, not proposeResults", proposal.tx_hash, name)
        return
    results = params["results"]
    if isinstance(results, (tuple, list)):
        names = (["roundId", "attempt", "resultsRoot", "leafCount", "artifactsHash", "signerSetVersion"]
                 if len(results) == 6 else
                 ["roundId", "attempt", "resultsRoot", "leafCount", "scoredAtRisk", "artifactsHash",
                  "signerSetVersion"])
        results = dict(zip(names, results))
    proposal.calldata_results = {k: (bytes(v) if isinstance(v, (bytes, bytearray)) else int(v))
                                 for k, v in dict(results).items()}
    proposal.signatures = [bytes(s) for s in params["signatures"]]
