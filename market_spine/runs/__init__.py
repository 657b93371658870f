"""Launching Dagster runs from Python (the CLI, vendor-file imports, benchmarks), so each run
lands in the home's instance and shows in the UI like one launched from there."""
