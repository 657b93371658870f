"""Alert routing: conditions seen in the Dagster instance and on the host (failed checks,
freshness breaches, failed runs, missed schedule ticks, IB pacing violations, low disk), routed
by the rules file to webhook, Slack-compatible and email sinks, deduplicated while open and
resolved when they clear."""
