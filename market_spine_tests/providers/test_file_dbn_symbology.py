"""DBN files requested by continuous or parent symbol. A calendar continuous file (ES.c.0) has its
instrument ids resolved to the contracts by expiry and imports onto the continuous series; a
volume continuous (ES.v.0) or parent (ES.FUT) file that does not name contracts is refused with
a request whose file imports — the test makes that file and imports it — and any of them imports
when live symbol mapping records name each contract.

The files are the real ES records of the GLBX ohlcv-1m fixture under another metadata header,
as Databento writes them for each request.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import databento_dbn as dbn
import polars as pl
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.cli.importing import EXIT_FAILED_CHECKS
from market_spine.errors import UnknownSymbol
from market_spine.lake import Lake
from market_spine.providers.file import off_front_note, read_bars
from market_spine.providers.file_formats import FileImportError, calendar_contract, group_symbol
from market_spine_tests.kit.homes import DATA

REAL = DATA / "glbx-es-nq_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst"
ESU4_ID = 118  # the instrument id of ESU4 in the real file
runner = CliRunner()


def _real() -> tuple[dbn.Metadata, list[dbn.OHLCVMsg]]:
    data = pa.CompressedInputStream(pa.BufferReader(REAL.read_bytes()), "zstd").read()
    decoder = dbn.DBNDecoder()
    decoder.write(data)
    meta, *records = decoder.decode()
    return meta, [r for r in records if r.instrument_id == ESU4_ID]


def _write(
    path: Path,
    stype_in: dbn.SType,
    symbol: str,
    mapped: bool = True,
    stream: list[object] | None = None,
) -> Path:
    """The real ES bars as a request for `symbol` under `stype_in` returns them: the metadata
    maps `symbol` to ESU4's instrument id (historical), or `stream` records name it (live)."""
    meta, bars = _real()
    interval = SimpleNamespace(
        start_date=date(2024, 7, 1), end_date=date(2024, 7, 3), symbol=str(ESU4_ID)
    )
    header = dbn.Metadata(
        dataset=meta.dataset,
        schema=meta.schema,
        start=meta.start,
        end=meta.end,
        stype_in=stype_in,
        stype_out=meta.stype_out,
        symbols=[symbol],
        mappings=[SimpleNamespace(raw_symbol=symbol, intervals=[interval])] if mapped else [],
    )
    path.write_bytes(header.encode() + b"".join(bytes(r) for r in [*(stream or []), *bars]))
    return path


def _cli(path: Path, symbol: str) -> tuple[int, str]:
    result = runner.invoke(app, ["import", "bars", str(path), "--symbol", symbol])
    return result.exit_code, " ".join(result.output.split())


def test_a_calendar_continuous_file_maps_onto_its_contracts_and_the_series(
    env_home: Path, tmp_path: Path
) -> None:
    continuous = _write(tmp_path / "es_c0.dbn", dbn.SType.CONTINUOUS, "ES.c.0")
    code, output = _cli(continuous, "ES.c.0")
    # Imported: 30 minutes of a session leave it FAILED by completeness, which exit 3 says.
    assert code == EXIT_FAILED_CHECKS, output
    assert "30 bars" in output and "ESU4" in output
    lake = Lake(env_home / "lake")
    normalized = lake.read("normalized/futures_bars_1m")
    assert normalized.height == 30 and set(normalized["contract"]) == {"ESU4"}
    series = lake.read("normalized/futures_continuous_1m")
    c0 = series.filter(pl.col("series") == "ES.c.0")
    assert c0.height == 30 and set(c0["contract"]) == {"ESU4"}
    assert c0["close"].to_list() == normalized["close"].to_list()
    # The same bars by raw symbol read the same.
    assert read_bars(continuous, "ES").bars.equals(read_bars(REAL, "ES").bars)


def test_rank_one_of_a_calendar_continuous_file_is_the_next_expiry(tmp_path: Path) -> None:
    second = _write(tmp_path / "es_c1.dbn", dbn.SType.CONTINUOUS, "ES.c.1")
    assert set(read_bars(second, "ES.c.1").bars["contract"]) == {"ESZ4"}


def test_a_volume_continuous_file_is_refused_with_a_request_that_imports(
    env_home: Path, tmp_path: Path
) -> None:
    continuous = _write(tmp_path / "es_v0.dbn", dbn.SType.CONTINUOUS, "ES.v.0")
    code, output = _cli(continuous, "ES.v.0")
    assert code == 2 and "nothing was imported" in output and "instrument ids (118 on" in output
    asked = re.search(
        r"stype_in=(\w+) and symbols=(\S+) .* import that file with --symbol (\S+)", output
    )
    assert asked, output
    stype, symbols, symbol = asked.groups()
    assert (stype, symbols, symbol) == ("raw_symbol", "ESU4", "ES")
    assert not (env_home / "lake").exists()
    # The real fixture is such a request (raw symbols ESU4 and NQU4): the symbol is one Databento
    # resolves. The file that request returns for ESU4 alone imports.
    assert symbols in _real()[0].symbols
    requested = _write(tmp_path / "esu4.dbn", dbn.SType.RAW_SYMBOL, symbols)
    code, output = _cli(requested, symbol)
    assert code == EXIT_FAILED_CHECKS, output
    assert "30 bars" in output and "ESU4" in output
    normalized = Lake(env_home / "lake").read("normalized/futures_bars_1m")
    assert normalized.height == 30 and set(normalized["contract"]) == {"ESU4"}
    assert read_bars(requested, "ES").bars.equals(read_bars(REAL, "ES").bars)


def test_sessions_held_past_our_roll_are_named_with_the_file_to_add() -> None:
    # ES rolls to Z4 on 2024-09-12 by our rule; Databento's ES.c.0 holds U4 until it expires.
    frame = pl.DataFrame(
        {
            "trade_date": [date(2024, 9, 11), date(2024, 9, 12), date(2024, 9, 13)],
            "contract": ["ESU4", "ESU4", "ESU4"],
        }
    )
    [note] = off_front_note(frame, "ES")
    assert "2 session(s) 2024-09-12..2024-09-13 hold ESU4" in note
    assert "ESZ4" in note and "ES.c.1" in note


def test_parent_file_without_contracts_is_refused_the_same_way(tmp_path: Path) -> None:
    parent = _write(tmp_path / "es_fut.dbn", dbn.SType.PARENT, "ES.FUT")
    with pytest.raises(FileImportError, match=r"ES\.FUT is a Databento parent symbol") as err:
        read_bars(parent, "ES")
    assert "stype_in=raw_symbol and symbols=ESU4" in str(err.value)


def test_live_continuous_file_names_its_contract_and_imports(tmp_path: Path) -> None:
    meta, _ = _real()
    mapping = dbn.SymbolMappingMsg(
        1,
        ESU4_ID,
        meta.start,
        dbn.SType.CONTINUOUS,
        "ES.c.0",
        dbn.SType.RAW_SYMBOL,
        "ESU4",
        meta.start,
        meta.end,
    )
    live = _write(tmp_path / "live.dbn", dbn.SType.CONTINUOUS, "ES.c.0", False, [mapping])
    fb = read_bars(live, "ES")
    assert fb.bars.equals(read_bars(REAL, "ES").bars) and set(fb.bars["contract"]) == {"ESU4"}


def test_group_symbols() -> None:
    assert group_symbol("ES.c.0") == ("continuous", "ES")
    assert group_symbol("nq.v.1") == ("continuous", "NQ")
    assert group_symbol("CL.FUT") == ("parent", "CL")
    assert calendar_contract("ES.c.0", "2024-09-13") == "ESU4"  # by expiry, not by our roll
    assert calendar_contract("ES.c.1", "2024-09-21") == "ESH5"
    assert calendar_contract("ES.v.0", "2024-09-13") is None
    assert group_symbol("ESU4") is None and group_symbol("ESU4-ESZ4") is None
    with pytest.raises(UnknownSymbol, match=r"ES\.FUT is a Databento parent symbol"):
        read_bars(REAL, "ES.FUT")


def test_a_raw_symbol_file_named_as_a_series_it_does_not_hold_says_so() -> None:
    """The real file holds ESU4, the front month (ES.c.0) on 2024-07-02; imported as ES.c.1,
    whose contract that day is ESZ4, the import says its bars are not that series'."""
    read = read_bars(REAL, "ES.c.1")
    assert set(read.bars["contract"]) == {"ESU4"}
    note = " ".join(read.notes)
    assert "hold ESU4, not the roll rule's ES.c.1 contract (ESZ4)" in note, read.notes
    assert not read_bars(REAL, "ES.c.0").notes


def test_the_file_to_add_is_the_series_holding_the_contract_by_expiry() -> None:
    # On 2024-07-02 Databento's ES.c.0 holds U4 and its ES.c.1 holds Z4, the roll rule's ES.c.1
    # contract: a file of U4 served as ES.c.1 needs the ES.c.1 file, not ES.c.2 (H5 then).
    frame = pl.DataFrame({"trade_date": [date(2024, 7, 2)], "contract": ["ESU4"]})
    [note] = off_front_note(frame, "ES", 1)
    assert "hold ESU4, not the roll rule's ES.c.1 contract (ESZ4)" in note
    assert "Databento's ES.c.1 file (by expiry), or ESZ4 by raw symbol" in note
    assert "ES.c.2" not in note
