"""What a run records about where it came from and what it ran with.

The provider settings go into the run's config (the resources read them from there), so a
re-execution or retry of the run captures from the same source as the run did, whatever the
server's own settings are. The same settings, without credentials, are also tags, to be read and
filtered on in the UI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from market_spine.config.identity import os_user
from market_spine.config.secrets import without_credentials
from market_spine.settings import Settings

if TYPE_CHECKING:
    # Only its type: the run history and status read tags without the providers (polars).
    from market_spine.providers.resource import MarketDataResource

PREFIX = "market_spine/"
LAUNCHED_BY = PREFIX + "launched_by"
LAUNCHED_FROM = PREFIX + "launched_from"
#: Where a run can be launched from; the UI, schedules and sensors tag theirs when submitted.
ORIGINS = ("cli", "import", "ui", "schedule", "sensor", "retry", "backfill")


def market_config(market: MarketDataResource) -> dict[str, Any]:
    """The market resource's fields as run config."""
    return {name: getattr(market, name) for name in type(market).model_fields}


def provider_tags(market: MarketDataResource) -> dict[str, str]:
    """The provider settings a run captures with, as tags (endpoints without credentials)."""
    return {
        PREFIX + "provider": market.provider,
        PREFIX + "options_provider": market.options_provider,
        PREFIX + "seed": str(market.seed),
        PREFIX + "ib_endpoint": f"{market.ib_host}:{market.ib_port}",
        PREFIX + "thetadata_url": without_credentials(market.thetadata_url),
    }


def origin_tags(launched_from: str) -> dict[str, str]:
    """Who launched a run (the OS user) and from where (one of ORIGINS)."""
    if launched_from not in ORIGINS:
        raise ValueError(f"launched_from {launched_from!r} is not one of {', '.join(ORIGINS)}")
    return {LAUNCHED_BY: os_user(), LAUNCHED_FROM: launched_from}


def resources_config(
    settings: Settings, market: MarketDataResource, required: set[str]
) -> dict[str, Any]:
    """Run config for the home's resources the run uses: the lake, the warehouse, the market."""
    # The warehouse loads the reference data of the same instruments the run's assets know.
    instruments = str(settings.instruments_path) if settings.instruments_path else None
    config = {
        "lake": {"root": settings.lake_location},
        "warehouse": {"home": str(settings.home), "instruments_file": instruments},
        "market": market_config(market),
    }
    return {name: {"config": value} for name, value in config.items() if name in required}
