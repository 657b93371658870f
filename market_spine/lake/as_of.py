"""How a caller names a past state of a table: a version number or an aware timestamp, parsed
from the forms people type (`3`, `2024-03-05T21:00:00Z`), with one error text for every form
that is not one of them."""

from __future__ import annotations

import re
from datetime import date, datetime

from market_spine.errors import InvalidInput

#: A past state of a table, as callers pass it (None: the newest).
AsOf = int | datetime | str | None

#: What an as_of may be, said in every error about one.
AS_OF_FORMS = (
    "a table version number like 3 or an ISO timestamp with zone like 2024-03-05T21:00:00Z"
)
#: ASCII digits only: str.isdigit() and int() also take '²' and '١', which no caller means.
_VERSION = re.compile(r"[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_as_of(as_of: int | datetime | str) -> int | datetime:
    """A version number, an aware datetime, or text holding either (`3`,
    `2024-03-05T21:00:00Z`); anything else is InvalidInput naming the accepted forms."""
    if isinstance(as_of, bool):
        raise InvalidInput(f"as_of {as_of!r} is not {AS_OF_FORMS}")
    if isinstance(as_of, int):
        if as_of < 0:
            raise InvalidInput(f"as_of version {as_of} is negative: pass {AS_OF_FORMS}")
        return as_of
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise InvalidInput(f"as_of {as_of} has no time zone: pass an aware UTC timestamp")
        return as_of
    if isinstance(as_of, date):
        raise InvalidInput(f"as_of must be {AS_OF_FORMS}, not a date")
    text = str(as_of).strip()
    if _VERSION.fullmatch(text):
        return int(text)
    if not text.isascii():
        raise InvalidInput(f"as_of {as_of!r} has characters outside ASCII: pass {AS_OF_FORMS}")
    if _DATE.fullmatch(text):
        raise InvalidInput(f"as_of {as_of!r} is a date with no time and zone: pass {AS_OF_FORMS}")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"as_of {as_of!r} is neither a version number nor an ISO timestamp: pass {AS_OF_FORMS}"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"as_of {as_of!r} has no time zone: add 'Z' or an offset")
    return parsed
