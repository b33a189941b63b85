"""oracle/artifacts.py: the manifest is canonical and reproducible, its keccak256 is the artifactsHash,
and verify_folder names every missing, changed or extra file."""
from __future__ import annotations

import json

import pytest
from eth_hash.auto import keccak

from tournament.protocol.artifacts import (
    MANIFEST_NAME,
    ArtifactsError,
    FileEntry,
    artifacts_hash,
    build_manifest,
    file_entry,
    parse_manifest,
    submission_path,
    verify_folder,
    write_manifest,
)

FILES = {
    "targets.csv": b"id,target\na,0.25\nb,1.0\n",
    "submissions/12.csv": b"id,prediction\na,0.1\nb,0.9\n",
    "submissions/7.csv": b"id,prediction\r\na,NaN\r\n",  # invalid submissions are published too, byte for byte
    "meta_model.csv": b"id,meta_model\na,0.3\nb,0.7\n",
    "scores.csv": b"model_id,status,corr_nanos,mmc_nanos\n7,2,0,0\n12,1,25000000,-1\n",
}


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "round-5"
    for relative, content in FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    return root


def test_manifest_names_every_file_with_keccak_and_size_in_canonical_bytes(folder):
    manifest_bytes, digest = write_manifest(folder, 5)
    assert (folder / MANIFEST_NAME).read_bytes() == manifest_bytes
    assert digest == keccak(manifest_bytes) == artifacts_hash(manifest_bytes)
    assert manifest_bytes.endswith(b"}\n") and b" " not in manifest_bytes
    document = json.loads(manifest_bytes)
    assert document["roundId"] == 5 and document["format"] == "numeraire-tournament-artifacts-v1"
    assert [f["path"] for f in document["files"]] == sorted(FILES)
    for entry in document["files"]:
        assert entry["keccak256"] == "0x" + keccak(FILES[entry["path"]]).hex()
        assert entry["size"] == len(FILES[entry["path"]])
    assert manifest_bytes == json.dumps(document, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def test_the_same_files_give_the_same_artifacts_hash_whatever_the_order(folder, tmp_path):
    _, first = write_manifest(folder, 5)
    _, listed = write_manifest(folder, 5, files=list(reversed(FILES)))
    pure = build_manifest(5, [file_entry(p, c) for p, c in sorted(FILES.items(), reverse=True)])
    assert first == listed == artifacts_hash(pure)
    assert artifacts_hash(build_manifest(6, [file_entry(p, c) for p, c in FILES.items()])) != first
    # pinned: the manifest format is part of the protocol; changing it changes every artifactsHash
    assert build_manifest(1, [file_entry("scores.csv", b"x")]) == (
        b'{"files":[{"keccak256":"0x' + keccak(b"x").hex().encode()
        + b'","path":"scores.csv","size":1}],"format":"numeraire-tournament-artifacts-v1","roundId":1}\n')


def test_an_intact_folder_has_no_problems(folder):
    _, digest = write_manifest(folder, 5)
    assert verify_folder(folder) == []
    assert verify_folder(folder, expected_artifacts_hash=digest, expected_round_id=5) == []
    assert verify_folder(folder, expected_artifacts_hash="0x" + digest.hex()) == []


def test_verify_folder_names_missing_changed_and_extra_files(folder):
    write_manifest(folder, 5)
    (folder / "submissions" / "12.csv").unlink()
    (folder / "scores.csv").write_bytes(FILES["scores.csv"].replace(b"25000000", b"25000001"))
    (folder / "meta_model.csv").write_bytes(FILES["meta_model.csv"] + b"c,0.5\n")
    (folder / "notes.txt").write_bytes(b"hello")
    problems = verify_folder(folder)
    assert "submissions/12.csv: missing (listed in manifest.json)" in problems
    assert any(p.startswith("scores.csv: keccak256 is 0x") and "but manifest.json says" in p for p in problems)
    assert not any(p.startswith("scores.csv:") and "bytes" in p for p in problems)  # same size, other bytes
    assert any(p.startswith("meta_model.csv: keccak256") for p in problems)
    assert f"meta_model.csv: {len(FILES['meta_model.csv']) + 6} bytes, but manifest.json says " \
           f"{len(FILES['meta_model.csv'])}" in problems
    assert "notes.txt: not listed in manifest.json" in problems
    assert len(problems) == 5


def test_verify_folder_checks_the_onchain_hash_and_round(folder):
    write_manifest(folder, 5)
    problems = verify_folder(folder, expected_artifacts_hash=b"\x01" * 32, expected_round_id=6)
    assert any("but the round's artifactsHash is 0x0101" in p for p in problems)
    assert "manifest.json: describes round 5, expected round 6" in problems


def test_a_missing_or_edited_manifest_is_a_problem(folder):
    assert verify_folder(folder) == [f"manifest.json: missing from {folder}"]
    manifest_bytes, _ = write_manifest(folder, 5)
    (folder / MANIFEST_NAME).write_bytes(json.dumps(json.loads(manifest_bytes), indent=1).encode())
    [problem] = verify_folder(folder)
    assert "not in canonical form" in problem
    (folder / MANIFEST_NAME).write_bytes(b"[]")
    [problem] = verify_folder(folder)
    assert "not a manifest" in problem


@pytest.mark.parametrize("path", ["../x.csv", "/etc/passwd", "a/./b.csv", "a\\b.csv", "", "manifest.json"])
def test_paths_outside_the_folder_or_unnormalized_are_refused(path):
    with pytest.raises(ArtifactsError):
        file_entry(path, b"x")


def test_write_manifest_errors_name_the_problem(folder, tmp_path):
    with pytest.raises(ArtifactsError, match="no such file"):
        write_manifest(folder, 5, files=["submissions/99.csv"])
    with pytest.raises(ArtifactsError, match="does not exist"):
        write_manifest(tmp_path / "nowhere", 5)
    with pytest.raises(ArtifactsError, match="listed twice"):
        build_manifest(5, [FileEntry("a.csv", "0x" + "00" * 32, 1)] * 2)
    with pytest.raises(ArtifactsError, match="round_id"):
        build_manifest(-1, [])


def test_parse_manifest_round_trips_and_submission_paths_follow_the_layout(folder):
    manifest_bytes, _ = write_manifest(folder, 5)
    manifest = parse_manifest(manifest_bytes)
    assert manifest.round_id == 5 and sorted(manifest.by_path()) == sorted(FILES)
    assert submission_path(12) == "submissions/12.csv" and submission_path(7, ".parquet") == "submissions/7.parquet"
