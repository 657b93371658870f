"""OSI option symbols (`SPXW  240119C04700000`): root padded to six, yymmdd, C/P, strike × 1000
in eight digits — the key every options table shares."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from market_spine.errors import InvalidInput

_OSI = re.compile(r"^(?P<root>[A-Z0-9]{1,6}) *(?P<ymd>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")


@dataclass(frozen=True)
class OptionContract:
    """One listed option: root, expiration, right (`C`/`P`) and strike in index points."""

    root: str
    expiration: date
    right: str
    strike: float

    @property
    def osi(self) -> str:
        """The 21-character OSI symbol."""
        return osi_symbol(self.root, self.expiration, self.right, self.strike)


def osi_symbol(root: str, expiration: date, right: str, strike: float) -> str:
    """Build an OSI symbol; the strike must be a whole number of thousandths."""
    right = right.upper()[:1]
    if right not in ("C", "P"):
        raise InvalidInput(f"option right {right!r} is neither C (call) nor P (put)")
    if not 0 < len(root) <= 6:
        raise InvalidInput(f"option root {root!r} must be 1 to 6 characters, e.g. SPXW")
    thousandths = round(strike * 1000)
    if abs(thousandths - strike * 1000) > 1e-6 or not 0 < thousandths < 10**8:
        raise InvalidInput(f"strike {strike} is not a positive price with at most 3 decimals")
    return f"{root.upper():<6}{expiration:%y%m%d}{right}{thousandths:08d}"


def parse_osi(symbol: str) -> OptionContract:
    """Split an OSI symbol into its parts; a malformed one says what the form is."""
    match = _OSI.match(symbol.strip().upper())
    if match is None:
        raise InvalidInput(
            f"{symbol!r} is not an OSI option symbol like 'SPXW  240119C04700000' "
            "(root, yymmdd, C/P, strike × 1000 in 8 digits)"
        )
    expiration = datetime.strptime(match["ymd"], "%y%m%d").date()
    return OptionContract(match["root"], expiration, match["right"], int(match["strike"]) / 1000)


def osi_expr(
    root: str = "root", expiration: str = "expiration", right: str = "right", strike: str = "strike"
) -> pl.Expr:
    """`osi_symbol` over frame columns (root, expiration date, C/P right, strike in points), for
    whole chains at once."""
    thousandths = (pl.col(strike) * 1000).round(0).cast(pl.Int64)
    return (
        pl.col(root).str.to_uppercase().str.pad_end(6)
        + pl.col(expiration).dt.strftime("%y%m%d")
        + pl.col(right)
        + thousandths.cast(pl.String).str.zfill(8)
    )
