"""A step's few trust rows are written as small files: snappy, no dictionaries, no page index
(page checksums and statistics kept); a data file keeps zstd and its page index."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from market_spine.lake import Lake
from market_spine.lake.writer import SMALL_FILE_ROWS
from market_spine_tests.kit.frames import DS, day_frame
from market_spine_tests.lake.test_own_commits import LOG, log_rows


def _layout(path: str) -> tuple[str, bool, bool]:
    """A file's codec, whether any column chunk is dictionary-encoded, and whether it has a
    page index."""
    meta = pq.ParquetFile(path).metadata
    chunks = [meta.row_group(0).column(i) for i in range(meta.num_columns)]
    dictionary = any(c.has_dictionary_page for c in chunks)
    return chunks[0].compression, dictionary, chunks[0].has_offset_index


def test_a_few_rows_are_a_small_file_and_a_session_of_bars_a_full_one(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.append(LOG, log_rows(0))
    day = date(2024, 1, 2)
    bars = day_frame(day, "CL", 1.0, minutes=SMALL_FILE_ROWS)
    lake.replace(DS, bars, equals={"trade_date": day, "symbol": "CL"}, partition_by=["symbol"])
    [small] = lake.snapshot(LOG).files
    [full] = lake.snapshot(DS).files
    assert _layout(small.path) == ("SNAPPY", False, False)
    assert small.rel.endswith(".snappy.parquet")
    assert _layout(full.path)[::2] == ("ZSTD", True)
    # Both read back whole, statistics and all.
    assert lake.read(LOG).height == 1
    assert lake.read(DS, between={"trade_date": (day, day)}).height == SMALL_FILE_ROWS
    assert small.mins and full.mins
