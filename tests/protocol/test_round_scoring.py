"""score_round: the one pure round scoring gives the same bytes to everyone, and the v2 rules hold.

Checks: reruns (and reordered inputs) give byte-identical artifacts; the result equals what
the v1 operator wrote (score_submissions + meta_model + its CSV/JSON formats); every INVALID
stake carries its reason; scoredAtRisk counts SCORED stakes only; an INVALID whale changes
nothing for anyone else; bad live ids or targets raise one-line errors.
"""
from __future__ import annotations

import csv
import io
import json
import random

import numpy as np
import pandas as pd
import pytest
from eth_account import Account
from eth_hash.auto import keccak

from tournament.protocol import scoring
from tournament.protocol.artifacts import parse_manifest
from tournament.protocol.constants import REQUIRED_FILES, Status
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.receipts import SignedReceipt, parse_receipts
from tournament.protocol.results import ResultsTree, build_leaves
from tournament.protocol.round_scoring import MISSING_MESSAGE, RoundInputs, RoundScoringError, StakeAtClose, score_round
from tournament.protocol.signing import Domain, UploadReceipt, sign_receipt
from tournament.protocol.submissions import ValidationResult, score_submissions, validate_predictions
from tournament.protocol.tables import ConstantTargetsError, TablesError

ROUND = 9
N = 200
RECEIPT_KEY = Account.from_key(keccak(b"round scoring test receipt key"))
DOMAIN = Domain(31337, "0x" + "5a" * 20)


def _csv(ids, values) -> bytes:
    return ("id,prediction\n" + "".join(f"{i},{float(v)!r}\n" for i, v in zip(ids, values))).encode()


def _receipt(model_id: int, raw: bytes, at: int = 1_000) -> SignedReceipt:
    r = UploadReceipt(ROUND, model_id, keccak(raw), at)
    return SignedReceipt(r, sign_receipt(RECEIPT_KEY.key, DOMAIN, r))


def make_inputs(extra_stakes=(), seed: int = 3) -> RoundInputs:
    """Six stakes: three valid, one constant file, one never received, one whose copy differs."""
    rng = np.random.default_rng(seed)
    ids = [f"r{i:03d}" for i in range(N)]
    targets = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=N)
    stakes, files, receipts = [], {}, []
    for model_id, (stake_nmr, kind) in enumerate([(10, "good"), (40, "good"), (25, "noise"), (5, "constant"),
                                                  (7, "missing"), (3, "swapped")], start=1):
        values = np.full(N, 0.5) if kind == "constant" else (
            np.clip(targets + rng.normal(0, 0.5, N), 0, 1) if kind == "good" else rng.uniform(0, 1, N))
        raw = _csv(ids, values)
        stakes.append(StakeAtClose(model_id, f"0x{model_id:040x}", stake_nmr * NMR, 100 + model_id, 0, keccak(raw)))
        if kind == "missing":
            continue
        files[model_id] = raw if kind != "swapped" else _csv(ids, values[::-1])
        receipts.append(_receipt(model_id, files[model_id]))
    for model_id, amount_wei, raw in extra_stakes:
        stakes.append(StakeAtClose(model_id, f"0x{model_id:040x}", amount_wei, 100, 0,
                                   keccak(raw if raw is not None else b"never uploaded")))
        if raw is not None:
            files[model_id] = raw
    live_raw = ("id\n" + "".join(f"{i}\n" for i in ids)).encode()
    targets_raw = ("id,target\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, targets))).encode()
    return RoundInputs(ROUND, stakes, files, live_raw, targets_raw, receipts)


@pytest.fixture(scope="module")
def inputs():
    return make_inputs()


@pytest.fixture(scope="module")
def scored(inputs):
    return score_round(inputs)


def test_reruns_and_reordered_inputs_give_the_same_bytes(inputs, scored):
    again = score_round(inputs)
    assert again.manifest_bytes == scored.manifest_bytes and again.files == scored.files
    shuffled = list(inputs.stakes)
    random.Random(1).shuffle(shuffled)
    receipts = list(reversed(inputs.receipts)) + [inputs.receipts[0]]     # reordered, one duplicated
    reordered = RoundInputs(ROUND, shuffled, dict(reversed(list(inputs.files.items()))), inputs.live_ids_raw,
                            inputs.targets_raw, receipts)
    other = score_round(reordered)
    assert other.files == scored.files and other.artifacts_hash == scored.artifacts_hash
    assert other.results_root == scored.results_root == ResultsTree(list(scored.leaves)).root


def test_every_required_file_is_produced_and_listed_in_the_manifest(scored, inputs):
    manifest = parse_manifest(scored.manifest_bytes)
    listed = set(manifest.by_path())
    assert set(REQUIRED_FILES) - {"manifest.json"} <= listed
    assert listed == set(scored.files)
    assert scored.artifacts_hash == keccak(scored.manifest_bytes)
    assert scored.files["live_ids.csv"] == inputs.live_ids_raw and scored.files["targets.csv"] == inputs.targets_raw
    # every file received is published byte for byte, the mismatching copy included; the missing one is not
    assert scored.files["submissions/6.csv"] == inputs.files[6]
    assert not any(p.startswith("submissions/5.") for p in scored.files)
    assert len(parse_receipts(scored.files["receipts.json"])) == 5


def test_invalid_stakes_carry_their_reason(scored):
    by_model = {o.model_id: o for o in scored.outcomes}
    assert [by_model[m].status for m in (1, 2, 3)] == [Status.SCORED] * 3
    assert by_model[4].rule == "constant" and "submissions/4.csv: all 200 predictions are equal" in by_model[4].message
    assert (by_model[5].rule, by_model[5].message, by_model[5].file_path) == ("missing", MISSING_MESSAGE, None)
    assert by_model[6].rule == "hash_mismatch" and by_model[6].message.startswith("hash mismatch: the file received")
    assert by_model[6].file_path == "submissions/6.csv"
    table = list(csv.DictReader(io.StringIO(scored.files["scores.csv"].decode())))
    assert [row["message"] for row in table] == [by_model[m].message for m in range(1, 7)]
    assert [row["status"] for row in table] == ["SCORED"] * 3 + ["INVALID"] * 3
    assert table[3]["corr"] == "" and table[3]["corr_nanos"] == "0"


def test_scored_at_risk_counts_only_scored_stakes(scored):
    assert scored.scored_at_risk_wei == (10 + 40 + 25) * NMR
    assert scored.scored_at_risk_wei == sum(o.amount_wei for o in scored.outcomes if o.scored)
    assert scored.leaf_count == 6


def test_an_invalid_whale_changes_nothing_for_anyone_else(scored):
    for whale_file in (None, b"id,prediction\nnot,a file\n"):
        whale = score_round(make_inputs(extra_stakes=[(99, 719_000 * NMR, whale_file)]))
        assert whale.outcome(99).status == Status.INVALID
        assert whale.scored_at_risk_wei == scored.scored_at_risk_wei
        assert [leaf for leaf in whale.leaves if leaf.model_id != 99] == list(scored.leaves)
        assert np.array_equal(whale.meta_model, scored.meta_model)
        assert whale.files["meta_model.csv"] == scored.files["meta_model.csv"]


def test_a_valid_whale_weighs_in_the_meta_model_and_the_scored_at_risk(inputs, scored):
    ids = [line for line in inputs.live_ids_raw.decode().split("\n")[1:] if line]
    raw = _csv(ids, np.linspace(0, 1, N)[::-1])
    whale = score_round(make_inputs(extra_stakes=[(99, 719_000 * NMR, raw)]))
    assert whale.outcome(99).status == Status.SCORED
    assert whale.scored_at_risk_wei == scored.scored_at_risk_wei + 719_000 * NMR
    assert whale.outcome(1).mmc_nanos != scored.outcome(1).mmc_nanos


def _operator_v1(inputs: RoundInputs):
    """What tournament.operator.pipeline.Operator.score wrote (v1), replayed on the same inputs."""
    live_ids = [line for line in inputs.live_ids_raw.decode().split("\n")[1:] if line]
    frame = pd.read_csv(io.BytesIO(inputs.targets_raw), dtype={"id": str})
    targets = frame.set_index("id")["target"].astype(float).reindex(live_ids)
    results = {}
    paths = {}
    for s in sorted(inputs.stakes, key=lambda s: s.model_id):
        raw = inputs.files.get(s.model_id)
        if raw is None or keccak(raw) != s.submission_hash:
            message = MISSING_MESSAGE if raw is None else (
                f"hash mismatch: the file received has keccak256 0x{keccak(raw).hex()}, the stake committed to "
                f"0x{s.submission_hash.hex()}")
            results[str(s.model_id)] = ValidationResult(f"model {s.model_id}", False, message, "missing")
        else:
            paths[s.model_id] = f"submissions/{s.model_id}.csv"
            results[str(s.model_id)] = validate_predictions(raw, live_ids, name=paths[s.model_id])
    stakes = {str(s.model_id): float(s.amount_wei) for s in inputs.stakes}
    table = score_submissions(results, targets, stakes)
    text = lambda v: "" if v is None or not np.isfinite(v) else repr(float(v))  # noqa: E731
    rows, scores = [], {}
    for s in sorted(inputs.stakes, key=lambda s: s.model_id):
        row = table[table["model"] == str(s.model_id)].iloc[0]
        ok = row["status"] == "SCORED"
        if ok:
            scores[s.model_id] = (int(row["corr_nanos"]), int(row["mmc_nanos"]))
        rows.append([s.model_id, s.owner, s.amount_wei, row["status"], text(row["corr"]) if ok else "",
                     text(row["mmc"]) if ok else "", int(row["corr_nanos"]), int(row["mmc_nanos"]), row["message"]])
    leaves = build_leaves(ROUND, [s.model_id for s in inputs.stakes], scores)
    valid = [s for s in sorted(inputs.stakes, key=lambda s: s.model_id) if results[str(s.model_id)].valid]
    meta = scoring.meta_model(np.column_stack([results[str(s.model_id)].predictions for s in valid]),
                              np.array([float(s.amount_wei) for s in valid]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model_id", "owner", "stake_wei", "status", "corr", "mmc", "corr_nanos", "mmc_nanos", "message"])
    writer.writerows(rows)
    leaves_json = (json.dumps([{"roundId": x.round_id, "modelId": x.model_id, "status": x.status,
                                "corr": x.corr_nanos, "mmc": x.mmc_nanos} for x in leaves], indent=1) + "\n").encode()
    meta_csv = ("id,meta_model\n" + "".join(f"{i},{text(v)}\n" for i, v in zip(live_ids, meta))).encode()
    return out.getvalue().encode(), meta_csv, leaves_json


def test_artifacts_are_byte_identical_to_the_v1_operators(inputs, scored):
    scores_csv, meta_csv, leaves_json = _operator_v1(inputs)
    assert scored.files["scores.csv"] == scores_csv
    assert scored.files["meta_model.csv"] == meta_csv
    assert scored.files["leaves.json"] == leaves_json


def test_parquet_targets_score_like_csv_targets(inputs, scored):
    frame = pd.read_csv(io.BytesIO(inputs.targets_raw), dtype={"id": str})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    parquet = score_round(RoundInputs(ROUND, inputs.stakes, inputs.files, inputs.live_ids_raw, buffer.getvalue(),
                                      inputs.receipts))
    assert parquet.leaves == scored.leaves and parquet.files["targets.csv"] == buffer.getvalue()


@pytest.mark.parametrize("targets_raw, error, words", [
    (None, ConstantTargetsError, "same target"),
    (b"id,target\n", TablesError, "have no target"),
    (b"id,label\nr000,1\n", TablesError, "no column 'target'"),
    (b"PAR1 this is not parquet", TablesError, "starts like Parquet but cannot be read"),
])
def test_unusable_targets_are_one_line_errors(inputs, targets_raw, error, words):
    if targets_raw is None:
        ids = [line for line in inputs.live_ids_raw.decode().split("\n")[1:] if line]
        targets_raw = ("id,target\n" + "".join(f"{i},0.5\n" for i in ids)).encode()
    with pytest.raises(error, match=words) as caught:
        score_round(RoundInputs(ROUND, inputs.stakes, inputs.files, inputs.live_ids_raw, targets_raw))
    assert "\n" not in str(caught.value)


def test_inputs_that_are_not_one_round_are_refused(inputs):
    with pytest.raises(RoundScoringError, match="not staked"):
        score_round(RoundInputs(ROUND, inputs.stakes, {**inputs.files, 77: b"x"}, inputs.live_ids_raw,
                                inputs.targets_raw))
    with pytest.raises(RoundScoringError, match="staked twice"):
        score_round(RoundInputs(ROUND, list(inputs.stakes) * 2, inputs.files, inputs.live_ids_raw,
                                inputs.targets_raw))
    foreign = SignedReceipt(UploadReceipt(ROUND + 1, 1, b"\x01" * 32, 5), b"\x00" * 65)
    with pytest.raises(RoundScoringError, match="receipt of round 10"):
        score_round(RoundInputs(ROUND, inputs.stakes, inputs.files, inputs.live_ids_raw, inputs.targets_raw,
                                [foreign]))
    with pytest.raises(TablesError, match="appears more than once"):
        score_round(RoundInputs(ROUND, inputs.stakes, inputs.files, b"id\na\nb\na\n", inputs.targets_raw))


def test_a_round_without_valid_files_still_publishes_everything(inputs):
    stakes = [s for s in inputs.stakes if s.model_id in (4, 5, 6)]
    files = {m: raw for m, raw in inputs.files.items() if m in (4, 6)}
    result = score_round(RoundInputs(ROUND, stakes, files, inputs.live_ids_raw, inputs.targets_raw))
    assert result.scored_at_risk_wei == 0 and {leaf.status for leaf in result.leaves} == {Status.INVALID}
    assert result.files["meta_model.csv"].split(b"\n")[1].endswith(b",")
