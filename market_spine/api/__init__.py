"""The thin HTTP read layer: bars as JSON, CSV or Arrow IPC, plus health, readiness and metrics.

`create_app` is the only entry point; `market-spine api` serves it with uvicorn.
"""

from __future__ import annotations

from market_spine.api.app import create_app

__all__ = ["create_app"]
