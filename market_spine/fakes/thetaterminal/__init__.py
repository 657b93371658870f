"""A fake ThetaTerminal v3 REST server that serves the simulated option market over real HTTP.

It speaks the wire format of `shared/reference/providers.md` (CSV by default, JSON in the
row-grouped or the column-oriented layout, the 47x/57x status codes), enforces the tier
concurrency with a bounded queue (overflow → 429) and injects scripted or random faults, so the
real `ThetaDataClient` is tested end to end on loopback.
"""

from market_spine.fakes.thetaterminal.app import FakeThetaApp, create_app
from market_spine.fakes.thetaterminal.config import FakeThetaConfig, Fault, latest_trading_day
from market_spine.fakes.thetaterminal.server import FakeThetaTerminal

__all__ = [
    "FakeThetaApp",
    "FakeThetaConfig",
    "FakeThetaTerminal",
    "Fault",
    "create_app",
    "latest_trading_day",
]
