"""`python -m market_spine.cli`: the same command line as `market-spine`."""

from market_spine.cli import app

app()
