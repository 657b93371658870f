"""The options domain: SPX/SPXW chains, implied volatility and greeks, the volatility surface."""
