"""What changed since a caller's last read: the revisions of a dataset recorded after a Delta
version or an instant, and the rows behind a revision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from market_spine.certification.tables import (
    REVISION_ROWS,
    REVISION_ROWS_SCHEMA,
    REVISIONS,
    REVISIONS_SCHEMA,
)
from market_spine.errors import InvalidInput
from market_spine.lake.as_of import AS_OF_FORMS, parse_as_of
from market_spine.lake.store import Lake

#: What `since` may be, said in every error about one.
SINCE_FORMS = AS_OF_FORMS


def parse_since(since: int | datetime | str | None) -> int | datetime | None:
    """A Delta version number or an aware instant (or text holding either); None: from the
    start. Anything else is InvalidInput naming the accepted forms."""
    if since is None or (isinstance(since, str) and not since.strip()):
        return None
    try:
        return parse_as_of(since)
    except InvalidInput:
        raise InvalidInput(f"since={since!r} is not {SINCE_FORMS}") from None


def known_since(
    lake: Lake, dataset: str, since: int | datetime | str | None
) -> int | datetime | None:
    """`parse_since`, then a version `dataset` has not reached is InvalidInput: it would answer
    "nothing changed" about versions that do not exist (a version of another table, most
    often)."""
    point = parse_since(since)
    if isinstance(point, int):
        newest = lake.version(dataset)
        if newest is None or point > newest:
            held = "holds no version yet" if newest is None else f"is at version {newest}"
            raise InvalidInput(
                f"since={since!r}: {dataset} {held}, so it has no version {point}; pass a "
                f"version it has made (the one your last read saw) or an instant ({SINCE_FORMS})"
            )
    return point


def revisions_since(lake: Lake, dataset: str, since: int | datetime | str | None) -> pl.DataFrame:
    """The revisions of `dataset` (REVISIONS_SCHEMA), oldest first: with a version, those that
    produced a later version; with an instant, those recorded after it (`known_since`)."""
    point = known_since(lake, dataset, since)
    if not lake.exists(REVISIONS):
        return pl.DataFrame(schema=REVISIONS_SCHEMA)
    rows = lake.read(REVISIONS, equals={"dataset": dataset})
    if isinstance(point, int):
        rows = rows.filter(pl.col("new_version") > point)
    elif point is not None:
        rows = rows.filter(pl.col("recorded_at") > point)
    return rows.sort("recorded_at", "partition")


def revision_rows(lake: Lake, revision_ids: Sequence[str]) -> pl.DataFrame:
    """The changed rows and values of the given revisions (REVISION_ROWS_SCHEMA)."""
    if not revision_ids or not lake.exists(REVISION_ROWS):
        return pl.DataFrame(schema=REVISION_ROWS_SCHEMA)
    rows = lake.read(REVISION_ROWS)
    return rows.filter(pl.col("revision_id").is_in(list(revision_ids)))
