"""Who is acting: the operating-system user of this process, recorded with every run it launches
and every setting it changes."""

from __future__ import annotations

import getpass
import os


def os_user() -> str:
    """The login name of this process's user; `uid N` when it has none (some containers run
    without a passwd entry or USER variable)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
