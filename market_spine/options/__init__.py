"""Option analytics: Black-76 implied volatility and greeks for SPX/SPXW European options."""
