"""A round's artifacts folder and its manifest: what auditors download to recompute everything.

The operator publishes, per round, the targets, every submission file exactly as uploaded,
the meta model, the scores table and `manifest.json`, which names each file (relative POSIX
path) with its keccak256 and size. The manifest's bytes are canonical (sorted keys, no
spaces, ASCII, files sorted by path, one trailing newline), so anyone who hashes the same
files writes the same bytes, and `artifactsHash = keccak256(manifest bytes)` is what the
signers sign. `build_manifest` / `parse_manifest` / `artifacts_hash` are pure;
`write_manifest` and `verify_folder` read (and write) only inside the folder they are given.

Layout (file names in tournament.protocol.constants): live_ids.csv, targets.csv,
submissions/<modelId>.<ext>, receipts.json, meta_model.csv, scores.csv, leaves.json,
manifest.json; every one required (protocol v2).
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional, Union

from eth_hash.auto import keccak

from tournament.protocol.constants import (
    LEAVES_NAME,
    LIVE_IDS_NAME,
    MANIFEST_NAME,
    META_MODEL_NAME,
    RECEIPTS_NAME,
    SCORES_NAME,
    SUBMISSIONS_DIR,
    TARGETS_NAME,
)

__all__ = [
    "ArtifactsError",
    "FileEntry",
    "LEAVES_NAME",
    "LIVE_IDS_NAME",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "META_MODEL_NAME",
    "Manifest",
    "RECEIPTS_NAME",
    "SCORES_NAME",
    "SUBMISSIONS_DIR",
    "TARGETS_NAME",
    "artifacts_hash",
    "build_manifest",
    "file_entry",
    "hash_file",
    "parse_manifest",
    "submission_path",
    "verify_folder",
    "write_manifest",
]

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "numeraire-tournament-artifacts-v1"
_CHUNK_BYTES = 1 << 20
_HEX32 = re.compile(r"^0x[0-9a-f]{64}$")

PathLike = Union[str, os.PathLike]


class ArtifactsError(ValueError):
    """An artifacts folder or manifest that cannot be written or read (the message says why)."""


@dataclass(frozen=True)
class FileEntry:
    """One file of the folder: relative POSIX path, keccak256 (0x-hex, lowercase), size in bytes."""

    path: str
    keccak256: str
    size_bytes: int


@dataclass(frozen=True)
class Manifest:
    round_id: int
    files: tuple[FileEntry, ...]

    def by_path(self) -> dict[str, FileEntry]:
        return {entry.path: entry for entry in self.files}


def submission_path(model_id: int, extension: str = "csv") -> str:
    """Where a model's submission file goes in the folder: `submissions/<modelId>.<ext>`."""
    return f"{SUBMISSIONS_DIR}/{int(model_id)}.{extension.lstrip('.')}"


def _check_relative_path(path: str) -> str:
    """A manifest path: relative, POSIX separators, normalized, inside the folder, not the manifest."""
    if not isinstance(path, str) or not path:
        raise ArtifactsError(f"file path must be a non-empty string, got {path!r}")
    pure = PurePosixPath(path)
    if ("\\" in path or pure.is_absolute() or str(pure) != path
            or any(part in ("..", ".") for part in pure.parts)):
        raise ArtifactsError(f"{path!r}: file paths must be relative POSIX paths inside the folder "
                             "(like 'submissions/12.csv'), without '..', '.', or backslashes")
    if path == MANIFEST_NAME:
        raise ArtifactsError(f"{MANIFEST_NAME} cannot list itself")
    return path


def file_entry(path: str, content: bytes) -> FileEntry:
    """The manifest entry of a file with these bytes (pure)."""
    return FileEntry(_check_relative_path(path), "0x" + keccak(content).hex(), len(content))


def build_manifest(round_id: int, entries: Iterable[FileEntry]) -> bytes:
    """The canonical manifest bytes (pure): same files, same bytes, same artifactsHash."""
    if isinstance(round_id, bool) or not isinstance(round_id, int) or round_id < 0:
        raise ArtifactsError(f"round_id must be a non-negative integer, got {round_id!r}")
    entries = list(entries)
    paths = [_check_relative_path(e.path) for e in entries]
    repeated = sorted({p for p in paths if paths.count(p) > 1})
    if repeated:
        raise ArtifactsError(f"files listed twice: {repeated}")
    for entry in entries:
        if not _HEX32.match(entry.keccak256) or entry.size_bytes < 0:
            raise ArtifactsError(f"{entry.path}: bad entry {entry} (keccak256 must be lowercase 0x-hex "
                                 "of 32 bytes, size non-negative)")
    document = {
        "format": MANIFEST_FORMAT,
        "roundId": round_id,
        "files": [{"path": e.path, "keccak256": e.keccak256, "size": e.size_bytes}
                  for e in sorted(entries, key=lambda e: e.path)],
    }
    return (json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n").encode("ascii")


def artifacts_hash(manifest_bytes: bytes) -> bytes:
    """`artifactsHash = keccak256(manifest bytes)`, the bytes32 the signers sign."""
    return keccak(bytes(manifest_bytes))


def parse_manifest(manifest_bytes: bytes) -> Manifest:
    """Read manifest bytes (pure); ArtifactsError if they are not a canonical manifest."""
    try:
        document = json.loads(manifest_bytes)
        if document.get("format") != MANIFEST_FORMAT:
            raise ArtifactsError(f"{MANIFEST_NAME}: format is {document.get('format')!r}, "
                                 f"expected {MANIFEST_FORMAT!r}")
        entries = tuple(FileEntry(f["path"], f["keccak256"], f["size"]) for f in document["files"])
        round_id = document["roundId"]
    except ArtifactsError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ArtifactsError(f"{MANIFEST_NAME}: not a manifest ({type(error).__name__}: {error})") from None
    canonical = build_manifest(round_id, entries)
    if canonical != bytes(manifest_bytes):
        raise ArtifactsError(f"{MANIFEST_NAME}: not in canonical form (sorted keys, no spaces, files sorted "
                             "by path, one trailing newline); rewrite it with write_manifest")
    return Manifest(round_id, entries)


def hash_file(path: PathLike) -> tuple[str, int]:
    """keccak256 (0x-hex) and size of a file, read in chunks."""
    hasher = keccak.new(b"")
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            hasher.update(chunk)
            size += len(chunk)
    return "0x" + hasher.digest().hex(), size


def _folder_files(folder: Path) -> list[str]:
    """Every regular file under the folder as a relative POSIX path, manifest excluded."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            relative = (Path(root) / name).relative_to(folder).as_posix()
            if relative != MANIFEST_NAME:
                found.append(relative)
    return found


def _inside(folder: Path, relative: str) -> Path:
    target = folder / relative
    if not target.resolve().is_relative_to(folder.resolve()):
        raise ArtifactsError(f"{relative}: resolves outside the folder {folder} (a symlink?)")
    return target


def write_manifest(folder: PathLike, round_id: int,
                   files: Optional[Iterable[str]] = None) -> tuple[bytes, bytes]:
    """Hash the files and write `<folder>/manifest.json`; returns `(manifest_bytes, artifacts_hash)`.

    `files` are paths relative to the folder; by default every file in it (except the manifest).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactsError(f"artifacts folder {folder} does not exist")
    relative_paths = _folder_files(folder) if files is None else [_check_relative_path(p) for p in files]
    entries = []
    for relative in relative_paths:
        target = _inside(folder, relative)
        if not target.is_file():
            raise ArtifactsError(f"{folder}/{relative}: no such file; put it in the folder or leave it out")
        digest, size = hash_file(target)
        entries.append(FileEntry(relative, digest, size))
    manifest_bytes = build_manifest(round_id, entries)
    temporary = folder / (MANIFEST_NAME + ".tmp")
    temporary.write_bytes(manifest_bytes)
    os.replace(temporary, folder / MANIFEST_NAME)  # never leave a half-written manifest behind
    manifest_digest = artifacts_hash(manifest_bytes)
    log.info("round %s: manifest of %d files, artifactsHash 0x%s", round_id, len(entries), manifest_digest.hex())
    return manifest_bytes, manifest_digest


def verify_folder(folder: PathLike, expected_artifacts_hash: Union[bytes, str, None] = None,
                  expected_round_id: Optional[int] = None) -> list[str]:
    """Problems found in an artifacts folder (an empty list means it is intact).

    Checks the manifest is canonical, every listed file is present with the listed keccak256
    and size, no unlisted file is present, and, when given, the manifest hashes to the
    on-chain `artifactsHash` and names the expected round.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        return [f"{MANIFEST_NAME}: missing from {folder}"]
    manifest_bytes = manifest_path.read_bytes()
    problems: list[str] = []
    if expected_artifacts_hash is not None:
        expected = (bytes.fromhex(expected_artifacts_hash.removeprefix("0x"))
                    if isinstance(expected_artifacts_hash, str) else bytes(expected_artifacts_hash))
        actual = artifacts_hash(manifest_bytes)
        if actual != expected:
            problems.append(f"{MANIFEST_NAME}: keccak256 is 0x{actual.hex()}, but the round's artifactsHash "
                            f"is 0x{expected.hex()}")
    try:
        manifest = parse_manifest(manifest_bytes)
    except ArtifactsError as error:
        return problems + [str(error)]
    if expected_round_id is not None and manifest.round_id != expected_round_id:
        problems.append(f"{MANIFEST_NAME}: describes round {manifest.round_id}, expected round {expected_round_id}")
    for entry in manifest.files:
        try:
            target = _inside(folder, entry.path)
        except ArtifactsError as error:
            problems.append(str(error))
            continue
        if not target.is_file():
            problems.append(f"{entry.path}: missing (listed in {MANIFEST_NAME})")
            continue
        digest, size = hash_file(target)
        if digest != entry.keccak256:
            problems.append(f"{entry.path}: keccak256 is {digest}, but {MANIFEST_NAME} says {entry.keccak256}")
        if size != entry.size_bytes:
            problems.append(f"{entry.path}: {size} bytes, but {MANIFEST_NAME} says {entry.size_bytes}")
    listed = set(manifest.by_path())
    for relative in _folder_files(folder):
        if relative not in listed:
            problems.append(f"{relative}: not listed in {MANIFEST_NAME}")
    return problems
