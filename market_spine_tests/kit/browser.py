"""Headless Chromium for the browser pages' tests: Debian's `chromium` driven by Playwright
(nothing downloaded at run time), and the folder screenshots are kept in."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

#: Where Debian and others put the browser.
CHROMIUM = ("chromium", "chromium-browser")


def chromium_path() -> str:
    """The system Chromium. Under CI its absence fails the test; elsewhere it skips, naming the
    fix."""
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    message = "chromium is not installed: `make system-packages` installs Debian's chromium"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the length of the block."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def artifacts(tmp_path: Path) -> Path:
    """The folder for screenshots: `$ARTIFACTS/browser` when the environment names one (CI
    keeps it), else the test's own temporary folder."""
    root = os.environ.get("ARTIFACTS")
    folder = Path(root) / "browser" if root else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder
