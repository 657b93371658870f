"""SQL predicates for Delta partition replacement, built from values so quoting is never by hand."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any


def literal(value: Any) -> str:
    """Render a Python value as a SQL literal that delta-rs' predicate parser accepts."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    text = str(value).replace("'", "''")
    return f"'{text}'"


def conjunction(
    equals: Mapping[str, Any] | None = None,
    between: Mapping[str, tuple[Any, Any]] | None = None,
) -> str:
    """`a = x AND b >= lo AND b <= hi`: the predicate of a partition or a range of partitions."""
    parts = [f"{col} = {literal(val)}" for col, val in (equals or {}).items()]
    for col, (lo, hi) in (between or {}).items():
        parts.append(f"{col} >= {literal(lo)}")
        parts.append(f"{col} <= {literal(hi)}")
    if not parts:
        raise ValueError("a replacement predicate needs at least one condition")
    return " AND ".join(parts)
