"""Real-time futures bars: 5-second bars from TWS landed as micro-batch captures, closed minutes
aggregated into the normalized table, every bar pushed to WebSocket subscribers."""
