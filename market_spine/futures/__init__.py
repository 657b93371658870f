"""The futures domain: raw captures, normalized 1-minute bars and daily bars for CL, NG and ES."""

from market_spine.quiet import silence_dagster_previews

silence_dagster_previews()
