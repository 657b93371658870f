"""Settings an operator persists in a home: the TOML file beneath the environment (file), the
change history (history), who is acting (identity), secret masking (secrets), connectivity
probes (connectivity) and the edits `market-spine config` makes (edit).

`file` must not import `market_spine.settings` (the settings read it); the other modules may.
"""
