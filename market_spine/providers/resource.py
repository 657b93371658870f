"""The configured bar source as a Dagster resource: the provider setting picks the adapter."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
from dagster._core.events import EngineEventData
from pydantic import Field, PrivateAttr, SecretStr

from market_spine.config.secrets import split_credentials
from market_spine.errors import InvalidInput, SpineError
from market_spine.observability.ledger import Ledger, flush, flush_at_exit, ledger_database
from market_spine.observability.metrics import requests_sent
from market_spine.providers.base import BarProvider, ChainProvider, QuoteProvider
from market_spine.settings import DEFAULT_THETADATA_URL, Settings

AVAILABLE = ("simulated", "ib")
#: The engine event a run's step reports when its market resource is torn down: the requests
#: sent to each provider meanwhile, as metadata (`thetadata: 120`). The run's executor sums them
#: into the run's usage, whichever process (the run's, or a step's own) sent them.
REQUESTS_SENT = "market data: provider requests sent"


def requests_reported(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """The provider requests the steps of `run_id` reported, summed per provider."""
    sent: dict[str, int] = {}
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=100_000
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None or event.message != REQUESTS_SENT:
            continue
        data = event.event_specific_data
        for provider, value in getattr(data, "metadata", {}).items():
            sent[provider] = sent.get(provider, 0) + int(getattr(value, "value", 0))
    return sent


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
    _sent_before: dict[str, float] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Note the requests this process has sent so far, to report the step's own."""
        self._sent_before = requests_sent()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Report the requests sent while this resource served the run (REQUESTS_SENT: the
        counters are per process, and a step may run in a process of its own), and write what
        this process counted to the home's ledger, so the API's `/metrics` shows the run's
        requests while later steps still run."""
        ledger = _home_ledger()
        if ledger is not None:
            flush(ledger)
        sent = {
            provider: int(count - self._sent_before.get(provider, 0))
            for provider, count in requests_sent().items()
        }
        sent = {provider: n for provider, n in sorted(sent.items()) if n > 0}
        run = context.run
        if not sent or run is None or context.instance is None:
            return
        context.instance.report_engine_event(
            REQUESTS_SENT,
            run,
            EngineEventData(metadata={p: dg.MetadataValue.int(n) for p, n in sent.items()}),
        )

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


def _home_ledger() -> Ledger | None:
    """The ledger of the home this process works for (`MARKET_SPINE_HOME`, which every run
    process inherits); None when it names no usable home, or its ledger's database cannot be
    resolved."""
    try:
        return ledger_database(Settings.home_from_env())
    except SpineError:
        return None


def _count_in_home() -> None:
    """This process's provider counters reach the home's ledger when it exits (a run's step
    process, the CLI executing a run), whatever ends the step."""
    ledger = _home_ledger()
    if ledger is not None:
        flush_at_exit(ledger)
