"""Settings an operator persists in a home: the TOML file beneath the environment (file), the
change history (history), secret masking (secrets), connectivity probes (connectivity) and the
edits `market-spine config` makes (edit).

`file` must not import `market_spine.settings` (the settings read it); the other modules may.
"""
