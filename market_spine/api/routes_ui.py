"""Browser pages served by the API: `GET /ui/live` (live candles per symbol: the lake's minutes
joined by the stream's 5-second bars, volume, freshness, the day's anomalies) and
`GET /ui/readiness` (certification, completeness and anomalies per dataset × symbol × day).

The pages are shells that hold no market data, public like `/docs`: they ask for an API key (or
take it from the URL fragment `#key=…`, which never reaches the server), keep it in the tab's
sessionStorage, and read everything through the authenticated API, so a key's role and dataset
scope apply as to any client. Their scripts, styles and the vendored chart library are files
of this package under `/ui/assets/`; nothing comes from a CDN, and a strict
Content-Security-Policy keeps any other origin's script out of a page that holds a key.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from market_spine.api import params
from market_spine.api.errors import ApiError
from market_spine.client import readiness_datasets
from market_spine.markets.rolls import RANKS, RULES

#: The pages, apart from their scripts, styles and the vendored chart library (the assets are
#: served as files; the pages only through their routes, which add the security headers).
PAGE_FILES = Path(__file__).with_name("ui") / "pages"
ASSET_FILES = Path(__file__).with_name("ui") / "assets"
ASSETS_PATH = "/ui/assets"
PAGES = {"live": "live.html", "readiness": "readiness.html"}
KEY_FORM = "_key_form.html"
#: The key lives in the page, so nothing but this origin's own files may run in it or frame it.
#: `connect-src 'self'` covers the WebSocket of the same host and port.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/ui", include_in_schema=False)


def assets() -> StaticFiles:
    """The pages' scripts, styles and vendored libraries, served from the package."""
    return StaticFiles(directory=ASSET_FILES, check_dir=True)


def continuous_forms() -> tuple[str, ...]:
    """The continuous series the API serves of every root, as `<rule letter>.<rank>` (`c.0`,
    `c.1`, `v.0`, `v.1`): the live page offers `ROOT.c.0` … beside each root."""
    return tuple(f"{letter}.{rank}" for letter in RULES for rank in RANKS)


def page(name: str, symbols: tuple[str, ...], picks: dict[str, str] | None = None) -> HTMLResponse:
    """The page `name` with the key form the pages share and the names its pickers offer (no
    data): the configured symbols, the continuous series of each, the datasets readiness
    answers for, and what the address picked (`picks`: symbol and day, already checked)."""
    picks = picks or {}
    values = {
        "symbols": ",".join(symbols),
        "series": ",".join(continuous_forms()),
        "datasets": ",".join(readiness_datasets()),
        "pick_symbol": picks.get("symbol", ""),
        "pick_day": picks.get("day", ""),
    }
    text = (PAGE_FILES / PAGES[name]).read_text(encoding="utf-8")
    text = text.replace("{{key_form}}", (PAGE_FILES / KEY_FORM).read_text(encoding="utf-8"))
    for field, value in values.items():
        text = text.replace("{{" + field + "}}", html.escape(value, quote=True))
    return HTMLResponse(text, headers=SECURITY_HEADERS)


PickedSymbol = Annotated[
    str | None, Query(description="The symbol shown first: a root (ES) or a series (ES.c.0).")
]
PickedDay = Annotated[
    str | None, Query(description="The trade date shown, e.g. `2024-03-05` (default: newest).")
]


@router.get("/live")
def live(request: Request, symbol: PickedSymbol = None, day: PickedDay = None) -> HTMLResponse:
    """The live dashboard: candles, volume, freshness and anomalies per symbol. `?symbol=` and
    `?day=` pick what it shows first (a link to share); they are checked as the API checks
    them, so a day that is not one is refused (422) naming the form expected rather than
    ignored."""
    picks: dict[str, str] = {}
    wrong: list[ApiError] = []
    try:
        if symbol is not None and symbol.strip():
            picks["symbol"] = params.bars_symbol(symbol)
    except ApiError as exc:
        wrong.append(exc)
    try:
        found = params.optional_trade_date(day, "day")
        if found is not None:
            picks["day"] = found.isoformat()
    except ApiError as exc:
        wrong.append(exc)
    if len(wrong) > 1:
        # Both picks are wrong: say both at once, not one per attempt.
        message = "; and ".join(exc.message for exc in wrong)
        raise ApiError(422, message, ",".join(exc.field or "" for exc in wrong))
    if wrong:
        raise wrong[0]
    return page("live", request.app.state.settings.symbols, picks)


@router.get("/readiness")
def readiness(request: Request) -> HTMLResponse:
    """The readiness view: one tile per dataset, symbol and trade date."""
    return page("readiness", request.app.state.settings.symbols)
