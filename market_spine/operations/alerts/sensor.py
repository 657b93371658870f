"""The alert sensor: one evaluation a minute in the daemon, reading the instance since the last
one. It never requests a run and never fails: a bad rules file or an unreadable instance is
logged and shown as the tick's skip reason, and the next tick tries again."""

from __future__ import annotations

import dagster as dg

from market_spine.errors import SpineError
from market_spine.operations.alerts.engine import evaluate_home
from market_spine.operations.alerts.rules import RULES_FILE
from market_spine.operations.alerts.ticks import job_datasets_of, schedules_of
from market_spine.settings import Settings

#: Seconds between evaluations.
INTERVAL_S = 60


def build_alerts_sensor(settings: Settings) -> dg.SensorDefinition:
    """The alert sensor of a home: routes what happened by `<home>/alerts.toml`."""
    home = settings.home

    @dg.sensor(
        name="alert_routing",
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Route failed checks, freshness breaches, failed runs, missed ticks, pacing "
            f"violations and low disk to the sinks of {home / RULES_FILE}."
        ),
    )
    def alert_routing(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        repository = context.repository_def
        try:
            report = evaluate_home(
                home,
                context.instance,
                schedules=schedules_of(repository) if repository else (),
                job_datasets=job_datasets_of(repository) if repository else None,
            )
        except SpineError as exc:
            context.log.error(f"alerts not evaluated: {exc}")
            return dg.SkipReason(f"alerts not evaluated: {exc}")
        except Exception as exc:  # a sensor that raises stops alerting; say why and go on
            context.log.exception("alert evaluation failed")
            return dg.SkipReason(f"alert evaluation failed: {type(exc).__name__}: {exc}")
        if report is None:
            return dg.SkipReason(f"no {home / RULES_FILE}: alerting is off")
        for failure in report.failures:
            context.log.warning(failure)
        return dg.SkipReason(report.line())

    return alert_routing
