"""One reader for live ids and targets (CSV and Parquet, one set of rules), and the one NMR formatter."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from tournament.protocol.constants import Phase, Status
from tournament.protocol.tables import ConstantTargetsError, TablesError, read_live_ids, read_targets
from tournament.protocol.units import NmrAmountError, format_nmr, format_time, parse_nmr

IDS = ["a", "b", "c"]


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_csv_and_parquet_read_the_same():
    frame = pd.DataFrame({"id": ["c", "a", "b", "zz"], "target": [1.0, 0.25, 0.0, 0.5]})
    from_csv = read_targets(frame.to_csv(index=False).encode(), IDS)
    from_parquet = read_targets(_parquet(frame), IDS)
    assert from_csv.tolist() == from_parquet.tolist() == [0.25, 0.0, 1.0]   # aligned to the live ids
    assert read_live_ids(b"id,era\n a ,1\nb,1\n") == read_live_ids(_parquet(pd.DataFrame({"id": ["a", "b"]})))


@pytest.mark.parametrize("raw, words", [
    (b"id,target\na,1\nb,0\na,0.5\nc,0\n", "id a appears more than once"),
    (b"ident,target\na,1\n", "no column 'id'"),
    (b"id,target\na,1\nb,inf\nc,0\n", "not a finite number"),
    (b"id,target\na,1\nb,0.3\nc,0\n", "is not one of 0, 0.25, 0.5, 0.75, 1"),
    (b"id,target\na,1\nb,x\nc,0\n", "is not a number"),
    (b"id,target\na,1\nb,0\n", "1 live id(s) have no target (first: c)"),
    (b"", "the file is empty"),
    (b"\x00\x01binary", "binary data"),
    (b"PAR1garbage", "starts like Parquet but cannot be read"),
])
def test_targets_errors_are_one_clear_line(raw, words):
    with pytest.raises(TablesError) as caught:
        read_targets(raw, IDS)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("targets.csv: ")


def test_constant_targets_are_their_own_error():
    with pytest.raises(ConstantTargetsError, match="same target"):
        read_targets(b"id,target\na,0.5\nb,0.5\nc,0.5\nd,1\n", IDS)


@pytest.mark.parametrize("raw, words", [
    (b"id\na\nb\na\n", "appears more than once"),
    (b"id\na\n", "at least two live ids"),
    (b"name\na\nb\n", "no column 'id'"),
    (b"id,x\na,1\n,2\n", "row 2 has an empty id"),
])
def test_live_ids_errors(raw, words):
    with pytest.raises(TablesError, match=words):
        read_live_ids(raw)
    assert read_live_ids(b"id\nx\ny\n") == ["x", "y"]


def test_parquet_ids_must_be_text():
    with pytest.raises(TablesError, match="is not text"):
        read_live_ids(_parquet(pd.DataFrame({"id": np.arange(3)})))


def test_nmr_amounts_are_exact_and_one_formatter_serves_everyone():
    assert parse_nmr("12.5") == 12_500_000_000_000_000_000 and parse_nmr("1_000 NMR") == 1000 * 10**18
    assert format_nmr(parse_nmr("0.000000000000000001")) == "0.000000000000000001"
    assert format_nmr(-3 * 10**18 // 2) == "-1.5" and format_nmr(0) == "0" and format_nmr(None) == "-"
    assert format_nmr(10**18 // 3, 4) == "0.3333"
    for bad in ("-1", "1e3", "1.0000000000000000001", "abc"):
        with pytest.raises(NmrAmountError):
            parse_nmr(bad)
    assert format_time(0) == "1970-01-01 00:00 UTC"
    from tournament.participant.client import ParticipantError
    from tournament.participant.client import format_nmr as client_format_nmr
    from tournament.participant.client import parse_nmr as client_parse_nmr
    assert client_format_nmr is format_nmr and client_parse_nmr("2") == 2 * 10**18
    with pytest.raises(ParticipantError, match="negative"):
        client_parse_nmr("-2")


def test_phases_and_statuses_follow_the_contract():
    assert [p.label for p in Phase] == ["None", "Open", "Closed", "Resolvable", "Proposed", "Accepted",
                                        "Refunding", "Settled"]
    assert Phase(3) is Phase.RESOLVABLE and Phase.from_label("settled") is Phase.SETTLED
    with pytest.raises(ValueError, match="unknown phase"):
        Phase.from_label("Done")
    assert (Status.SCORED, Status.INVALID) == (1, 2)
