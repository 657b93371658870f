"""The installed package's version, recorded in commit metadata and shown by the API."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version


@lru_cache(maxsize=1)
def package_version() -> str:
    """The version of `market-spine`, or a marker when running from an uninstalled tree."""
    try:
        return version("market-spine")
    except PackageNotFoundError:
        return "0.0.0+unknown"
