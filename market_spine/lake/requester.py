"""Who is asking the object store: the User-Agent every request to an S3 lake carries, naming
the Market Spine version and, in a run's processes, the run.

The lake's requests are made in Rust (delta-rs, polars, obstore), where no Python code sees
them; the store's access log records each one's User-Agent, so the cost report can charge a
run's requests to that run's assets (`operations/cost/object_requests.py`).
"""

from __future__ import annotations

import re

from market_spine.version import package_version

PRODUCT = "market-spine"
#: The part of a User-Agent that names a run: `run/<run id>`.
_RUN = re.compile(r"(?:^|\s)run/([0-9A-Za-z_-]+)(?:\s|$)")


def user_agent(run_id: str | None = None) -> str:
    """`market-spine/<version>`, followed by ` run/<run_id>` for a run's requests."""
    agent = f"{PRODUCT}/{package_version()}"
    return f"{agent} run/{run_id}" if run_id else agent


def run_of(agent: str | None) -> str | None:
    """The run a Market Spine User-Agent names; None for another client's or a request made
    outside a run (the API, the CLI, a sensor)."""
    if not agent or not agent.startswith(f"{PRODUCT}/"):
        return None
    found = _RUN.search(agent)
    return found.group(1) if found else None
