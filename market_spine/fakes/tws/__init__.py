"""A fake TWS / IB Gateway speaking the TWS API socket protocol, serving the simulated market.

`ib_async.IB().connect("127.0.0.1", port, clientId=1)` works against it unchanged. It serves
contract details (CL/NG on NYMEX, ES on CME), 1-minute historical TRADES bars and 5-second
real-time bars from `SimulatedMarket`, enforces TWS's historical-data pacing (error 162), and
injects scripted faults (162 no data, 200, 354, 1100/1101/1102, dropped sockets, slow replies).
"""

from market_spine.fakes.tws.config import FakeTWSConfig
from market_spine.fakes.tws.faults import Fault
from market_spine.fakes.tws.pacing import PacingLimits
from market_spine.fakes.tws.server import FakeTWS, FakeTWSThread, run_forever

__all__ = ["FakeTWS", "FakeTWSConfig", "FakeTWSThread", "Fault", "PacingLimits", "run_forever"]
