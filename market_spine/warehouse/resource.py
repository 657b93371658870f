"""Running dbt against one home's warehouse: the home reaches profiles.yml through
MARKET_SPINE_HOME and its reference seeds reach dbt_project.yml through MARKET_SPINE_SEEDS, and
every invocation holds the warehouse's writer lock."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliInvocation, DbtCliResource

from market_spine.process_environment import RUN_ID, overwrite
from market_spine.warehouse.lock import DEFAULT_TIMEOUT_S, warehouse_lock
from market_spine.warehouse.paths import (
    DBT_PROJECT_DIR,
    SEEDS_DIR,
    dbt_target_path,
    lock_path,
    warehouse_path,
)
from market_spine.warehouse.project import (
    dbt_resource,
    discard_foreign_partial_parse,
    seed_partial_parse,
)
from market_spine.warehouse.publication import shared_warehouse
from market_spine.warehouse.reading import read_only
from market_spine.warehouse.seeds import seeds_folder

if TYPE_CHECKING:
    from market_spine.settings import Settings

_ENV_LOCK = threading.Lock()  # os.environ is process-wide: one invocation sets it at a time
#: The trade-date window of a partitioned build (inclusive ISO dates), which the
#: `trade_date_window` macro reads from the environment.
WINDOW_VARIABLES = ("MARKET_SPINE_START_DATE", "MARKET_SPINE_END_DATE")
#: What dbt reads from the environment for one invocation: profiles.yml's home,
#: dbt_project.yml's seeds, the build's window.
_ENV = ("MARKET_SPINE_HOME", "MARKET_SPINE_SEEDS", *WINDOW_VARIABLES, RUN_ID)


class WarehouseResource(dg.ConfigurableResource):
    """The home whose `warehouse/spine.duckdb` dbt builds; the instruments file whose roots its
    reference seeds cover (None: the home's own `instruments.toml`, if any); how long a build
    waits for the lock."""

    home: str
    instruments_file: str | None = None
    lock_timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def for_settings(cls, settings: Settings) -> WarehouseResource:
        """The resource of a home, with the instruments file its settings name."""
        named = settings.instruments_path
        return cls(home=str(settings.home), instruments_file=str(named) if named else None)

    @property
    def path(self) -> Path:
        """The DuckDB file."""
        return warehouse_path(Path(self.home))

    @property
    def lock_file(self) -> Path:
        """The readers-writer lock file beside it."""
        return lock_path(Path(self.home))

    @property
    def target_path(self) -> Path:
        """dbt's artifacts and logs for this home (`paths.dbt_target_path`)."""
        return dbt_target_path(Path(self.home))

    @property
    def instruments_path(self) -> Path | None:
        """The instruments file this home's warehouse follows, if any."""
        from market_spine.settings import instruments_path

        named = Path(self.instruments_file) if self.instruments_file else None
        return instruments_path(Path(self.home), named)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the exclusive lock: the only way this code base writes the warehouse. Where
        nodes do not share the home, the build starts from the newest published warehouse
        and what it built is published when it ends without error (`publication`)."""
        with warehouse_lock(self.lock_file, timeout_s=self.lock_timeout_s):
            shared = shared_warehouse(Path(self.home))
            if shared is not None:
                shared.before_build()
            yield
            if shared is not None:
                shared.publish()

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, opened under the shared lock so it never meets a build."""
        with read_only(Path(self.home), self.lock_timeout_s) as conn:
            yield conn

    def dbt_environment(
        self, window: Mapping[str, str | None] | None = None
    ) -> dict[str, str | None]:
        """What dbt reads from the environment for this home (None: unset), with the home's
        reference seeds brought up to date first; `window` sets WINDOW_VARIABLES (unset when
        None). A bad instruments file raises InvalidInput."""
        seeds = seeds_folder(Path(self.home), self.instruments_path)
        return (
            {
                "MARKET_SPINE_HOME": str(Path(self.home).resolve()),
                # The project's default seeds: dbt sees what it always saw. Others relative to the
                # project: with an absolute seed folder, dbt's partial parse takes every seed for
                # changed on the next run and then fails to load them.
                "MARKET_SPINE_SEEDS": None
                if seeds == SEEDS_DIR
                else os.path.relpath(seeds, DBT_PROJECT_DIR),
            }
            | dict.fromkeys(WINDOW_VARIABLES)
            | dict(window or {})
        )

    def invoke(
        self,
        dbt: DbtCliResource,
        args: Sequence[str],
        context: Any = None,
        window: Mapping[str, str | None] | None = None,
        **kwargs: Any,
    ) -> DbtCliInvocation:
        """Start `dbt <args>` for this home; the caller must hold `writing()` until it ends.
        `window` sets WINDOW_VARIABLES (unset when None). The home's reference seeds are
        brought up to date first; a bad instruments file raises InvalidInput before dbt
        starts."""
        environment = self.dbt_environment(window)
        run = getattr(context, "run", None)
        environment[RUN_ID] = run.run_id if run is not None else None
        with _ENV_LOCK:
            # Overwritten, never added or removed (market_spine.process_environment): threads
            # of this process may be reading the environment meanwhile.
            previous = {name: os.environ.get(name) for name in _ENV}
            for name, value in environment.items():
                overwrite(name, value)
            try:
                # dbt starts here (Popen copies os.environ), so the variables can be restored.
                kwargs.setdefault("target_path", self.target_path)
                # dagster-dbt seeds a new target with the project's partial parse: both must
                # have been made for this checkout's project folder.
                discard_foreign_partial_parse(DBT_PROJECT_DIR / "target")
                discard_foreign_partial_parse(kwargs["target_path"])
                seed_partial_parse(kwargs["target_path"])
                return dbt.cli(list(args), context=context, **kwargs)
            finally:
                for name, value in previous.items():
                    overwrite(name, value)

    def run(self, args: Sequence[str], dbt: DbtCliResource | None = None) -> DbtCliInvocation:
        """Run dbt outside Dagster (tests, benchmarks) to the end, under the writer lock."""
        with self.writing():
            invocation = self.invoke(dbt or dbt_resource(), args, raise_on_error=False)
            invocation.wait()
        return invocation
