"""Futures roots added by configuration: a TOML file of `[instruments.<ROOT>]` tables.

Which file a home reads is a setting (`Settings.instruments_path`); it is read when a home's
definitions are built, so a root added here becomes a symbol partition on the next start. See
`instruments.example.toml` at the repo root for every field.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from market_spine.errors import InvalidInput
from market_spine.markets.instruments import Instrument, register_instrument

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "exchange": str,
    "calendar": str,
    "tick_size": (int, float),
    "multiplier": (int, float),
    "currency": str,
    "listed_months": str,
    "expiry_rule": str,
    "roll_days_before_expiry": int,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "last_trade_rule": str,
    "roll_rule": str,
    "roll_calendar_days": bool,
    "base_price": (int, float),
}
_RULE_TEXT = {
    "crude": "3 business days before the 25th calendar day of the prior month",
    "natgas": "3 business days prior to the first calendar day of the contract month",
    "third_friday": "third Friday of the contract month (the business day before if a holiday)",
    "fx_third_wednesday": "2 business days before the third Wednesday of the contract month",
}


def load_instruments(path: Path) -> list[Instrument]:
    """Parse and validate every `[instruments.<ROOT>]` table of `path` (nothing is registered)."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the instruments file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    unknown = sorted(set(doc) - {"instruments"})
    tables = doc.get("instruments")
    if unknown or not isinstance(tables, dict):
        raise InvalidInput(
            f"{path}: expected only [instruments.<ROOT>] tables, e.g. [instruments.6E]"
            + (f"; found top-level {', '.join(unknown)}" if unknown else "")
        )
    return [_instrument(path, root, spec) for root, spec in tables.items()]


def _instrument(path: Path, root: str, spec: Any) -> Instrument:
    where = f"{path}: [instruments.{root}]"
    if not isinstance(spec, dict):
        raise InvalidInput(f'{where} must be a table of fields, e.g. name = "Euro FX"')
    unknown = sorted(set(spec) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        allowed = ", ".join([*_REQUIRED, *_OPTIONAL])
        raise InvalidInput(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {allowed}")
    missing = [k for k in _REQUIRED if k not in spec]
    if missing:
        raise InvalidInput(f"{where}: missing field(s) {', '.join(missing)}")
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        value = spec.get(key)
        # bool is an int in Python: refuse `tick_size = true` and `roll_days = true` explicitly.
        wrong_bool = isinstance(value, bool) and kind is not bool
        if value is not None and (wrong_bool or not isinstance(value, kind)):
            raise InvalidInput(f"{where}: {key} = {value!r} has the wrong type; {_hint(key)}")
    for key in ("tick_size", "multiplier", "base_price"):
        if key in spec and not spec[key] > 0:
            raise InvalidInput(f"{where}: {key} must be positive, got {spec[key]!r}")
    if spec["roll_days_before_expiry"] < 0:
        raise InvalidInput(f"{where}: roll_days_before_expiry must be >= 0")
    if not (len(spec["currency"]) == 3 and spec["currency"].isalpha()):
        raise InvalidInput(f"{where}: currency {spec['currency']!r} is not an ISO code like 'USD'")
    _check_calendar(where, spec["calendar"])
    rule = spec["expiry_rule"]
    days = spec["roll_days_before_expiry"]
    unit = "calendar" if spec.get("roll_calendar_days") else "business"
    return Instrument(
        root=str(root),
        name=spec["name"],
        exchange=spec["exchange"],
        calendar=spec["calendar"],
        tick_size=float(spec["tick_size"]),
        multiplier=float(spec["multiplier"]),
        currency=spec["currency"],
        listed_months=spec["listed_months"],
        last_trade_rule=spec.get("last_trade_rule") or _RULE_TEXT.get(rule, rule),
        roll_rule=spec.get("roll_rule")
        or f"hold the next contract from {days} {unit} days before the last trade date",
        roll_days_before_expiry=days,
        base_price=float(spec.get("base_price", 100.0)),
        expiry_rule=rule,
        roll_calendar_days=bool(spec.get("roll_calendar_days", False)),
    )


def _hint(key: str) -> str:
    kind = {**_REQUIRED, **_OPTIONAL}[key]
    if kind is str:
        return 'use a quoted string, e.g. "HMUZ"' if key == "listed_months" else "use a string"
    if kind is bool:
        return "use true or false"
    if kind is int:
        return "use a whole number, e.g. 5"
    return "use a number, e.g. 0.00005"


def _check_calendar(where: str, name: str) -> None:
    import pandas_market_calendars as mcal

    if name not in mcal.get_calendar_names():
        raise InvalidInput(
            f"{where}: calendar {name!r} is not a pandas_market_calendars calendar; use e.g. "
            "'CME_Currency' (FX), 'CME Globex Equity', 'CMEGlobex_CL'"
        )


@lru_cache(maxsize=8)
def _parsed(path: Path, mtime_ns: int) -> tuple[Instrument, ...]:
    """The file's instruments, parsed once per version of the file (checking calendars is slow)."""
    return tuple(load_instruments(path))


def configured_roots(path: Path | None) -> tuple[str, ...]:
    """Register the roots of the instruments file at `path` with `instruments` and return them
    (sorted); () for None. InvalidInput names a bad file, its table and the fix.

    Safe to call repeatedly: registering an unchanged root again is a no-op."""
    if path is None:
        return ()
    try:
        mtime_ns = path.stat().st_mtime_ns
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the instruments file ({exc})") from None
    instruments = _parsed(path, mtime_ns)
    for inst in instruments:
        try:
            register_instrument(inst)
        except InvalidInput as exc:
            raise InvalidInput(f"{path}: [instruments.{inst.root}]: {exc}") from None
    return tuple(sorted(inst.root for inst in instruments))


def record_roots(home_file: Path, source: Path, roots: Iterable[str]) -> tuple[str, ...]:
    """Copy the `[instruments.<ROOT>]` tables of `roots` that `source` declares and the home's
    own instruments file `home_file` lacks into `home_file` (created if missing, appended to
    otherwise, atomically); the roots copied, sorted, () when there were none.

    Data written for a root outlives the command that named its instruments file: every later
    command (and the warehouse's reference seeds) must still know the root, so the home keeps
    the definition the data was written with. A root the home already declares is left as the
    home declares it. InvalidInput when either file is bad."""
    if home_file.exists() and home_file.resolve() == source.resolve():
        return ()
    tables = _tables(source)
    kept = _tables(home_file) if home_file.is_file() else {}
    missing = sorted({r for r in roots if r in tables and r not in kept})
    if not missing:
        return ()
    before = home_file.read_text(encoding="utf-8") if home_file.is_file() else _HOME_HEADER
    added = "".join(_table_text(root, tables[root], source) for root in missing)
    staging = home_file.with_name(f".{home_file.name}.{os.getpid()}")
    staging.parent.mkdir(parents=True, exist_ok=True)
    staging.write_text(before + ("\n" if before and not before.endswith("\n") else "") + added)
    try:
        load_instruments(staging)  # what was written reads back, or the home file is untouched
    except InvalidInput:
        staging.unlink()
        raise
    os.replace(staging, home_file)
    return tuple(missing)


_HOME_HEADER = (
    "# This home's futures roots beyond the built-in ones (fields: instruments.example.toml).\n"
)


def _tables(path: Path) -> dict[str, dict[str, Any]]:
    load_instruments(path)  # validated: every table is a flat table of known scalar fields
    return tomllib.loads(path.read_text(encoding="utf-8"))["instruments"]


def _table_text(root: str, spec: dict[str, Any], source: Path) -> str:
    """One flat table as TOML: strings JSON-quoted (a valid TOML basic string), numbers as
    Python writes them (valid TOML floats and integers), booleans lower-case."""
    lines = [f"\n# Recorded from {source} when data for {root} was first written here.\n"]
    lines.append(f"[instruments.{root}]\n")
    for key, value in spec.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = json.dumps(value, ensure_ascii=False)
        else:
            text = repr(value)
        lines.append(f"{key} = {text}\n")
    return "".join(lines)
