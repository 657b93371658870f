"""How a drop file's text is read: timestamps with a zone (`Z`, `+02:00`) are converted to UTC
and those without one are read as UTC, each value on its own so a file may mix them; a CSV file
with rows of too many or too few fields is refused naming the file, every such line (up to
a cap, then how many more) and the counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.config import FilesSource, load
from market_spine.company.sources import BLANK_LINES, blank_lines_note, fetch_files
from market_spine.errors import InvalidInput

ORDERS = load(DEFS_FOLDER / "orders" / "defs.yaml")
HEADER = "tenant,order_id,client_id,ordered_at,amount,status\n"
SOURCE = FilesSource(kind="files", path="drop", pattern="*.csv")


def _fetch(tmp_path: Path, body: str) -> list[datetime]:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "orders.csv").write_text(HEADER + body)
    [fetched] = fetch_files(ORDERS, SOURCE, tmp_path, set())
    return fetched.rows["ordered_at"].to_list()


def test_timestamps_with_an_offset_are_read_as_utc_beside_zoneless_and_z_ones(
    tmp_path: Path,
) -> None:
    times = _fetch(
        tmp_path,
        "acme,O1,C1,2026-11-24T09:30:00,1.0,open\n"
        "acme,O2,C1,2026-11-24T09:30:00+02:00,1.0,open\n"
        "acme,O3,C1,2026-11-24 09:30:00Z,1.0,open\n"
        "acme,O4,C1,2026-11-24T09:30:00.5-0500,1.0,open\n",
    )
    assert times == [
        datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
        datetime(2026, 11, 24, 7, 30, tzinfo=UTC),
        datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
        datetime(2026, 11, 24, 14, 30, 0, 500_000, tzinfo=UTC),
    ]


def test_a_timestamp_that_does_not_parse_names_its_row_and_the_forms(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        _fetch(
            tmp_path,
            "acme,O1,C1,2026-11-24T09:30:00+02:00,1.0,open\nacme,O2,C1,24/11/2026 09:30,1.0,open\n",
        )
    said = str(caught.value)
    assert "column 'ordered_at'" in said and "in data row(s) 2;" in said
    assert "'24/11/2026 09:30'" in said and "+02:00 (converted to UTC)" in said
    assert "without a zone is read as UTC" in said


@pytest.mark.parametrize(
    "value", ["01/12/2026 09:00", "03/04/2026 10:00", "2026/11/27 10:00", "20261127T100000"]
)
@pytest.mark.parametrize("first", [True, False], ids=["first-row", "after-an-iso-row"])
def test_a_timestamp_not_in_iso_8601_is_refused_wherever_it_stands(
    tmp_path: Path, value: str, first: bool
) -> None:
    bad, good = f"acme,O1,C1,{value},1.0,open\n", "acme,O2,C1,2026-11-24T09:30:00Z,1.0,open\n"
    with pytest.raises(InvalidInput) as caught:
        _fetch(tmp_path, bad + good if first else good + bad)
    said = str(caught.value)
    assert str(tmp_path / "drop" / "orders.csv") in said and "column 'ordered_at'" in said
    assert f"{value!r}" in said and f"in data row(s) {1 if first else 2};" in said
    assert "ISO 8601 such as 2026-11-24T09:15:00Z" in said


def test_an_iso_time_without_seconds_is_read(tmp_path: Path) -> None:
    times = _fetch(tmp_path, "acme,O1,C1,2026-11-24T09:30+01:00,1.0,open\n")
    assert times == [datetime(2026, 11, 24, 8, 30, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("body", "line", "found"),
    [
        ("acme,O1,C1,2026-11-24T09:30:00Z,1.0,open\nacme,O2,C1,2026-11-24T10:00:00Z,1.0\n", 3, 5),
        ("acme,O1,C1,2026-11-24T09:30:00Z,1.0,open,extra\n", 2, 7),
    ],
)
def test_a_ragged_row_names_the_file_the_line_and_the_field_counts(
    tmp_path: Path, body: str, line: int, found: int
) -> None:
    with pytest.raises(InvalidInput) as caught:
        _fetch(tmp_path, body)
    said = str(caught.value)
    assert str(tmp_path / "drop" / "orders.csv") in said
    assert "1 line has a field count other than the header's: the header has 6 (" in said
    assert f"; line {line} has {found} fields; nothing was captured" in said


def test_every_ragged_row_is_named_up_to_a_cap_then_counted(tmp_path: Path) -> None:
    good = "acme,O{i},C1,2026-11-24T09:30:00Z,1.0,open\n"
    short = "acme,O{i},C1,2026-11-24T09:30:00Z,1.0\n"
    long = "acme,O{i},C1,2026-11-24T09:30:00Z,1.0,open,extra,more\n"
    # Data rows 1..30 on lines 2..31: rows 3, 4 short, then every other row from 10 long.
    rows = [
        short if i in (3, 4) else long if i >= 10 and i % 2 == 0 else good for i in range(1, 31)
    ]
    with pytest.raises(InvalidInput) as caught:
        _fetch(tmp_path, "".join(row.format(i=i) for i, row in enumerate(rows, 1)))
    said = str(caught.value)
    ragged = ["line 4 has 5 fields", "line 5 has 5 fields"]
    ragged += [f"line {i + 1} has 8 fields" for i in range(10, 31, 2)]
    assert len(ragged) == 13
    assert said.startswith(f"{tmp_path / 'drop' / 'orders.csv'}: 13 lines have a field count ")
    assert "; ".join(ragged) + "; nothing was captured" in said


def test_ragged_rows_past_the_cap_are_counted(tmp_path: Path) -> None:
    short = "acme,O{i},C1,2026-11-24T09:30:00Z,1.0\n"
    with pytest.raises(InvalidInput) as caught:
        _fetch(tmp_path, "".join(short.format(i=i) for i in range(1, 26)))
    said = str(caught.value)
    named = "; ".join(f"line {i} has 5 fields" for i in range(2, 22))
    assert "25 lines have a field count" in said
    assert named + "; and 5 more lines; nothing was captured" in said
    assert "line 22 " not in said


@pytest.mark.parametrize(
    ("body", "blank"),
    [
        (
            "acme,O1,C1,2026-11-24T09:30:00,1.0,open\nacme,O2,C1,2026-11-24T09:30:00,2.0,open\n\n",
            [4],
        ),
        (
            "acme,O1,C1,2026-11-24T09:30:00,1.0,open\n   \n"
            "acme,O2,C1,2026-11-24T09:30:00,2.0,open\n",
            [3],
        ),
        (
            "acme,O1,C1,2026-11-24T09:30:00,1.0,open\r\n\r\nacme,O2,C1,2026-11-24T09:30:00,2.0,open\r\n",
            [3],
        ),
        (
            "acme,O1,C1,2026-11-24T09:30:00,1.0,open\n,,,,,\nacme,O2,C1,2026-11-24T09:30:00,2.0,open\n",
            [3],
        ),
    ],
    ids=["trailing", "whitespace-middle", "crlf", "separators-only"],
)
def test_blank_lines_are_not_records_and_are_named_in_the_notes(
    tmp_path: Path, body: str, blank: list[int]
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "orders.csv").write_bytes((HEADER + body).encode())
    [fetched] = fetch_files(ORDERS, SOURCE, tmp_path, set())
    assert fetched.rows["order_id"].to_list() == ["O1", "O2"]
    assert fetched.request[BLANK_LINES] == blank
    assert fetched.payload == (HEADER + body).encode()
    assert "orders.csv line(s) " + str(blank[0]) in blank_lines_note({"orders.csv": blank})


@pytest.mark.parametrize(("tenant", "instead"), [(" acme", "'acme'"), ("ACME", "'acme'")])
def test_a_tenant_no_key_could_name_is_refused_at_capture(
    tmp_path: Path, tenant: str, instead: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        _fetch(
            tmp_path,
            f"acme,O1,C1,2026-11-24T09:30:00Z,1.0,open\n{tenant},O2,C1,"
            "2026-11-24T09:30:00Z,1.0,open\n",
        )
    said = str(caught.value)
    assert str(tmp_path / "drop" / "orders.csv") in said and "column 'tenant'" in said
    assert f"in data row(s) 2: the tenant {tenant!r} is not a tenant name" in said
    assert f"write {instead}" in said and "nothing of this capture was written" in said


def test_every_bad_file_of_the_folder_is_named_in_one_refusal(tmp_path: Path) -> None:
    """An owner fixing a folder of exports learns of every bad file from one run; the good
    file beside them is not captured either."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a_good.csv").write_text(HEADER + "acme,O1,C1,2026-11-24T09:30:00Z,1.0,open\n")
    (drop / "b_ragged.csv").write_text(HEADER + "acme,O2,C1,2026-11-24T10:00:00Z,1.0\n")
    (drop / "c_day_first.csv").write_text(HEADER + "acme,O3,C1,01/12/2026 09:00,1.0,open\n")
    with pytest.raises(InvalidInput) as caught:
        fetch_files(ORDERS, SOURCE, tmp_path, set())
    said = str(caught.value)
    assert "2 files of the drop folder" in said and "nothing was captured" in said
    assert str(drop / "b_ragged.csv") in said and str(drop / "c_day_first.csv") in said
    assert "a_good.csv" not in said
