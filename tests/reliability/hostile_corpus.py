"""A generated corpus of hostile prediction files, each with the exact outcome the protocol asks for.

Every case is raw bytes plus the expected verdict: `rule` is the `tournament.protocol.submissions` rule name of
an INVALID file ("binary", "not_finite", ...) or "" for a file that is valid by the protocol
("every live id present exactly once, extra ids ignored, every prediction a finite number in
[0, 1], not all equal"). Some hostile-looking files are valid on purpose: negative zero,
1e-320 and scientific notation are finite numbers in [0, 1]; surrounding whitespace is trimmed
from every field; formula-looking text in an ignored extra id changes nothing. `why` says why the
verdict is the right one. The corpus is deterministic (fixed seeds) and small except for the
few cases whose point is size (`huge_line`, `oversized`, `row_flood`); `build(live_ids)` makes
them for any live ids, so the same files go through `tournament validate`, the submission API
and the operator's `collect`.
"""
from __future__ import annotations

import functools
import gzip
import io
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from tournament.protocol.submissions import MAX_SUBMISSION_BYTES

VALID = ""


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    rule: str          # "" = valid by the protocol; otherwise the validator's rule name
    why: str

    @property
    def valid(self) -> bool:
        return self.rule == VALID


def _values(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.05, 0.95, n)


def _csv(rows, header: str = "id,prediction", newline: str = "\n") -> bytes:
    return (header + newline + "".join(f"{i},{p}{newline}" for i, p in rows)).encode()


def _parquet(columns: dict) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


@functools.lru_cache(maxsize=1)
def _gzip_bomb(inflated_mib: int = 64) -> bytes:
    """A gzip member that inflates to `inflated_mib` MiB of a CSV header plus zeros (~65 kB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)   # wbits 31: gzip framing
    chunk = b"0" * (1 << 20)
    parts = [packer.compress(b"id,prediction\n")] + [packer.compress(chunk) for _ in range(inflated_mib)]
    return b"".join(parts + [packer.flush()])


def build(live_ids, *, seed: int = 0, max_bytes: int = MAX_SUBMISSION_BYTES) -> list[Case]:
    """Every hostile case for these live ids (at least 5 ids; the first ones get the poison)."""
    ids = [str(i) for i in live_ids]
    n = len(ids)
    assert n >= 5
    vals = _values(n, seed)
    good = [(i, repr(float(v))) for i, v in zip(ids, vals)]
    good_text = _csv(good).decode()

    def poison(text: str, at: int = 1) -> bytes:
        rows = list(good)
        rows[at] = (rows[at][0], text)
        return _csv(rows)

    cases: list[Case] = []

    def add(name: str, raw: bytes, rule: str, why: str) -> None:
        cases.append(Case(name, raw, rule, why))

    # ---- baselines: the harmless form, so a broken validator cannot pass by refusing everything
    add("plain_valid", _csv(good), VALID, "the reference file: every id once, numbers in (0, 1)")
    add("parquet_valid", _parquet({"id": ids, "prediction": vals}), VALID, "the same table as Parquet")

    # ---- encodings
    add("utf16_bom", good_text.encode("utf-16"), "binary",
        "UTF-16 has NUL bytes: neither UTF-8 CSV nor Parquet, refused rather than guessed")
    add("utf8_bom", b"\xef\xbb\xbf" + _csv(good), VALID,
        "a UTF-8 byte order mark (Excel's export) is not part of the header; the table is intact")
    add("latin1_byte", _csv([(ids[0] + "\xe9", "0.5")] + good[1:]).decode().encode("latin-1"), "binary",
        "a Latin-1 byte is not UTF-8: the file cannot be read as text")
    add("nul_byte", _csv(good)[:20] + b"\x00" + _csv(good)[20:], "binary", "NUL bytes mean binary data")
    add("cyrillic_homoglyph_id", _csv([(ids[0].replace("n", "\u043f", 1) if "n" in ids[0] else "\u043f" + ids[0],
                                        good[0][1])] + good[1:]), "missing_ids",
        "an id with a look-alike Cyrillic letter is another id: the real one is missing")
    add("zero_width_space_id", _csv([("\u200b" + ids[0], good[0][1])] + good[1:]), "missing_ids",
        "U+200B is not whitespace, so it is not trimmed: the id differs and the live id is missing")

    # ---- size
    add("huge_line", poison("0." + "5" * (5 * 1024 * 1024)), "not_a_table",
        "a 5 MiB field is beyond the CSV reader's field limit: refused without parsing it as a number")
    add("oversized", b"id,prediction\n" + b"x,0.5\n" * (max_bytes // 6 + 1), "too_large",
        "more bytes than the limit: refused before reading")
    flood = good + [(f"extra{k}", "0.5") for k in range(200_000)]
    add("row_flood", _csv(flood), VALID,
        "200,000 extra rows for unknown ids are ignored (the protocol ignores extra ids); it stays fast")
    add("long_extra_id", _csv(good + [("x" * 100_000, "0.5")]), VALID,
        "a 100,000-character extra id is just another ignored id")
    add("many_columns", (",".join(["id", "prediction"] + [f"c{k}" for k in range(50_000)]) + "\n").encode()
        + b"\n".join(f"{i},{p}".encode() + b"," * 50_000 for i, p in good[:3]) + b"\n",
        "wrong_columns", "50,000 columns: only id and prediction are allowed")

    # ---- compression and archives (never inflated: the bytes are judged as they are)
    bomb = _gzip_bomb()
    add("gzip_bomb", bomb, "binary", f"{len(bomb):,} bytes that would inflate to 64 MiB: never decompressed, "
        "refused as binary")
    add("gzip_valid_table", gzip.compress(_csv(good)), "binary",
        "even a gzip of a valid table is refused: the commitment is to the bytes, which are not a table")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("predictions.csv", _csv(good))
    add("zip_archive", zipped.getvalue(), "binary", "a zip archive is binary data")
    add("parquet_magic_garbage", b"PAR1" + b"\xff" * 200 + b"PAR1", "not_a_table",
        "starts and ends like Parquet but is not readable")
    add("parquet_string_predictions", _parquet({"id": ids, "prediction": [str(v) for v in vals]}),
        "not_a_number", "Parquet predictions must be a numeric column, not text")
    add("parquet_int_ids", _parquet({"id": list(range(n)), "prediction": vals}), "wrong_columns",
        "Parquet ids must be strings exactly as published")
    add("parquet_nan", _parquet({"id": ids, "prediction": np.where(np.arange(n) == 2, np.nan, vals)}),
        "not_finite", "a NaN stored as a Parquet double is still NaN")

    # ---- formula (CSV) injection
    add("formula_prediction", poison("=1+1"), "not_finite",
        "'=1+1' is a spreadsheet formula, not a number: it is never evaluated")
    add("formula_dde_prediction", poison("+cmd|' /C calc'!A0"), "not_finite",
        "a DDE payload is text, not a number")
    add("formula_extra_id", _csv(good) + b'"=HYPERLINK(""http://x"",""y"")",0.5\n', VALID,
        "a formula in an extra id is an ignored unknown id (the file is stored as uploaded, never rendered)")

    # ---- NaN and infinity spellings, and things that are not numbers
    for name, text in [("nan_lower", "nan"), ("nan_mixed", "NaN"), ("nan_negative", "-nan"),
                       ("inf_text", "inf"), ("infinity_negative", "-Infinity"), ("empty_prediction", ""),
                       ("null_word", "null"), ("none_word", "None"), ("na_text", "N/A"),
                       ("overflow_1e309", "1e309"), ("hex_float", "0x1p-1"), ("comma_decimal", '"0,5"'),
                       ("percent", "50%"), ("bool_word", "True"), ("trailing_garbage", "0.5abc")]:
        add(name, poison(text), "not_finite", f"{text!r} is not a finite number")

    # ---- numbers that are fine
    add("negative_zero", poison("-0.0"), VALID, "-0.0 is a finite number equal to 0, inside [0, 1]")
    add("subnormal_1e-320", poison("1e-320"), VALID, "1e-320 is a finite (subnormal) number inside [0, 1]")
    sci = list(good)
    sci[1], sci[2] = (ids[1], "5E-1"), (ids[2], "1e0")
    add("scientific_notation", _csv(sci), VALID, "5E-1 and 1e0 are 0.5 and 1.0 in scientific notation")
    add("plus_sign", poison("+0.25"), VALID, "+0.25 is 0.25")
    add("unicode_digits", poison("\u0660.\u0665"), VALID,
        "Arabic-Indic digits: Python's float() (the validator, the operator and the auditor alike) reads 0.5; "
        "flagged to the lead as a spelling the protocol text does not pin down")
    add("underscore_digits", poison("0.2_5"), VALID,
        "Python's float() reads '0.2_5' as 0.25; same note as unicode_digits")

    # ---- out of range
    add("above_one", poison("1.0000001"), "out_of_range", "1.0000001 > 1")
    add("negative_subnormal", poison("-1e-320"), "out_of_range",
        "-1e-320 is below 0, unlike negative zero")
    add("percent_scale", _csv([(i, repr(float(v) * 100)) for i, v in zip(ids, vals)]), "out_of_range",
        "predictions on a 0-100 scale")

    # ---- header and table shape
    add("duplicate_header_prediction", _csv([(i, f"{p},{p}") for i, p in good], header="id,prediction,prediction"),
        "wrong_columns", "a repeated prediction column is ambiguous")
    add("duplicate_header_id", _csv([(i, f"{i},{p}") for i, p in good], header="id,id,prediction"),
        "wrong_columns", "a repeated id column is ambiguous")
    add("header_case", _csv(good, header="ID,Prediction"), "wrong_columns", "column names are exact: id,prediction")
    add("swapped_columns", _csv([(p, i) for i, p in good], header="prediction,id"), VALID,
        "columns are found by name, in any order")
    add("extra_column", _csv([(i, f"{p},1") for i, p in good], header="id,prediction,era"), "wrong_columns",
        "exactly the two columns id and prediction")
    add("semicolon_delimiter", _csv(good).replace(b",", b";"), "wrong_columns",
        "with ';' the header is one column 'id;prediction'")
    add("tab_delimiter", _csv(good).replace(b",", b"\t"), "wrong_columns", "with tabs the header is one column")
    add("ragged_row", _csv(good[:2] + [(good[2][0], good[2][1] + ",0.1")] + good[3:]), "not_a_table",
        "a row with three fields under a two-column header")
    add("unterminated_quote", _csv(good) + b'"' + ids[0].encode() + b",0.5\n", "not_a_table",
        "an unterminated quoted field cannot be read as CSV")
    add("crlf_line_endings", _csv(good, newline="\r\n"), VALID, "Windows line endings are CSV")
    add("cr_only_line_endings", _csv(good, newline="\r"), VALID, "old Mac line endings are CSV line breaks too")
    add("quoted_fields", ("id,prediction\n" + "".join(f'"{i}","{p}"\n' for i, p in good)).encode(), VALID,
        "quoted fields are plain CSV")
    add("ids_padded_with_spaces", _csv([(f"  {i}\t", f" {p} ") for i, p in good]), VALID,
        "whitespace around fields is trimmed (the same in validate, collect and the audit)")
    add("id_inner_space", _csv([(ids[0][:1] + " " + ids[0][1:], good[0][1])] + good[1:]), "missing_ids",
        "a space inside an id makes another id: the live one is missing")
    add("html_page", b"<html><body>404 Not Found</body></html>\n", "wrong_columns",
        "an HTML error page saved as the file")
    add("json_table", ('[' + ",".join(f'{{"id":"{i}","prediction":{p}}}' for i, p in good) + ']').encode(),
        "not_a_table", "JSON is not CSV: its quoting breaks the CSV reader")

    # ---- content rules
    add("empty_file", b"", "empty", "zero bytes")
    add("whitespace_only", b"\n\n   \n", "empty", "no header line")
    add("header_only", b"id,prediction\n", "empty", "no rows")
    add("duplicate_id", _csv(good + [good[0]]), "duplicate_ids", "an id twice")
    add("missing_id", _csv(good[1:]), "missing_ids", "a live id without a prediction")
    add("constant", _csv([(i, "0.5") for i in ids]), "constant", "a constant has no ranking")
    add("only_extra_ids", _csv([(f"x{k}", "0.5") for k in range(n)]), "missing_ids", "none of the live ids")
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases
