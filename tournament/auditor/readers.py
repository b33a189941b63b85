"""The auditor's readers: one round's chain state (events and views) and its published artifacts.

`read_chain_view(w3, deployment, round_id)` fills a ChainView (tournament.auditor.views) from
the tournament's events and view calls; `read_artifacts(dir_or_url)` reads the published
folder into an ArtifactsView. These are the I/O edges; the checks are pure
(tournament.auditor.verify). The chain side will move onto the block-pinned reader
(tournament.chain.reader); its output stays a ChainView.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

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
from tournament.protocol.artifacts import ArtifactsError, parse_manifest
from tournament.protocol.constants import MANIFEST_NAME

__all__ = ["NMR_INITIAL_SUPPLY_WEI", "read_artifacts", "read_chain_view", "read_receipts_dir", "read_targets_source"]

log = logging.getLogger(__name__)

ZERO32 = b"\x00" * 32
NMR_INITIAL_SUPPLY_WEI = 11_000_000 * 10**18   # protocol: minted once at deployment, never again


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

def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def read_chain_view(w3: Any, deployment: Any, round_id: int, *, tournament: Any = None, nmr: Any = None,
                    cache: Optional[dict] = None) -> ChainView:
    """Read one round's events and views. `cache` (a dict) shares whole-tournament event
    lists (signer sets, burns) between rounds of one request."""
    from eth_utils import to_checksum_address

    from tournament.chain.client import PHASES, fetch_events, nmr_contract, tournament_contract

    tournament = tournament or tournament_contract(w3, deployment)
    nmr = nmr or nmr_contract(w3, deployment)
    cache = {} if cache is None else cache
    start = int(deployment.deploy_block)
    head = w3.eth.get_block("latest")
    to_block = int(head["number"])
    by_round = {"roundId": round_id}

    get_round = tournament.functions.getRound(round_id)
    round_state = _struct(get_round.call(), get_round.abi["outputs"][0]["components"])
    close_time, resolve_time = round_state["closeTime"], round_state["resolveTime"]
    staked_count, total_at_risk = round_state["stakedCount"], round_state["totalAtRisk"]
    config_dict = {name: int(value) for name, value in round_state["config"].items()}
    phase_index = tournament.functions.phase(round_id).call()

    def events(name: str, filters: Optional[dict] = by_round) -> list:
        key = (name, tuple(sorted((filters or {}).items())), to_block)
        if key not in cache:
            cache[key] = fetch_events(getattr(tournament.events, name), start, to_block, argument_filters=filters)
        return cache[key]

    view = ChainView(round_id=round_id, chain_id=int(w3.eth.chain_id), tournament=tournament.address,
                     now=int(head["timestamp"]), phase=PHASES[phase_index], close_time=int(close_time),
                     resolve_time=int(resolve_time), config=config_dict, staked_count=int(staked_count),
                     total_at_risk_wei=int(total_at_risk))
    if "liveIdsHash" in round_state:   # (v2)
        view.live_ids_hash = bytes(round_state["liveIdsHash"])
    view.receipt_signers = _receipt_signers(tournament, events)

    latest: dict[int, Any] = {}
    commitment: dict[int, bytes] = {}
    # The contract refuses stake changes after close, so the last event is the stake at close.
    for event in events("StakeChanged"):
        model_id = int(event["args"]["modelId"])
        latest[model_id] = event
        if bytes(event["args"]["submissionHash"]) != ZERO32:
            commitment[model_id] = bytes(event["args"]["submissionHash"])
    for model_id, event in sorted(latest.items()):
        args = event["args"]
        if int(args["total"]) == 0:
            continue
        (amount, _cm, _mm), closed = tournament.functions.getStake(round_id, model_id).call()
        view.stakes[model_id] = StakeView(
            model_id, to_checksum_address(args["owner"]), int(args["total"]), int(args["corrMult"]),
            int(args["mmcMult"]), commitment.get(model_id, ZERO32), int(amount), bool(closed),
            _hex(event["transactionHash"]))

    for event in events("ResultsProposed"):
        args = event["args"]
        proposal = ProposalView(int(args["attempt"]), bytes(args["resultsRoot"]), bytes(args["artifactsHash"]),
                                int(args["leafCount"]), int(args["payoutFactor"]), int(args["reserve"]),
                                int(args["challengeEnd"]), int(args["signerSetVersion"]),
                                _hex(event["transactionHash"]), int(event["blockNumber"]))
        if "scoredAtRisk" in args:   # (v2)
            proposal.scored_at_risk_wei = int(args["scoredAtRisk"])
        _read_signatures(w3, tournament, proposal)
        view.proposals.append(proposal)
    for event in events("ResultsVetoed"):
        args = event["args"]
        view.vetoes.append(VetoView(int(args["attempt"]), to_checksum_address(args["guardian"]), args["reason"],
                                    _hex(event["transactionHash"])))
    for event in events("SignersUpdated", None):
        args = event["args"]
        version = int(args["version"])
        view.signer_sets[version] = SignerSetView(version, [to_checksum_address(s) for s in args["signers"]],
                                                  int(args["threshold"]))
    for event in events("StakeSettled"):
        args = event["args"]
        view.settled.setdefault(int(args["modelId"]), []).append(SettledView(
            int(args["modelId"]), to_checksum_address(args["owner"]), int(args["stake"]), int(args["status"]),
            int(args["corr"]), int(args["mmc"]), int(args["payout"]), int(args["burned"]),
            _hex(event["transactionHash"])))
    for event in events("StakeRefunded"):
        args = event["args"]
        view.refunds.setdefault(int(args["modelId"]), []).append(RefundView(
            int(args["modelId"]), to_checksum_address(args["owner"]), int(args["amount"]),
            _hex(event["transactionHash"])))
    for event in events("RoundSettled"):
        args = event["args"]
        view.round_settled = {"rewards": int(args["rewards"]), "burned": int(args["burned"]),
                              "reserveReleased": int(args["reserveReleased"]),
                              "tx_hash": _hex(event["transactionHash"])}

    # Supply: the whole tournament's burns against the token's fall since deployment.
    try:
        view.total_supply_wei = int(nmr.functions.totalSupply().call())
        if "initial_supply" not in cache:
            try:
                cache["initial_supply"] = int(nmr.functions.totalSupply().call(block_identifier=start))
            except Exception as error:  # a pruned node has no state at the deploy block
                log.info("no historical state (%s); using the protocol's fixed initial supply", error)
                cache["initial_supply"] = NMR_INITIAL_SUPPLY_WEI
        view.initial_supply_wei = cache["initial_supply"]
        view.tournament_burns_wei = sum(int(e["args"]["burned"]) for e in events("StakeSettled", None))
        zero = "0x" + "00" * 20
        key = ("burns", to_block)
        if key not in cache:
            cache[key] = fetch_events(nmr.events.Transfer, start, to_block, argument_filters={"to": zero})
        view.other_burns_wei = sum(int(e["args"]["value"]) for e in cache[key]
                                   if e["args"]["from"].lower() != tournament.address.lower())
    except Exception as error:  # an archive-less RPC cannot read the supply at deployment
        log.warning("supply check skipped: %s", error)
        view.initial_supply_wei = view.total_supply_wei = view.tournament_burns_wei = None
    return view


def _struct(value: Any, components: list) -> dict:
    """A web3 tuple as a dict by the ABI's component names (nested tuples too)."""
    out = {}
    for item, part in zip(components, value):
        if item["type"] == "tuple":
            part = _struct(part, item["components"])
        out[item["name"]] = part
    return out


def _receipt_signers(tournament: Any, events: Any) -> Optional[list[str]]:
    """(v2) The current RECEIPT_ROLE holders, replayed from RoleGranted/RoleRevoked; None on a v1 contract."""
    from eth_utils import to_checksum_address

    if not any(item.get("name") == "RECEIPT_ROLE" for item in tournament.abi):
        return None
    role = bytes(tournament.functions.RECEIPT_ROLE().call())
    changes = [(e, True) for e in events("RoleGranted", {"role": role})]
    changes += [(e, False) for e in events("RoleRevoked", {"role": role})]
    holders: dict[str, bool] = {}
    for event, granted in sorted(changes, key=lambda c: (c[0]["blockNumber"], c[0]["logIndex"])):
        holders[to_checksum_address(event["args"]["account"])] = granted
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


def _read_signatures(w3: Any, tournament: Any, proposal: ProposalView) -> None:
    """Signatures are not in events: decode them from the proposeResults calldata."""
    try:
        tx = w3.eth.get_transaction(proposal.tx_hash)
        function, params = tournament.decode_function_input(tx["input"])
    except Exception as error:  # e.g. sent through a multisig wrapper: the outer calldata is not ours
        log.warning("cannot decode the calldata of %s: %s", proposal.tx_hash, error)
        return
    if function.fn_name != "proposeResults":
        log.warning("%s calls %s, not proposeResults", proposal.tx_hash, function.fn_name)
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

