"""The platform's error classes: each says what is wrong and how to fix it."""

from __future__ import annotations


class SpineError(Exception):
    """Base of every error the platform raises on purpose."""


class InvalidInput(SpineError, ValueError):
    """A caller's input (symbol, date, range, config value, payload) is not acceptable."""


class UnknownSymbol(InvalidInput):
    """The symbol is not a configured instrument."""


class InvalidDate(InvalidInput):
    """A date or timestamp could not be parsed or is out of range."""


class NotATradingDay(InvalidInput):
    """The date has no session on the instrument's exchange calendar."""


class InvalidRange(InvalidInput):
    """A start/end pair is reversed, empty or too wide."""


class ProviderError(SpineError):
    """A market-data source failed; subclasses say whether a retry can help."""


class LakeError(SpineError):
    """A Delta table could not be read or written."""


class NotMaterialized(LakeError):
    """A dataset has no data yet: it must be materialized before it can be read."""


class ProviderUnavailable(ProviderError):
    """The source cannot be reached or lost its upstream link; a retry later can help."""


class NotSubscribed(ProviderError):
    """The account lacks the market-data subscription the request needs; retrying cannot help."""


class UnknownContract(ProviderError):
    """The source has no definition of the requested contract (wrong month, exchange, expiry)."""


class PacingViolation(ProviderError):
    """The source refused a request for exceeding its request-rate (pacing) limits."""
