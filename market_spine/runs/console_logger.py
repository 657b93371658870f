"""The console logger of every run: Dagster's colored console logger, at WARNING unless a run's
config says otherwise. Dagster's default is DEBUG, which floods the terminal of `dagster dev`
with every event of every sensor- and schedule-launched run; the UI keeps all of them anyway."""

from __future__ import annotations

import logging

import dagster as dg
from dagster._loggers import create_console_logger
from dagster._utils.log import coerce_valid_log_level

DEFAULT_LEVEL = "WARNING"


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, is_required=False, default_value=DEFAULT_LEVEL),
        "name": dg.Field(str, is_required=False, default_value="dagster"),
    },
    description="Dagster's colored console logger, at WARNING by default.",
)
def run_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    """Warnings and errors of a run on its process's console; everything in its logs."""
    config = init_context.logger_config
    return create_console_logger(
        name=config["name"], level=coerce_valid_log_level(config["log_level"])
    )
