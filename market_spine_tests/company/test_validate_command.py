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
    (home_folder(home) / "unsplit").mkdir()
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


def test_a_dataset_folder_with_a_defs_yml_loads_and_a_missing_drop_folder_is_named(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path)
    folder = home_folder(home) / "payees"
    folder.mkdir()
    (folder / "defs.yml").write_text(
        VENDORS.replace("name: vendors", "name: payees").replace("vendors_drop", "drop")
    )
    checked = _cli(home, "company", "validate")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"ok      payees  (home) {folder / 'defs.yml'}" in checked.stdout.splitlines()
    said = " ".join(checked.stderr.split())
    assert f"warning: {folder / 'defs.yml'}: the drop folder {folder / 'drop'} of payees" in said
    assert "does not exist: create it" in said and "1 warning(s)" in said


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


def test_a_key_given_twice_is_named_with_every_other_problem_of_its_file(tmp_path: Path) -> None:
    home = _home(tmp_path)
    path = home_folder(home) / "twice.yaml"
    text = VENDORS.replace("name: vendors", "name: twice").replace("team:procurement", "buyers")
    # `keys` again on line 13, and `column` twice inside the first check (line 16).
    text = text.replace("  tenant_column:", "  keys: [vendor_id]\n  tenant_column:")
    path.write_text(text.replace("column: email}", "column: email, column: email}"))
    checked = _cli(home, "company", "validate")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    refused = [line for line in checked.stderr.splitlines() if line.startswith("refused")]
    assert refused == [
        f"refused {path}: line 13: key `attributes.keys` is given twice (lines 12 and 13; YAML "
        "keeps only the last): keep one",
        f"refused {path}: line 16: key `attributes.checks[0].column` is given twice (both on "
        "it; YAML keeps only the last): keep one",
        f"refused {path}: key `attributes.owner` 'buyers' must be an email address or a team as "
        "`team:<name>` (letters, digits, _ or -), e.g. team:sales-ops",
    ]
    for noise in ("<unicode string>", "while constructing", "Traceback", "yaml."):
        assert noise not in checked.stderr, checked.stderr


def test_a_command_reading_the_home_prints_the_tenant_warning_as_its_own_line(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path)
    unsplit = _unsplit(home)
    created = _cli(home, "keys", "create", "--tenant", "acme", "--force")
    assert created.returncode == 0, created.stdout + created.stderr
    said = " ".join(created.stderr.split())
    assert f"warning: {unsplit}: dataset 'unsplit' has a column 'tenant'" in said
    assert "add `tenant_column: tenant` under `attributes`" in said
    assert "TenantColumnWarning" not in said and ".py:" not in said, said
