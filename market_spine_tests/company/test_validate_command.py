"""`market-spine company validate` lists every dataset that loads on stdout, the package's
built-in ones and the home's, each with where it comes from; warnings about loaded datasets
and the problems of refused files go to stderr, closed by a count naming the folders read;
it exits 1 when a file is refused and 0 when only warnings remain."""

from __future__ import annotations

from pathlib import Path

from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.home_defs import home_folder
from market_spine_tests.company.test_home_defs import VENDORS, _broken, _cli, _home


def _unsplit(home: Path) -> Path:
    path = home_folder(home) / "unsplit.yaml"
    text = VENDORS.replace("name: vendors", "name: unsplit").replace("vendors_drop", "unsplit")
    path.write_text(text.replace("  tenant_column: tenant\n", ""))
    return path


def test_validate_lists_on_stdout_and_warns_and_refuses_on_stderr(tmp_path: Path) -> None:
    home = _home(tmp_path)
    broken = _broken(home)
    unsplit = _unsplit(home)
    checked = _cli(home, "company", "validate")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    listed = checked.stdout.splitlines()
    for name in ("clients", "employees", "orders", "suppliers"):
        assert f"ok      {name}  (package) {DEFS_FOLDER / name / 'defs.yaml'}" in listed
    assert f"ok      vendors  (home) {home_folder(home) / 'vendors.yaml'}" in listed
    assert f"ok      unsplit  (home) {unsplit}" in listed
    assert "refused" not in checked.stdout and "warning" not in checked.stdout
    said = " ".join(checked.stderr.split())
    assert f"warning: {unsplit}: dataset 'unsplit' has a column 'tenant'" in said
    assert "add `tenant_column: tenant`" in said
    assert f"refused {broken}: key `attributes.nmae`" in said
    assert "6 dataset file(s) load, 1 refused, 1 warning(s)" in said
    assert f"read the package folder {DEFS_FOLDER} and the home folder {home_folder(home)}" in said


def test_a_warning_alone_does_not_fail_validate(tmp_path: Path) -> None:
    home = _home(tmp_path)
    _unsplit(home)
    checked = _cli(home, "company", "validate")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "has a column 'tenant' but declares no `tenant_column`" in checked.stderr


def test_validate_says_when_the_home_has_no_folder(tmp_path: Path) -> None:
    checked = _cli(tmp_path / "home", "company", "validate")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert len(checked.stdout.splitlines()) == 4
    assert "(absent: create it to add datasets)" in checked.stderr
