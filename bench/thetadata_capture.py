"""Requests and bytes of one day's ThetaData capture through the adapter and the fake terminal:
the EOD chain (EOD report, open interest, index close for SPX and SPXW) and the quotes of the
two nearest SPXW expirations.

The quotes are measured three ways against the same terminal in the same run: one request per
expiration (ours), one request for every expiration filtered by `max_dte` on the terminal, and
the whole chain's quotes (`expiration=*`) cut to the two expirations on the client (baseline).
Quotes are sampled at 15 minutes so the baseline's whole chain stays within what a 2-core
machine downloads quickly; the ratios hold at any interval.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import date

import httpx
import polars as pl
import report

from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal
from market_spine.options.raw_quotes import nearest_expirations
from market_spine.providers.thetadata import ThetaDataClient
from market_spine.providers.thetadata.chains import ThetaDataChainProvider
from market_spine.providers.thetadata.client import session_window

DAY = date(2024, 3, 8)
INTERVAL = "15m"


def _measure(term: FakeThetaTerminal, run: Callable[[], int]) -> dict[str, float]:
    before = term.stats()
    began = time.perf_counter()
    rows = run()
    seconds = time.perf_counter() - began
    after = term.stats()
    return {
        "requests": after["requests_total"] - before["requests_total"],
        "bytes": after["bytes_total"] - before["bytes_total"],
        "rows": rows,
        "seconds": seconds,
    }


def main() -> None:
    """Serve the fake, capture one day each way, print the figures side by side."""
    wanted = nearest_expirations(DAY)
    window = session_window(DAY)
    results: dict[str, dict[str, float]] = {}
    config = FakeThetaConfig(today=DAY, max_quote_rows=20_000_000)
    with FakeThetaTerminal(config) as term, ThetaDataClient(term.url) as client:
        chains = ThetaDataChainProvider(client)

        def chain() -> int:
            return sum(chains.fetch_chain(root, DAY).chain.height for root in ("SPX", "SPXW"))

        def per_expiration() -> int:
            return sum(client.quotes("SPXW", e, DAY, INTERVAL).quotes.height for e in wanted)

        def star(max_dte: int | None) -> int:
            params = {
                "symbol": "SPXW",
                "expiration": "*",
                "date": f"{DAY:%Y%m%d}",
                "interval": INTERVAL,
                **window,
            }
            if max_dte is not None:
                params["max_dte"] = str(max_dte)
            body = httpx.get(f"{term.url}/option/history/quote", params=params, timeout=600)
            body.raise_for_status()
            frame = pl.read_csv(io.BytesIO(body.content), infer_schema_length=None)
            keep = [e.isoformat() for e in wanted]
            return frame.filter(pl.col("expiration").is_in(keep)).height

        report.log("EOD chain")
        results["EOD chain, SPX + SPXW (EOD, open interest, index)"] = _measure(term, chain)
        report.log("quotes per expiration")
        results["quotes: one request per expiration (ours)"] = _measure(term, per_expiration)
        report.log("quotes with max_dte")
        dte = (wanted[-1] - DAY).days
        results[f"quotes: expiration=* max_dte={dte}"] = _measure(term, lambda: star(dte))
        report.log("quotes of the whole chain")
        results["quotes: expiration=*, cut on the client (baseline)"] = _measure(
            term, lambda: star(None)
        )
    report.table(
        f"One day's ThetaData capture ({DAY}, quotes at {INTERVAL}) via the fake terminal",
        ["capture", "requests", "MiB", "rows kept", "seconds"],
        [
            [name, r["requests"], round(r["bytes"] / 2**20, 2), r["rows"], round(r["seconds"], 2)]
            for name, r in results.items()
        ],
    )
    report.save("thetadata_capture", {"day": str(DAY), "interval": INTERVAL, "runs": results})


if __name__ == "__main__":
    main()
