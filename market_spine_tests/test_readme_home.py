"""README's "Where things live" names every file and folder the platform keeps in a home, each
taken from the constant or function the code writes it by, so a new one cannot go unlisted."""

from __future__ import annotations

from pathlib import Path

from market_spine.catalog.listing import LISTING_FILE
from market_spine.cli.service_log import service_log_path
from market_spine.config.file import SETTINGS_FILE, SETTINGS_LOCK
from market_spine.config.history import HISTORY_FILE
from market_spine.lake.integrity import LEDGER_FILE
from market_spine.operations.alerts.rules import RULES_FILE
from market_spine.operations.alerts.store import STATE_FILE
from market_spine.settings import INSTRUMENTS_FILE
from market_spine.warehouse import paths
from market_spine_tests.kit.homes import settings_for

README = Path(__file__).resolve().parents[1] / "README.md"


def _where_things_live() -> str:
    text = README.read_text()
    start = text.index("## Where things live")
    return text[start : text.index("\n## ", start + 1)]


def test_every_path_a_home_holds_is_in_the_readme(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    home = settings.home.resolve()

    def inside(path: Path) -> str:
        return str(path.resolve().relative_to(home))

    kept = {
        f"{inside(settings.lake_root)}/<layer>/<dataset>/",
        f"{inside(settings.lake_root)}/{LEDGER_FILE}",
        inside(paths.warehouse_path(home)),
        Path(inside(paths.lock_path(home))).name,
        inside(paths.dbt_target_path(home)) + "/",
        inside(paths.home_seeds_path(home)) + "/",
        inside(settings.dagster_home) + "/",
        INSTRUMENTS_FILE,
        inside(service_log_path(home)),
        SETTINGS_FILE,
        SETTINGS_LOCK,
        HISTORY_FILE,
        RULES_FILE,
        str(STATE_FILE),
        f"{LISTING_FILE.parent}/",
        LISTING_FILE.name,
    }
    section = _where_things_live()
    missing = sorted(p for p in kept if f"`{p}`" not in section)
    assert missing == [], f"README's 'Where things live' does not name {missing}"
