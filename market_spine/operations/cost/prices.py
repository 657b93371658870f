"""The price sheet: what a unit of compute, storage and provider traffic costs, in US dollars.
Defaults below; a home overrides any of them in `<home>/prices.toml` (see prices.example.toml):

    vcpu_hour = 0.04          # $ per vCPU-hour of run CPU time
    gb_month = 0.023          # $ per GB-month kept (the lake's versions and the warehouse)
    per_1k_requests = 0.0     # $ per 1,000 provider requests, any provider
    [per_1k_requests_by_provider]
    thetadata = 0.0
    [subscriptions]           # $ per month, per provider
    thetadata = 80.0
    [per_1k_object_requests]  # $ per 1,000 requests to the lake's object store, by kind
    get = 0.0004              # (defaults: S3 Standard's list prices; HEAD is priced as GET)
    head = 0.0004
    put = 0.005
    list = 0.005
    delete = 0.0
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from market_spine.config.file import did_you_mean
from market_spine.errors import InvalidInput, raise_all
from market_spine.settings import OPTIONS_PROVIDERS
from market_spine.settings import PROVIDERS as FUTURES_PROVIDERS

PRICES_FILE = "prices.toml"
_NUMBERS = ("vcpu_hour", "gb_month", "per_1k_requests")
_TABLES = ("per_1k_requests_by_provider", "subscriptions", "per_1k_object_requests")
#: The providers a run may send requests to and a subscription may be for (the simulated
#: market costs nothing).
PROVIDERS = tuple(sorted({*FUTURES_PROVIDERS, *OPTIONS_PROVIDERS} - {"simulated"}))
#: The kinds of object-store request the cost report counts.
OBJECT_REQUESTS = ("get", "head", "put", "list", "delete")
#: $ per 1,000 object-store requests by kind: S3 Standard's (PUT, COPY, POST and LIST are one
#: class; GET, HEAD and the rest another; DELETE is free).
OBJECT_REQUEST_PRICES = {"get": 0.0004, "head": 0.0004, "put": 0.005, "list": 0.005, "delete": 0.0}


@dataclass(frozen=True)
class PriceSheet:
    """Unit prices in $: per vCPU-hour, per GB-month (10^9 bytes over 30 days), per 1,000
    provider requests (a provider's own price over the general one), each provider's
    monthly subscription, and per 1,000 object-store requests of each kind."""

    vcpu_hour: float = 0.04
    gb_month: float = 0.023
    per_1k_requests: float = 0.0
    per_1k_requests_by_provider: dict[str, float] = field(default_factory=dict)
    subscriptions: dict[str, float] = field(default_factory=dict)
    per_1k_object_requests: dict[str, float] = field(
        default_factory=lambda: dict(OBJECT_REQUEST_PRICES)
    )

    def request_price(self, provider: str) -> float:
        """$ per 1,000 requests to `provider`."""
        return self.per_1k_requests_by_provider.get(provider, self.per_1k_requests)

    @classmethod
    def parse(cls, data: Mapping[str, Any], source: str) -> PriceSheet:
        """A sheet from parsed TOML; InvalidInput naming every unknown key, provider or kind of
        request and every price that is not a non-negative number, all at once."""
        problems: list[str] = []
        unknown = set(data) - set(_NUMBERS) - set(_TABLES)
        if unknown:
            problems.append(
                f"{source}: unknown price {', '.join(sorted(unknown))}; the sheet knows "
                f"{', '.join(_NUMBERS + _TABLES)} (prices.example.toml shows each)"
            )
        values: dict[str, Any] = {}
        for name in _NUMBERS:
            if name in data:
                values[name] = _price(data[name], f"{source}: {name}", problems)
        for name in _TABLES:
            table = data.get(name, {})
            names = OBJECT_REQUESTS if name == "per_1k_object_requests" else PROVIDERS
            what = "kind of request" if name == "per_1k_object_requests" else "provider"
            if not isinstance(table, Mapping):
                problems.append(
                    f"{source}: [{name}] must be a table of {what} = $ amount, with the "
                    f"{what}s {', '.join(names)}"
                )
                continue
            for key in sorted(set(map(str, table)) - set(names)):
                problems.append(
                    f"{source}: [{name}] has {key!r}, which is no {what}"
                    f"{did_you_mean(key, names)}; the {what}s are {', '.join(names)}"
                )
            values[name] = {
                str(k): _price(v, f"{source}: {name}.{k}", problems)
                for k, v in table.items()
                if str(k) in names
            }
        raise_all(problems)
        values["per_1k_object_requests"] = OBJECT_REQUEST_PRICES | values["per_1k_object_requests"]
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        return {
            "vcpu_hour": self.vcpu_hour,
            "gb_month": self.gb_month,
            "per_1k_requests": self.per_1k_requests,
            "per_1k_requests_by_provider": dict(self.per_1k_requests_by_provider),
            "subscriptions": dict(self.subscriptions),
            "per_1k_object_requests": dict(self.per_1k_object_requests),
        }


def _price(value: Any, where: str, problems: list[str]) -> float:
    """`value` as a price in $; a problem noted (and 0.0) when it is not a number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        problems.append(f"{where} = {value!r} is not a price: give a number of dollars >= 0")
        return 0.0
    return float(value)


def load_prices(home: Path) -> PriceSheet:
    """The home's price sheet: `<home>/prices.toml` over the defaults (the defaults alone when
    the file is absent). A file that is not TOML or holds a bad price raises InvalidInput."""
    path = home / PRICES_FILE
    if not path.is_file():
        return PriceSheet()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML ({exc}): fix or remove it") from None
    return PriceSheet.parse(data, str(path))
