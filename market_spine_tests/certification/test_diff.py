"""The keyed diff of two snapshots, against a small case checked by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from market_spine.certification.diff import keyed_diff

T = [datetime(2024, 3, 5, 14, m, tzinfo=UTC) for m in range(4)]
KEYS = ("symbol", "ts")


def bars(ts, close, volume, capture="A") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": ["CL"] * len(ts),
            "ts": ts,
            "close": close,
            "volume": volume,
            "capture_id": [capture] * len(ts),
        },
        schema_overrides={"ts": pl.Datetime("ns", "UTC")},
    )


def test_a_hand_checked_revision() -> None:
    # Old: minutes 0, 1, 2. New: minute 0 unchanged, 1 close 80.0 → 80.5 and volume 10 → 12,
    # minute 2 gone, minute 3 new. Every capture id differs, which is no change.
    old = bars(T[:3], [80.0, 80.0, 81.0], [5, 10, 7], capture="A")
    new = bars([T[0], T[1], T[3]], [80.0, 80.5, 79.0], [5, 12, 3], capture="B")
    diff = keyed_diff(old, new, KEYS, ignore={"capture_id"})
    assert (diff.added, diff.removed, diff.changed) == (1, 1, 1)
    assert set(diff.columns) == {"close", "volume"}
    assert diff.columns["close"].rows == 1
    assert diff.columns["close"].max_abs == pytest.approx(0.5)
    assert diff.columns["close"].max_rel == pytest.approx(0.5 / 80.0)
    assert diff.columns["volume"].max_abs == 2 and diff.columns["volume"].max_rel == 0.2
    detail = {(r["change"], r["column"]): r for r in diff.detail.to_dicts()}
    assert set(detail) == {
        ("added", None),
        ("removed", None),
        ("changed", "close"),
        ("changed", "volume"),
    }
    assert json.loads(detail[("added", None)]["key_json"])["ts"].startswith("2024-03-05T14:03")
    assert json.loads(detail[("added", None)]["new_value"]) == {"close": 79.0, "volume": 3}
    assert json.loads(detail[("removed", None)]["old_value"]) == {"close": 81.0, "volume": 7}
    assert detail[("changed", "close")]["old_value"] == "80.0"
    assert detail[("changed", "close")]["new_value"] == "80.5"


def test_a_rerun_with_the_same_values_is_no_change() -> None:
    old = bars(T, [80.0, 80.1, 80.2, 80.3], [1, 2, 3, 4], capture="A")
    new = bars(list(reversed(T)), [80.3, 80.2, 80.1, 80.0], [4, 3, 2, 1], capture="B")
    diff = keyed_diff(old, new, KEYS, ignore={"capture_id"})
    assert diff.empty and diff.detail.is_empty() and not diff.columns


def test_the_largest_change_is_absolute_its_relative_one_signed_and_nulls_compare_equal() -> None:
    old = bars(T[:3], [10.0, 20.0, None], [1, 1, 1])
    new = bars(T[:3], [5.0, 23.0, None], [1, 1, 1])
    diff = keyed_diff(old, new, KEYS, ignore={"capture_id"})
    assert diff.changed == 2 and diff.columns["close"].max_abs == 5.0  # 10 → 5 beats 20 → 23
    assert diff.columns["close"].max_rel == pytest.approx(-0.5)
    close = diff.detail.filter(pl.col("column") == "close").sort("abs_change")
    assert close["abs_change"].to_list() == [3.0, 5.0]
    assert close["rel_change"].to_list() == pytest.approx([0.15, -0.5])


def test_a_missing_key_column_is_refused() -> None:
    with pytest.raises(ValueError, match="missing"):
        keyed_diff(bars(T, [1.0] * 4, [1] * 4), bars(T, [1.0] * 4, [1] * 4), ("osi",))


def test_snapshots_lined_up_key_for_key_diff_as_the_join_does() -> None:
    """Two captures of the same minutes in the same order are compared side by side, without
    a join: the verdicts and every detail row are the join's, nulls, NaN, zeros and strings
    included (the join is what a reordered copy of the new rows goes through)."""
    n = 40
    old = pl.DataFrame(
        {
            "symbol": ["CL"] * n,
            "ts": [datetime(2024, 3, 5, 14, tzinfo=UTC) + timedelta(minutes=i) for i in range(n)],
            "close": [80.0 + i / 10 for i in range(n)],
            "volume": [i % 7 for i in range(n)],
            "note": ["a"] * n,
        }
    )
    new = old.with_columns(
        close=pl.when(pl.int_range(n) == 3)
        .then(float("nan"))
        .when(pl.int_range(n) == 5)
        .then(None)
        .when(pl.int_range(n) == 9)
        .then(pl.col("close") * 1.5)
        .otherwise(pl.col("close")),
        volume=pl.when(pl.int_range(n).is_in([0, 7])).then(11).otherwise(pl.col("volume")),
        note=pl.when(pl.int_range(n) == 9).then(pl.lit("b")).otherwise(pl.col("note")),
    )
    lined_up = keyed_diff(old, new, KEYS)
    joined = keyed_diff(old, new.reverse(), KEYS)
    assert (lined_up.added, lined_up.removed, lined_up.changed) == (0, 0, 5)
    assert (joined.added, joined.removed, joined.changed) == (0, 0, 5)
    assert lined_up.columns == joined.columns
    order = ["column", "key_json"]
    assert lined_up.detail.sort(order).equals(joined.detail.sort(order))
    # Nothing changed: equal either way.
    assert keyed_diff(old, old.clone(), KEYS).empty and keyed_diff(old, old.reverse(), KEYS).empty


@pytest.mark.parametrize("order", ["lined up", "reordered"])
def test_of_a_rise_and_a_fall_as_large_the_rise_is_the_largest_change(order: str) -> None:
    old = bars(T[:2], [80.0, 80.0], [5, 5])
    new = bars(T[:2], [81.0, 79.0], [5, 5])
    diff = keyed_diff(old, new if order == "lined up" else new.reverse(), KEYS)
    assert diff.columns["close"].max_abs == pytest.approx(1.0)
    assert diff.columns["close"].max_rel == pytest.approx(1 / 80)
