"""What the fake TWS serves and how it misbehaves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from market_spine.fakes.tws.faults import Fault
from market_spine.fakes.tws.pacing import PacingLimits


@dataclass
class FakeTWSConfig:
    """Settings of one fake TWS / IB Gateway.

    `start`/`speed` set the market clock (default: now, real time): history is served up to it,
    real-time bars follow it, so `speed=100` streams a 5-second bar every 50 ms. `pacing` holds
    the historical-data pacing windows (`PacingLimits().scaled(0.02)` for fast runs).
    """

    seed: int = 7
    accounts: tuple[str, ...] = ("DU1234567",)
    start: datetime | None = None
    speed: float = 1.0
    pacing: PacingLimits = field(default_factory=PacingLimits)
    enforce_pacing: bool = True
    faults: list[Fault] = field(default_factory=list)
    #: Extra seconds before every historical reply (on top of `slow` faults).
    reply_delay: float = 0.0
    #: Send the 2104/2106/2158 "farm connection is OK" notices after the API starts, as TWS does.
    farm_notices: bool = True
