"""The configured bar source as a Dagster resource: the provider setting picks the adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from pydantic import Field, SecretStr

from market_spine.config.secrets import split_credentials
from market_spine.errors import InvalidInput, SpineError
from market_spine.observability.ledger import flush, flush_at_exit, ledger_path
from market_spine.providers.base import BarProvider, ChainProvider, QuoteProvider
from market_spine.settings import DEFAULT_THETADATA_URL, Settings

AVAILABLE = ("simulated", "ib")


class MarketDataResource(dg.ConfigurableResource):
    """Which source captures bars; the simulated market's seed and defects; a frozen clock."""

    provider: str = "simulated"
    seed: int = 7
    defects: list[str] = Field(default_factory=list)
    frozen_now: str | None = None
    options_provider: str = "simulated"
    thetadata_url: str = DEFAULT_THETADATA_URL
    thetadata_tier: str = "standard"
    #: A PEM bundle of CAs for an https:// terminal (None: the system's). The terminal's
    #: credentials are never part of this resource's config: see `thetadata_credentials`.
    thetadata_ca_bundle: str | None = None
    ib_host: str = "127.0.0.1"
    ib_port: int = 4002
    ib_client_id: int = 1
    #: Seconds a capture waits for TWS / IB Gateway to accept a connection before failing.
    ib_unavailable_after: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> MarketDataResource:
        """The resource a home's settings describe (providers, seed, endpoints)."""
        return cls(
            provider=settings.provider,
            seed=settings.sim_seed,
            options_provider=settings.options_provider,
            thetadata_url=settings.thetadata_url,
            thetadata_tier=settings.thetadata_tier,
            thetadata_ca_bundle=(
                str(settings.thetadata_ca_bundle) if settings.thetadata_ca_bundle else None
            ),
            ib_host=settings.ib_host,
            ib_port=settings.ib_port,
            ib_client_id=settings.ib_client_id,
        )

    def thetadata_credentials(self) -> SecretStr | None:
        """The terminal's credentials, read where the capture runs from the home's settings
        (environment, `*_FILE`, settings file) when they name this terminal; so they never
        travel in a run's config, tags or the UI's view of this resource."""
        try:
            settings = Settings.from_env()
        except SpineError:
            return None
        if split_credentials(self.thetadata_url)[0] != settings.thetadata_url:
            return None
        return settings.thetadata_credentials

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Write what this process counted of the providers to the home's ledger as the step
        ends, so the API's `/metrics` shows the run's requests while later steps still run."""
        ledger = _home_ledger()
        if ledger is not None:
            flush(ledger)

    def now(self) -> datetime:
        """The current time, or the frozen instant when set (tests and replays)."""
        if self.frozen_now:
            return datetime.fromisoformat(self.frozen_now.replace("Z", "+00:00"))
        return datetime.now(UTC)

    def chains(self) -> ChainProvider:
        """The option-chain adapter named by `options_provider`: simulated or thetadata."""
        _count_in_home()
        if self.options_provider == "thetadata":
            from market_spine.providers.thetadata import ThetaDataClient
            from market_spine.providers.thetadata.chains import ThetaDataChainProvider

            client = ThetaDataClient(
                base_url=self.thetadata_url,
                tier=self.thetadata_tier,
                credentials=self.thetadata_credentials(),
                ca_bundle=self.thetadata_ca_bundle,
            )
            return ThetaDataChainProvider(client)
        if self.options_provider != "simulated":
            raise InvalidInput(
                f"options provider {self.options_provider!r} is not simulated or thetadata"
            )
        from market_spine.providers.simulated_options import (
            SimulatedChainProvider,
            SimulatedOptionMarket,
        )

        return SimulatedChainProvider(SimulatedOptionMarket(seed=self.seed))

    def quotes(self) -> QuoteProvider:
        """The intraday option-quote adapter named by `options_provider`."""
        if self.options_provider == "thetadata":
            return self.chains()  # type: ignore[return-value]  # it serves quotes too
        from market_spine.providers.simulated_option_quotes import SimulatedQuoteProvider
        from market_spine.providers.simulated_options import SimulatedOptionMarket

        self.chains()  # validates options_provider
        return SimulatedQuoteProvider(SimulatedOptionMarket(seed=self.seed), now=self.now())

    def get(self) -> BarProvider:
        """The adapter named by `provider`."""
        _count_in_home()
        if self.provider == "simulated":
            from market_spine.providers.simulated import SimulatedMarket, SimulatedProvider

            market = SimulatedMarket(seed=self.seed, defects=self.defects, clock=self.now)
            return SimulatedProvider(market)
        if self.provider == "ib":
            from market_spine.providers.ib import IBProvider
            from market_spine.providers.ib_connection import IBSettings

            tws = IBSettings(
                host=self.ib_host,
                port=self.ib_port,
                client_id=self.ib_client_id,
                unavailable_after=self.ib_unavailable_after,
            )
            return IBProvider(tws, clock=self.now)
        raise InvalidInput(
            f"provider {self.provider!r} is not available; choose one of {', '.join(AVAILABLE)}"
        )


def _home_ledger() -> Path | None:
    """The ledger of the home this process works for (`MARKET_SPINE_HOME`, which every run
    process inherits); None when it names no usable home."""
    try:
        return ledger_path(Settings.home_from_env())
    except SpineError:
        return None


def _count_in_home() -> None:
    """This process's provider counters reach the home's ledger when it exits (a run's step
    process, the CLI executing a run), whatever ends the step."""
    ledger = _home_ledger()
    if ledger is not None:
        flush_at_exit(ledger)
