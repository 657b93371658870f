"""The certification machinery never imports a domain: domains call it."""

from __future__ import annotations

import subprocess
import sys

from market_spine_tests.kit.homes import REPO

DOMAINS = ("futures", "options", "streaming", "warehouse", "operations")
PROBE = f"""
import importlib, pkgutil, sys
import market_spine.certification as package
for m in pkgutil.walk_packages(package.__path__, "market_spine.certification."):
    importlib.import_module(m.name)
print(sorted(n for n in sys.modules if n.split(".")[:2] in
             [["market_spine", d] for d in {DOMAINS!r}]))
"""


def test_certification_imports_no_domain() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
