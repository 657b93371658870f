"""Deployment profiles: `deploy/profiles/<profile>/` holds an environment's whole configuration —
the Dagster instance (dagster.yaml), the code location (workspace.yaml) and the settings beneath
the home's own (settings.toml). `MARKET_SPINE_PROFILE` (dev, test or prod; dev by default) picks
the folder, so every environment is reproduced from files in the repository.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from market_spine.errors import InvalidInput

#: The folder of every profile, one sub-folder each.
PROFILES_ROOT = Path(__file__).resolve().parents[2] / "deploy" / "profiles"
#: The profiles there are, the embedded default first.
PROFILES = ("dev", "test", "prod")
DEFAULT_PROFILE = "dev"
INSTANCE_FILE = "dagster.yaml"
WORKSPACE_FILE = "workspace.yaml"
SETTINGS_FILE = "settings.toml"
#: The files a profile folder must hold.
PROFILE_FILES = (INSTANCE_FILE, WORKSPACE_FILE, SETTINGS_FILE)


def profile_dir(profile: str, root: Path = PROFILES_ROOT) -> Path:
    """The folder of `profile`; InvalidInput naming the profiles when it is not one."""
    if profile not in PROFILES:
        raise InvalidInput(
            f"profile {profile!r} is not one of {', '.join(PROFILES)}: set MARKET_SPINE_PROFILE "
            "to one of them"
        )
    return root / profile


def instance_file(profile: str, root: Path = PROFILES_ROOT) -> Path:
    """The Dagster instance configuration `market-spine up` copies into the home."""
    return profile_dir(profile, root) / INSTANCE_FILE


def workspace_file(profile: str, root: Path = PROFILES_ROOT) -> Path:
    """The workspace naming the code location the UI, the daemon and the CLI load."""
    return profile_dir(profile, root) / WORKSPACE_FILE


def settings_file(profile: str, root: Path = PROFILES_ROOT) -> Path:
    """The profile's settings, read beneath the home's settings file."""
    return profile_dir(profile, root) / SETTINGS_FILE


def read_profile_settings(profile: str, root: Path = PROFILES_ROOT) -> dict[str, Any]:
    """The profile's settings by key ({} when the folder has no settings file). Not TOML raises
    InvalidInput naming the file; which keys are allowed is the settings file's rule."""
    path = settings_file(profile, root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML ({exc}); correct it") from None
