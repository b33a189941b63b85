"""`tournament audit --receipts DIR --targets-source URL_OR_FILE`: the local inputs, read before any RPC call.

A bad receipts folder or an unreadable targets source is one line and exit code 2, never a
traceback; the readers accept a receipt per file, a list, or {"receipts": [...]}.
"""
from __future__ import annotations

import json

from click.testing import CliRunner
from pure_round import build_pure_round

from tournament.auditor.readers import read_receipts_dir, read_targets_source
from tournament.cli.main import main

UNREACHABLE_RPC = "http://127.0.0.1:9"   # nothing listens on the discard port: no chain is needed here


def _audit(*extra):
    return CliRunner().invoke(main, ["audit", "--round", "1", "--rpc", UNREACHABLE_RPC, "--artifacts", ".",
                                     *extra])


def test_a_missing_receipts_folder_is_one_line_and_exit_2(tmp_path):
    result = _audit("--receipts", str(tmp_path / "nope"))
    assert result.exit_code == 2 and "receipts folder" in result.output and "Traceback" not in result.output


def test_a_bad_receipt_file_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "mine.json").write_text("{not json")
    result = _audit("--receipts", str(tmp_path))
    assert result.exit_code == 2 and "mine.json: not JSON" in result.output


def test_a_missing_targets_source_is_exit_2(tmp_path):
    result = _audit("--targets-source", str(tmp_path / "targets.csv"))
    assert result.exit_code == 2 and "targets.csv" in result.output


def test_receipts_folders_and_targets_files_are_read_in_every_shape(tmp_path):
    pure = build_pure_round()
    items = [r.to_json() for r in pure.receipts.values()]
    (tmp_path / "one.json").write_text(json.dumps(items[0]))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "list.json").write_text(json.dumps(items[1:3]))
    (tmp_path / "wrapped.json").write_text(json.dumps({"receipts": items[3:]}))
    found = read_receipts_dir(str(tmp_path))
    assert sorted(r.sort_key() for r in found) == sorted(r.sort_key() for r in pure.receipts.values())
    (tmp_path / "targets.csv").write_bytes(pure.inputs.targets_raw)
    assert read_targets_source(str(tmp_path / "targets.csv")) == pure.inputs.targets_raw
