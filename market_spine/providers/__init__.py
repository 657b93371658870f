"""Market-data sources behind one small protocol: simulated, thetadata, ib, file."""
