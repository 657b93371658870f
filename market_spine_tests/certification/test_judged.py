"""When the rows a run replaced are not the ones certification last judged."""

from __future__ import annotations

import polars as pl

from market_spine.certification.judged import LastJudged, unjudged_since


def rows(*captures: str) -> pl.DataFrame:
    return pl.DataFrame({"close": [1.0] * len(captures), "capture_id": list(captures)})


def test_rows_written_over_the_judged_capture_by_a_run_that_never_certified_point_back() -> None:
    assert unjudged_since(LastJudged("A", 3), rows("B", "B"), 5) == 3


def test_rows_still_holding_the_judged_capture_are_the_judged_ones() -> None:
    # A writer that runs no checks (the stream) replaced some minutes: its change is diffed.
    assert unjudged_since(LastJudged("A", 3), rows("A", "S"), 5) is None
    # Read at the judged version itself, or before any judgment: nothing to go back to.
    assert unjudged_since(LastJudged("A", 5), rows("B"), 5) is None
    assert unjudged_since(None, rows("B"), 5) is None


def test_a_judgment_naming_no_capture_or_version_cannot_tell() -> None:
    assert unjudged_since(LastJudged(None, 3), rows("B"), 5) is None
    assert unjudged_since(LastJudged("A", None), rows("B"), 5) is None
    assert unjudged_since(LastJudged("A", 3), rows("B"), None) is None


def test_a_partition_emptied_since_its_judgment_points_back() -> None:
    assert unjudged_since(LastJudged("A", 3), pl.DataFrame(), 5) == 3
    assert unjudged_since(LastJudged("A", 3), None, 5) == 3
