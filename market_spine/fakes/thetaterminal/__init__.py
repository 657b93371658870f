"""A fake ThetaTerminal v3 REST server that serves the simulated option market over real HTTP.

It follows the documented v3 API (docs/thetaterminal.md says, per endpoint, where each behaviour
comes from): CSV by default, JSON in the row-grouped or the column-oriented layout, NDJSON, the
lists with their history, the contract filters, the parameter domains and limits with their
47x/570 answers. It enforces the tier concurrency with a bounded queue (overflow → 429) and
injects scripted or random faults (statuses, drops, truncation, malformed bodies, empty fields
and NaN prices), so the real `ThetaDataClient` is tested end to end on loopback.
"""

from market_spine.fakes.thetaterminal.app import FakeThetaApp, create_app
from market_spine.fakes.thetaterminal.config import (
    FakeThetaConfig,
    Fault,
    latest_trading_day,
    parse_fault,
)
from market_spine.fakes.thetaterminal.server import FakeThetaTerminal

__all__ = [
    "FakeThetaApp",
    "FakeThetaConfig",
    "FakeThetaTerminal",
    "Fault",
    "create_app",
    "latest_trading_day",
    "parse_fault",
]
