"""The ThetaData provider: an httpx client of the ThetaTerminal v3 REST API (client), its payload
parsing (payloads), its errors (errors) and the chain and quote providers built on it (chains)."""

from market_spine.providers.thetadata.client import (
    SOURCE,
    TIER_CONCURRENCY,
    EodCapture,
    ThetaDataClient,
)
from market_spine.providers.thetadata.errors import (
    ThetaDataBadPayload,
    ThetaDataBadRequest,
    ThetaDataError,
    ThetaDataPermission,
    ThetaDataTooLarge,
    ThetaDataUnavailable,
    ThetaDataWrongHost,
)
from market_spine.providers.thetadata.payloads import EOD_SCHEMA, OPEN_INTEREST_SCHEMA

__all__ = [
    "EOD_SCHEMA",
    "OPEN_INTEREST_SCHEMA",
    "SOURCE",
    "TIER_CONCURRENCY",
    "EodCapture",
    "ThetaDataBadPayload",
    "ThetaDataBadRequest",
    "ThetaDataClient",
    "ThetaDataError",
    "ThetaDataPermission",
    "ThetaDataTooLarge",
    "ThetaDataUnavailable",
    "ThetaDataWrongHost",
]
