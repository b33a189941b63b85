"""Submission files: every protocol rule gives a clear message, never a traceback."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from eth_utils import keccak

from tournament.protocol.submissions import (
    ValidationResult,
    read_predictions,
    submission_hash,
    validate_file,
    validate_predictions,
)

LIVE = np.array([f"n{k:015x}" for k in range(1, 11)], dtype=object)


def csv_bytes(rows, header="id,prediction") -> bytes:
    return (header + "\n" + "".join(f"{i},{p}\n" for i, p in rows)).encode()


def good_rows():
    return [(i, (k + 1) / 20) for k, i in enumerate(LIVE)]


def check_invalid(raw: bytes, rule: str, *must_contain: str, name="preds.csv") -> ValidationResult:
    result = validate_predictions(raw, LIVE, name=name)
    assert not result.valid
    assert result.predictions is None          # never a partial result
    assert result.rule == rule, result.message
    assert result.message.startswith(f"{name}: ")
    for text in must_contain:
        assert text in result.message, result.message
    return result


def test_a_valid_csv_is_aligned_to_the_live_ids_whatever_its_row_order():
    rows = good_rows()[::-1]
    result = validate_predictions(csv_bytes(rows), LIVE, name="p.csv")
    assert result.valid and result.message == ""
    np.testing.assert_array_equal(result.predictions, [(k + 1) / 20 for k in range(10)])


def test_extra_ids_are_ignored_even_when_their_values_are_bad():
    rows = good_rows() + [("stranger", "nan"), ("stranger", 7), ("other", -1)]
    result = validate_predictions(csv_bytes(rows), LIVE, name="p.csv")
    assert result.valid
    assert len(result.predictions) == len(LIVE)


def test_a_valid_parquet_with_id_as_index_or_column():
    frame = pd.DataFrame({"id": LIVE, "prediction": np.linspace(0, 1, 10)})
    for table in (frame, frame.set_index("id")):
        buf = io.BytesIO()
        table.to_parquet(buf)
        result = validate_predictions(buf.getvalue(), LIVE, name="p.parquet")
        assert result.valid, result.message
        np.testing.assert_array_equal(result.predictions, np.linspace(0, 1, 10))


def test_submission_hash_is_keccak256_of_the_raw_bytes():
    raw = csv_bytes(good_rows())
    assert submission_hash(raw) == keccak(raw)
    assert submission_hash(b"") == bytes.fromhex(
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    assert validate_predictions(raw, LIVE, name="p.csv").submission_hash == keccak(raw)
    # invalid files still carry their hash: the commitment check needs it
    assert validate_predictions(b"junk", LIVE, name="p.csv").submission_hash == keccak(b"junk")


def test_missing_ids_name_the_count_and_the_first_missing_id():
    check_invalid(csv_bytes(good_rows()[2:]), "missing_ids", "2 id(s) missing",
                  f"first: {LIVE[0]}", "every live id must have a prediction")


def test_duplicate_ids_name_the_id_and_both_lines():
    rows = good_rows() + [(LIVE[3], 0.5)]
    check_invalid(csv_bytes(rows), "duplicate_ids", "1 id(s) appear more than once",
                  str(LIVE[3]), "lines 5 and 12")


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "", "abc", "0.5.1"])
def test_non_finite_or_non_numeric_predictions_are_invalid(bad):
    rows = good_rows()
    rows[4] = (rows[4][0], bad)
    check_invalid(csv_bytes(rows), "not_finite", "not finite", "line 6", str(LIVE[4]))


@pytest.mark.parametrize("bad", ["1.0000001", "-0.0001", "2", "1e3"])
def test_predictions_outside_zero_one_are_invalid(bad):
    rows = good_rows()
    rows[7] = (rows[7][0], bad)
    check_invalid(csv_bytes(rows), "out_of_range", "outside [0, 1]", "line 9", "rescale")


def test_the_bounds_zero_and_one_are_valid():
    rows = good_rows()
    rows[0], rows[1] = (rows[0][0], 0), (rows[1][0], 1)
    assert validate_predictions(csv_bytes(rows), LIVE, name="p.csv").valid


def test_constant_predictions_are_invalid():
    check_invalid(csv_bytes([(i, 0.5) for i in LIVE]), "constant", "all 10 predictions are equal")


@pytest.mark.parametrize("header", ["id,pred", "id", "id,prediction,extra", "ID,prediction",
                                    "prediction"])
def test_wrong_columns_are_invalid(header):
    rows = [(i, p) for i, p in good_rows()]
    body = "".join(f"{i},{p}{',x' if header.count(',') == 2 else ''}\n" for i, p in rows)
    check_invalid((header + "\n" + body).encode(), "wrong_columns", "not id,prediction")


def test_columns_in_the_other_order_are_fine():
    body = "prediction,id\n" + "".join(f"{p},{i}\n" for i, p in good_rows())
    assert validate_predictions(body.encode(), LIVE, name="p.csv").valid


def test_ragged_rows_are_not_a_table():
    raw = csv_bytes(good_rows()) + b"n1,0.5,7\n"
    check_invalid(raw, "not_a_table", "line 12 has 3 fields")


def test_empty_file_header_only_and_blank_text():
    check_invalid(b"", "empty", "the file is empty")
    check_invalid(b"id,prediction\n", "empty", "no rows")
    check_invalid(b"\n\n", "empty", "no header")


@pytest.mark.parametrize("raw", [bytes(range(256)) * 4, b"\x89PNG\r\n\x1a\n\x00\x00",
                                 b"PK\x03\x04\x14\x00\x00\x00", "é".encode("latin-1") * 5])
def test_binary_garbage_is_invalid(raw):
    check_invalid(raw, "binary", "neither CSV nor Parquet")


def test_corrupt_parquet_is_invalid():
    buf = io.BytesIO()
    pd.DataFrame({"id": LIVE, "prediction": np.linspace(0, 1, 10)}).to_parquet(buf)
    check_invalid(buf.getvalue()[:200] + b"PAR1", "not_a_table", "cannot be read", name="p.parquet")


def test_parquet_with_text_predictions_or_numeric_ids_is_invalid():
    buf = io.BytesIO()
    pd.DataFrame({"id": LIVE, "prediction": ["0.5"] * 10}).to_parquet(buf)
    check_invalid(buf.getvalue(), "not_a_number", "column prediction has type")
    buf = io.BytesIO()
    pd.DataFrame({"id": range(10), "prediction": np.linspace(0, 1, 10)}).to_parquet(buf)
    check_invalid(buf.getvalue(), "wrong_columns", "column id has type")


def test_files_over_the_size_limit_are_invalid_without_parsing():
    raw = csv_bytes(good_rows())
    result = validate_predictions(raw, LIVE, name="big.csv", max_bytes=len(raw) - 1)
    assert not result.valid and result.rule == "too_large" and "more than the" in result.message


def test_missing_file_and_oversized_file_on_disk(tmp_path):
    result = validate_file(tmp_path / "nope.csv", LIVE)
    assert not result.valid and result.rule == "missing" and result.message.startswith("nope.csv:")
    big = tmp_path / "big.csv"
    big.write_bytes(csv_bytes(good_rows()))
    assert validate_file(big, LIVE, max_bytes=10).rule == "too_large"
    assert validate_file(big, LIVE).valid


def test_read_predictions_parses_a_path(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(csv_bytes(good_rows()))
    table = read_predictions(path)
    assert list(table.ids) == list(LIVE) and table.values[0] == 0.05


@pytest.mark.parametrize("seed", range(30))
def test_random_bytes_never_raise(seed):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=int(rng.integers(1, 400)), dtype=np.uint8).tobytes()
    if seed % 3 == 0:
        raw = b"id,prediction\n" + raw      # garbage that starts like a CSV
    if seed % 3 == 1:
        raw = b"PAR1" + raw
    result = validate_predictions(raw, LIVE, name="fuzz.csv")
    assert not result.valid and result.message.startswith("fuzz.csv: ")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tournament", *args], capture_output=True, text=True)


def test_validate_command_exit_codes_and_stderr(tmp_path):
    live_ids = tmp_path / "live_ids.csv"
    pd.Series(LIVE, name="id").to_csv(live_ids, index=False)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(csv_bytes(good_rows()))
    bad.write_bytes(csv_bytes(good_rows()[1:]))
    ok = _cli("validate", str(good), "--live-ids", str(live_ids))
    assert ok.returncode == 0 and "valid" in ok.stdout and "0x" + keccak(good.read_bytes()).hex() in ok.stdout
    ko = _cli("validate", str(bad), "--live-ids", str(live_ids))
    assert ko.returncode == 1 and "bad.csv: 1 id(s) missing" in ko.stderr and "Traceback" not in ko.stderr
    gone = _cli("validate", str(tmp_path / "gone.csv"), "--live-ids", str(live_ids))
    assert gone.returncode == 1 and "gone.csv: cannot read the file" in gone.stderr
