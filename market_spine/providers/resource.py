"""The configured bar source as a Dagster resource: the provider setting picks the adapter."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from market_spine.errors import InvalidInput
from market_spine.providers.base import BarProvider, ChainProvider

AVAILABLE = ("simulated",)


class MarketDataResource(dg.ConfigurableResource):
    """Which source captures bars; the simulated market's seed and defects; a frozen clock."""

    provider: str = "simulated"
    seed: int = 7
    defects: list[str] = Field(default_factory=list)
    frozen_now: str | None = None

    def now(self) -> datetime:
        """The current time, or the frozen instant when set (tests and replays)."""
        if self.frozen_now:
            return datetime.fromisoformat(self.frozen_now.replace("Z", "+00:00"))
        return datetime.now(UTC)

    def chains(self) -> ChainProvider:
        """The option-chain adapter named by `provider` (futures-only sources serve simulated)."""
        from market_spine.providers.simulated_options import (
            SimulatedChainProvider,
            SimulatedOptionMarket,
        )

        return SimulatedChainProvider(SimulatedOptionMarket(seed=self.seed))

    def get(self) -> BarProvider:
        """The adapter named by `provider`."""
        if self.provider == "simulated":
            from market_spine.providers.simulated import SimulatedMarket, SimulatedProvider

            market = SimulatedMarket(seed=self.seed, defects=self.defects, clock=self.now)
            return SimulatedProvider(market)
        raise InvalidInput(
            f"provider {self.provider!r} is not available; choose one of {', '.join(AVAILABLE)}"
        )
