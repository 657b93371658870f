"""The code location's executor: Dagster's default (every step in the run's process unless the
run's config asks for a process per step) measuring the run while its steps execute, so every run
records its usage whatever launched it: the CLI, a schedule's tick through the daemon, the UI, the
Kubernetes run launcher's Job. It runs in the process executing the run, so a run is metered
exactly once.

It is also the last gate before a run's steps: a worker that started after its run had already
ended (run monitoring failed it on its start timeout and the retry is under way, or an operator
canceled it) executes nothing, so a run never executes beside its own retry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.execution.retries import RetryMode
from dagster._core.storage.tags import RETRY_ON_ASSET_OR_OP_FAILURE_TAG

from market_spine.errors import SpineError
from market_spine.runs.instance_writes import prepare_event_writes
from market_spine.runs.meter import RunMeter, StepCpu
from market_spine.runs.outcome import retry_unsafe

if TYPE_CHECKING:
    from dagster._core.execution.context.system import PlanOrchestrationContext
    from dagster._core.execution.plan.plan import ExecutionPlan
    from dagster._core.executor.step_delegating.step_handler.base import StepDependencyConfig

#: The engine event that closes a metered run's steps: its usage, as the run's tags say.
RUN_METERED = "run metered"
#: Events that end a run: a worker finding one in its run's log started after the end.
_ENDINGS = {DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED}
#: Events that begin a step's execution (again, after a retry) and that end it.
_STEP_STARTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED}
_STEP_ENDS = {
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_UP_FOR_RETRY,
}


def step_assets(execution_plan: ExecutionPlan) -> Callable[[str], list[str]]:
    """The assets (`layer/name`) a step of the plan outputs or checks, by step key."""

    def assets_of(step_key: str) -> list[str]:
        found = []
        for output in execution_plan.get_step_by_key(step_key).step_outputs:
            props = output.properties
            check = props.asset_check_key
            key = props.asset_key or (check.asset_key if check is not None else None)
            if key is not None:
                found.append(key.to_user_string())
        return found

    return assets_of


class RunEndedBeforeStart(SpineError):
    """The run had already failed or been canceled when its worker got to execute it."""

    retry_helps = False


def ended_before_start(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """Why a run already ended before its steps were to execute (the failure or cancellation
    message in its log), or None when nothing ended it."""
    records = instance.get_records_for_run(run_id, of_type=_ENDINGS, limit=1).records
    if not records:
        return None
    entry = records[0].event_log_entry
    event = entry.dagster_event
    kind = event.event_type_value if event is not None else "ended"
    return " ".join((entry.message or kind).split())


#: The run tags that keep Dagster from retrying a run whose step failed in a way a retry
#: repeats (`outcome.retry_unsafe`).
NO_RETRY = {RETRY_ON_ASSET_OR_OP_FAILURE_TAG: "false"}


def _retry_unsafe(event: DagsterEvent) -> bool:
    data = event.step_failure_data if event.is_step_failure else None
    return data is not None and data.error is not None and retry_unsafe(data.error) is not None


class MeteredExecutor(dg.Executor):
    """Runs `inner` and records the run's usage as tags once every step has ended (before the
    run is reported finished), with an engine event saying the same in the run's log."""

    def __init__(self, inner: dg.Executor) -> None:
        self._inner = inner

    @property
    def retries(self) -> RetryMode:
        return self._inner.retries

    @property
    def step_dependency_config(self) -> StepDependencyConfig:
        return self._inner.step_dependency_config

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        from market_spine.providers.resource import requests_reported

        # A run the daemon or a run worker launched opened its own instance: its events (a
        # dozen per asset partition) go over held connections too.
        prepare_event_writes(plan_context.instance)
        # Dagster checks the run's status when the worker process starts, then spends seconds
        # (minutes on a loaded node) loading the code location: the run may have been failed
        # meanwhile, and its retry launched.
        why = ended_before_start(plan_context.instance, plan_context.run_id)
        if why is not None:
            raise RunEndedBeforeStart(
                f"run {plan_context.run_id} had already ended before its worker started it "
                f"({why[:200]}): nothing executed, so it never runs beside its retry"
            )
        meter = RunMeter().start()
        steps = StepCpu(step_assets(execution_plan))
        try:
            for event in self._inner.execute(plan_context, execution_plan):
                if event.step_key is not None and event.event_type in _STEP_STARTS:
                    steps.step_started(event.step_key, event.pid)
                elif event.step_key is not None and event.event_type in _STEP_ENDS:
                    steps.step_ended(event.step_key, event.pid)
                if _retry_unsafe(event):
                    # Every retry would fail the same way (damaged bytes, bad input, a
                    # blocking check): no automatic retry (dagster/will_retry stays false),
                    # so the owner is alerted at once and the failure names the fix.
                    plan_context.instance.add_run_tags(plan_context.run_id, NO_RETRY)
                yield event
        finally:
            meter.stop()
        run_id = plan_context.run_id
        tags = meter.tags(run_id, requests_reported(plan_context.instance, run_id), steps.by_asset)
        plan_context.instance.add_run_tags(run_id, tags)
        yield DagsterEvent.engine_event(
            plan_context,
            RUN_METERED,
            EngineEventData(metadata={k.rsplit("/", 1)[-1]: v for k, v in tags.items()}),
        )


#: The executor's mode when a run's config names none (schedules, sensors, declarative
#: automation, the UI's launchpad). Every job of the platform is a chain of steps, each waiting
#: for the one before, or a single op: a process per step buys no parallelism and costs each
#: step a Python that loads the whole code location (seconds of CPU and ~200 MB a step). A run
#: that wants parallel steps asks for `multiprocess` in its config.
DEFAULT_EXECUTION: dict[str, dict[str, object]] = {"in_process": {}}


@dg.executor(
    name="metered",
    config_schema=dg.Field(
        dg.multi_or_in_process_executor.config_schema.config_type,
        default_value=DEFAULT_EXECUTION,
        description="`in_process` (the default: every step in the run's process) or "
        "`multiprocess` (a process per step).",
    ),
    requirements=dg.multi_or_in_process_executor.get_requirements,
)
def metered_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's default executor, configured the same way (`in_process` or `multiprocess`),
    in process when unset (`DEFAULT_EXECUTION`), measuring each run it executes."""
    create = dg.multi_or_in_process_executor.executor_creation_fn
    if create is None:  # Dagster's default executor always has one
        raise RuntimeError("Dagster's default executor cannot be created")
    return MeteredExecutor(create(init_context))
