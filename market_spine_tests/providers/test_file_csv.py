"""Vendor CSV dialects: blank lines are not bars, BOM / CRLF / quoted headers need nothing, `;`,
tab and decimal commas need the option that says so, and a wrong guess is a clear error."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from market_spine.errors import InvalidInput
from market_spine.providers.file import read_bars
from market_spine.providers.file_csv import CsvDialect
from market_spine.providers.file_formats import FileImportError
from market_spine_tests.kit.homes import DATA

DIALECTS = DATA / "dialects"
BASELINE = DIALECTS / "es_3bars_no_blank.csv"
SEMI = CsvDialect.of(";", ",")


def _bars(path: Path, dialect: CsvDialect | None = None) -> pl.DataFrame:
    return read_bars(path, "ES", dialect=dialect).bars


def test_trailing_blank_line_is_not_a_bar() -> None:
    path = DIALECTS / "es_3bars_trailing_blank.csv"
    fb = read_bars(path, "ES")
    assert fb.bars.equals(_bars(BASELINE))
    assert fb.bars.height == 3 and fb.bars["ts"][0] == datetime(2024, 3, 7, 23, tzinfo=UTC)
    (skip,) = fb.skips
    assert (skip.rows, skip.label, skip.first) == (1, "line", (5,))
    assert "no values" in skip.reason
    # The libraries the file comes from agree: three records.
    assert len(pd.read_csv(path)) == 3
    assert len(list(csv.DictReader(io.StringIO(path.read_text())))) == 3


@pytest.mark.parametrize(
    ("name", "dialect", "blank_lines"),
    [
        ("es_3bars_bom_crlf_quoted.csv", None, (3, 6)),
        ("es_3bars_semicolon_decimal_comma.csv", SEMI, (3, 5, 7)),
        ("es_3bars_tab.txt", CsvDialect.of("tab"), (3, 5)),
    ],
)
def test_dialects_read_as_the_baseline(
    name: str, dialect: CsvDialect | None, blank_lines: tuple[int, ...]
) -> None:
    fb = read_bars(DIALECTS / name, "ES", dialect=dialect)
    assert fb.bars.equals(_bars(BASELINE))
    (skip,) = fb.skips
    assert skip.first == blank_lines and skip.rows == len(blank_lines)
    request = fb.captures()[0][1].request
    assert request["csv"] == (dialect or CsvDialect()).describe()


def test_line_numbers_count_the_blank_lines(tmp_path: Path) -> None:
    # Bar m sits on line 4 + 3m, after an empty line and a whitespace-only line.
    many = "".join(f"\n\n  \n2024-03-07T23:{m:02d}:00Z,5150,5151,5149,5150,{m}" for m in range(8))
    path = tmp_path / "es.csv"
    path.write_text("ts,open,high,low,close,volume" + many + "\n")
    fb = read_bars(path, "ES")
    assert fb.bars.height == 8
    (skip,) = fb.skips
    assert skip.rows == 16 and skip.first == (2, 3, 5, 6, 8) and "..." in str(skip)
    path.write_text(path.read_text().replace("23:06:00Z,5150,5151", "23:06:00Z,5150,abc"))
    with pytest.raises(FileImportError, match=r"line 22: high 'abc' does not parse"):
        read_bars(path, "ES")


@pytest.mark.parametrize(
    ("name", "dialect", "message"),
    [
        (
            "es_3bars_semicolon_decimal_comma.csv",
            None,
            "the header is one column 'ts;open;high;low;close;volume': the values look "
            "separated by ';', not ','; pass --separator ';' (and --decimal ','",
        ),
        (
            "es_3bars_semicolon_decimal_comma.csv",
            CsvDialect.of(";"),
            "line 2: open '5150,00' does not parse as open; '5150,00' looks like a decimal comma: "
            "pass --decimal ','",
        ),
        (
            "es_3bars_no_blank.csv",
            CsvDialect.of(";"),
            "the values look separated by ',', not ';'; pass --separator ','",
        ),
        (
            "es_3bars_tab.txt",
            None,
            "the values look separated by tab, not ','; pass --separator tab",
        ),
        (
            "es_ragged_after_blank.csv",
            None,
            "line 5 has 7 value(s) where the header has 6",
        ),
    ],
)
def test_wrong_dialect_is_a_clear_error(
    name: str, dialect: CsvDialect | None, message: str
) -> None:
    with pytest.raises(FileImportError) as err:
        read_bars(DIALECTS / name, "ES", dialect=dialect)
    text = str(err.value)
    assert text.startswith(name) and message in text and "nothing was imported" in text


def test_decimal_commas_under_comma_separator_point_at_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n2024-03-07T23:00:00Z,5150,25,5151,5149,5150,9\n"
    )
    with pytest.raises(FileImportError, match="decimal commas: quote such values"):
        read_bars(path, "ES")
    quoted = '2024-03-07T23:00:00Z,"5150,25","5151,5","5149,75","5150",9\n'
    path.write_text("ts,open,high,low,close,volume\n" + quoted)
    bars = read_bars(path, "ES", dialect=CsvDialect.of(",", ",")).bars
    assert (bars["open"][0], bars["high"][0], bars["low"][0]) == (5150.25, 5151.5, 5149.75)


def test_quoted_value_across_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "split.csv"
    path.write_text('ts,open,high,low,close,volume\n2024-03-07T23:00:00Z,"51\n50",1,1,1,1\n')
    with pytest.raises(FileImportError, match="line 2: a quoted value spans several lines"):
        read_bars(path, "ES")


def test_dialect_options_are_checked() -> None:
    with pytest.raises(InvalidInput, match="--separator ':' is not one of"):
        CsvDialect.of(":")
    with pytest.raises(InvalidInput, match=r"--decimal ';' is not \. or ,"):
        CsvDialect.of(",", ";")
    assert CsvDialect.of("\\t") == CsvDialect.of("TAB") == CsvDialect("\t", ".")
    dbn = DATA / "glbx-es-nq_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst"
    with pytest.raises(FileImportError, match="--separator and --decimal apply to CSV only"):
        read_bars(dbn, "ES", dialect=SEMI)
