"""What can go wrong talking to a ThetaTerminal, one class per cause, each saying what to fix;
and the internal markers the retry policy keys on (transient, malformed)."""

from __future__ import annotations

from market_spine.errors import ProviderError


class ThetaDataError(ProviderError):
    """Base of the ThetaTerminal client's errors."""


class ThetaDataUnavailable(ThetaDataError):
    """The terminal kept failing transiently (busy, reconnecting, starting, dropping
    connections) until the retry budget ran out; a later retry may succeed."""

    retry_helps = True


class ThetaDataPermission(ThetaDataError):
    """471: the subscription tier does not include the requested data."""

    retry_helps = False


class ThetaDataBadRequest(ThetaDataError):
    """473 (or another 4xx): a parameter is invalid; retrying the same request cannot help."""

    retry_helps = False


class ThetaDataWrongHost(ThetaDataError):
    """476: requests reached the terminal from both 127.0.0.1 and localhost."""

    retry_helps = False


class ThetaDataBadPayload(ThetaDataError):
    """The terminal answered 200 with a body that could not be parsed, every time we asked."""


class ThetaDataTooLarge(ThetaDataError):
    """570: the request is too large. The EOD and quote requests split themselves and raise
    this only once a piece cannot be split further; other requests raise it at once, naming
    the endpoint, what was asked and how to ask for less."""

    retry_helps = False


class _Transient(Exception):
    """A failure worth retrying (carries the reason for the final error message)."""


class _Malformed(_Transient):
    """A 200 with an unparseable body: retried, reported as a bad payload when it persists."""
