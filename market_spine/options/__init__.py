"""The options domain: SPX/SPXW chains, implied volatility and greeks, the volatility surface."""

from market_spine.quiet import silence_dagster_previews

silence_dagster_previews()
