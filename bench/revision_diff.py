"""Rows per second of the revision diff (`certification.diff.keyed_diff`) against a plain polars
anti-join of the two snapshots, in the same run.

Snapshots are simulated normalized minute bars (one CL session, a month of CL, a month of
CL/ES/NG) and a revised copy: 1 % of the rows with a changed close, 0.5 % removed, as many added
(shifted a year so their keys are new). The keyed diff answers what a revision records — rows
added, removed, changed, which columns and by how much, one detail row per change; the anti-join
(new rows absent from old and old rows absent from new, matched on every compared column) only
says which whole rows differ, so it is the floor a diff cannot beat. Best of 5 per size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import dataset
import polars as pl
import report

from market_spine.certification.diff import keyed_diff

KEYS = ("symbol", "ts")
IGNORE = ("capture_id",)
SIZES = {
    "one CL session": (("CL",), date(2024, 3, 5), date(2024, 3, 5)),
    "a month of CL": (("CL",), date(2024, 3, 1), date(2024, 3, 31)),
    "a month of CL/ES/NG": (("CL", "ES", "NG"), date(2024, 3, 1), date(2024, 3, 31)),
}
ROUNDS = 5


def revised(old: pl.DataFrame) -> pl.DataFrame:
    """`old` with 1 % of closes moved, 0.5 % of rows removed and as many new rows added."""
    n = old.height
    index = pl.int_range(pl.len())
    changed = (index % 100) == 7
    new = old.with_columns(close=pl.when(changed).then(pl.col("close") * 1.001).otherwise("close"))
    removed = (index % 200) == 3
    gone = new.filter(removed)
    kept = new.filter(~removed)
    added = gone.with_columns(ts=pl.col("ts") + timedelta(days=366)).cast(kept.schema)
    assert kept.height + added.height == n
    return pl.concat([kept, added]).with_columns(capture_id=pl.lit("01REVISED0000000000000000"))


def anti_join(old: pl.DataFrame, new: pl.DataFrame) -> tuple[int, int]:
    """Whole rows of `new` missing from `old` and of `old` missing from `new`."""
    on = [c for c in new.columns if c not in IGNORE]
    return (
        new.join(old, on=on, how="anti", nulls_equal=True).height,
        old.join(new, on=on, how="anti", nulls_equal=True).height,
    )


def best(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest of ROUNDS calls (s) and the last result."""
    times, out = [], None
    for _ in range(ROUNDS):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def main() -> None:
    figures: dict[str, Any] = {}
    rows = []
    for label, (symbols, start, end) in SIZES.items():
        old = dataset.simulate(symbols, start, end)
        new = revised(old)
        ours_s, diff = best(lambda old=old, new=new: keyed_diff(old, new, KEYS, ignore=IGNORE))
        base_s, (plus, minus) = best(lambda old=old, new=new: anti_join(old, new))
        # Both answers must agree on what differs before their speeds are compared.
        assert diff.added == diff.removed > 0 and diff.changed > 0
        assert (plus, minus) == (diff.changed + diff.added, diff.changed + diff.removed)
        figures[label] = {
            "rows": old.height,
            "added": diff.added,
            "removed": diff.removed,
            "changed": diff.changed,
            "detail_rows": diff.detail.height,
            "keyed_diff_s": round(ours_s, 4),
            "anti_join_s": round(base_s, 4),
            "keyed_diff_rows_per_s": round(old.height / ours_s),
            "anti_join_rows_per_s": round(old.height / base_s),
            "anti_join_rows_differing": [plus, minus],
        }
        f = figures[label]
        rows.append(
            [
                label,
                old.height,
                f"{diff.added}/{diff.removed}/{diff.changed}",
                f["keyed_diff_rows_per_s"],
                f["anti_join_rows_per_s"],
                round(ours_s / base_s, 2),
            ]
        )
    report.table(
        "Revision diff: rows/s (best of 5), keyed diff vs plain anti-join, same run",
        ["snapshot", "rows", "added/removed/changed", "keyed diff", "anti-join", "time ratio"],
        rows,
    )
    report.save("revision_diff", {"sizes": figures, "rounds": ROUNDS})


if __name__ == "__main__":
    main()
