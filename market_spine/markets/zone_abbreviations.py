"""What a user means by a time-zone abbreviation (CST, ET, BST ...), answered with IANA names.

An abbreviation names one half of a clock (its standard or its summer time), not the rules that
move between them, and several clocks share one: `CST` is US Central, China and Cuba standard
time. A file stamped by a Chicago desk says CST in winter and CDT in summer; `America/Chicago`
follows both. tzdata even knows a few of them (`EST` is a fixed UTC-5 with no summer time), so
taking them at their word would shift half a year of bars by an hour. Only the hints live here:
every zone named is checked against the tzdata names at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import available_timezones


@dataclass(frozen=True)
class Hint:
    """The IANA zones an abbreviation usually means (the likeliest first) and what it is."""

    zones: tuple[str, ...]
    meaning: str


_US_CENTRAL = Hint(("America/Chicago",), "US Central time (CME's clock)")
_US_EASTERN = Hint(("America/New_York",), "US Eastern time")
_US_MOUNTAIN = Hint(("America/Denver", "America/Phoenix"), "US Mountain time")
_US_PACIFIC = Hint(("America/Los_Angeles",), "US Pacific time")
_CENTRAL_EUROPE = Hint(("Europe/Berlin", "Europe/Paris", "Europe/Zurich"), "Central European time")
_EASTERN_EUROPE = Hint(("Europe/Athens", "Europe/Helsinki"), "Eastern European time")
_AUSTRALIA_EAST = Hint(("Australia/Sydney", "Australia/Brisbane"), "Australian Eastern time")

#: Abbreviations (upper case) refused as a zone, with the zones they are usually meant for.
HINTS: dict[str, Hint] = {
    "CST": Hint(
        ("America/Chicago", "Asia/Shanghai", "America/Havana"),
        "US Central standard time, and China's and Cuba's",
    ),
    "CDT": _US_CENTRAL,
    "CT": _US_CENTRAL,
    "CST6CDT": _US_CENTRAL,
    "EST": _US_EASTERN,
    "EDT": _US_EASTERN,
    "ET": _US_EASTERN,
    "EST5EDT": _US_EASTERN,
    "MST": _US_MOUNTAIN,
    "MDT": _US_MOUNTAIN,
    "MT": _US_MOUNTAIN,
    "MST7MDT": _US_MOUNTAIN,
    "PST": _US_PACIFIC,
    "PDT": _US_PACIFIC,
    "PT": _US_PACIFIC,
    "PST8PDT": _US_PACIFIC,
    "GMT": Hint(("Europe/London", "UTC"), "UK winter time, or UTC itself"),
    "BST": Hint(("Europe/London", "Asia/Dhaka"), "British summer time, and Bangladesh time"),
    "WET": Hint(("Europe/Lisbon",), "Western European time"),
    "WEST": Hint(("Europe/Lisbon",), "Western European summer time"),
    "CET": _CENTRAL_EUROPE,
    "CEST": _CENTRAL_EUROPE,
    "MET": _CENTRAL_EUROPE,
    "EET": _EASTERN_EUROPE,
    "EEST": _EASTERN_EUROPE,
    "MSK": Hint(("Europe/Moscow",), "Moscow time"),
    "IST": Hint(
        ("Asia/Kolkata", "Europe/Dublin", "Asia/Jerusalem"), "India, Irish and Israel time"
    ),
    "JST": Hint(("Asia/Tokyo",), "Japan time"),
    "KST": Hint(("Asia/Seoul",), "Korea time"),
    "HKT": Hint(("Asia/Hong_Kong",), "Hong Kong time"),
    "SGT": Hint(("Asia/Singapore",), "Singapore time"),
    "AEST": _AUSTRALIA_EAST,
    "AEDT": _AUSTRALIA_EAST,
    "HST": Hint(("Pacific/Honolulu",), "Hawaii time"),
}

#: Names of UTC itself, taken as UTC: no clock changes, nothing to misread.
UTC_NAMES = frozenset(
    {"UTC", "Z", "UCT", "ZULU", "UNIVERSAL", "GMT0", "GMT+0", "GMT-0", "ETC/UTC", "ETC/UCT"}
    | {"ETC/ZULU", "ETC/UNIVERSAL", "ETC/GMT", "ETC/GMT0", "ETC/GMT+0", "ETC/GMT-0"}
)

_unknown = sorted({z for h in HINTS.values() for z in h.zones} - available_timezones() - {"UTC"})
if _unknown:  # a renamed zone must fail loudly here, not suggest a name tzdata refuses
    raise RuntimeError(f"time-zone hints name zones tzdata does not know: {', '.join(_unknown)}")


def is_utc(name: str) -> bool:
    """True for a name of UTC itself (`UTC`, `Z`, `UCT`, `Etc/UTC`, `GMT0` ...)."""
    return name.strip().upper() in UTC_NAMES


def abbreviation_advice(name: str, option: str = "--tz") -> str | None:
    """Why `name` (given after `option`) is an abbreviation, not a zone, and the IANA names it
    usually stands for;
    None when it is not one of the hinted abbreviations."""
    hint = HINTS.get(name.strip().upper())
    if hint is None:
        return None
    first, *rest = hint.zones
    others = f" (or {' or '.join(rest)})" if rest else ""
    return (
        f"{option} {name.strip()!r} is an abbreviation ({hint.meaning}), not a time zone: "
        "an abbreviation names a clock's standard or summer time, not the rules between "
        f"them, and several clocks share some; pass {option} {first}{others}, which follows "
        "the clock through its changes"
    )
