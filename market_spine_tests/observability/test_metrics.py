"""The machinery's counters, counted where the work happens: ThetaData requests, errors, 429s
and tier-cap waits against the fake terminal over HTTP; IB historical requests, a pacing
refusal and the pacer's waits against the fake TWS; and the module stays below every domain."""

from __future__ import annotations

import ast
import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal
from market_spine.fakes.thetaterminal import Fault as ThetaFault
from market_spine.fakes.tws import FakeTWS, FakeTWSConfig, Fault
from market_spine.observability import metrics
from market_spine.observability.metrics import REGISTRY
from market_spine.providers.ib_pacing import HistoricalPacer, PacingRules
from market_spine.providers.thetadata import ThetaDataClient
from market_spine_tests.providers.test_ib import FAST_LIMITS, provider

DAY = date(2024, 3, 4)
EXPIRATION = date(2024, 3, 8)
EOD = "/option/history/eod"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_thetadata_requests_errors_429s_and_tier_waits_are_counted() -> None:
    before = {
        "requests": sample(
            "market_spine_provider_requests_total", provider="thetadata", request=EOD
        ),
        "429": sample("market_spine_provider_errors_total", provider="thetadata", error="http_429"),
        "refused": sample("market_spine_provider_pacing_violations_total", provider="thetadata"),
        "waits": sample("market_spine_provider_pacing_waits_total", provider="thetadata"),
    }
    config = FakeThetaConfig(today=DAY, faults=[ThetaFault("429", times=2)], delay=0.1)
    with (
        FakeThetaTerminal(config) as fake,
        ThetaDataClient(fake.url, tier="value", backoff_initial=0.01, backoff_max=0.05) as c,
    ):
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(lambda _: c.eod_chain("SPXW", DAY, EXPIRATION), range(6)))
        stats = fake.stats()
    requests = sample("market_spine_provider_requests_total", provider="thetadata", request=EOD)
    assert requests - before["requests"] == stats["requests_total"] == 8  # 6 + 2 retried
    errors = sample("market_spine_provider_errors_total", provider="thetadata", error="http_429")
    assert errors - before["429"] == 2
    refused = sample("market_spine_provider_pacing_violations_total", provider="thetadata")
    assert refused - before["refused"] == 2
    # Six threads on a tier of two slots: at least four waited for a slot.
    waits = sample("market_spine_provider_pacing_waits_total", provider="thetadata")
    assert waits - before["waits"] >= 4
    assert sample("market_spine_provider_pacing_wait_seconds_total", provider="thetadata") > 0


def test_ib_requests_and_a_pacing_refusal_are_counted() -> None:
    def counts() -> tuple[float, float, float]:
        return (
            sample(
                "market_spine_provider_requests_total", provider="ib", request="historical_data"
            ),
            sample("market_spine_provider_pacing_violations_total", provider="ib"),
            sample("market_spine_provider_errors_total", provider="ib", error="PacingViolation"),
        )

    before = counts()
    config = FakeTWSConfig(faults=[Fault("pacing")], pacing=FAST_LIMITS)
    with FakeTWS.running(config) as tws, provider(tws.port) as ib:
        ib.fetch_bars("CL", date(2024, 11, 13))
        stats = tws.stats()
    after = counts()
    assert after[0] - before[0] == stats["requests"]["historical_data"]
    assert after[1] - before[1] == 1 and after[2] - before[2] == 1


def test_the_pacer_counts_a_held_request_and_its_wait() -> None:
    rules = PacingRules(margin_s=0.0).scaled(0.01)  # an identical request waits 0.15 s

    async def twice() -> None:
        pacer = HistoricalPacer(rules)
        for _ in range(2):
            async with pacer.slot("same", "contract"):
                pass

    waits = sample("market_spine_provider_pacing_waits_total", provider="ib")
    seconds = sample("market_spine_provider_pacing_wait_seconds_total", provider="ib")
    asyncio.run(twice())
    assert sample("market_spine_provider_pacing_waits_total", provider="ib") - waits == 1
    waited = sample("market_spine_provider_pacing_wait_seconds_total", provider="ib") - seconds
    assert 0.1 <= waited < 1.0


def test_the_metrics_module_imports_nothing_of_the_platform() -> None:
    tree = ast.parse(Path(metrics.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"__future__", "prometheus_client"}
