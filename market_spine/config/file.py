"""The home's settings file, `<home>/settings.toml`: the values `market-spine config set` persisted,
read beneath the environment (environment > file > profile > default) by `Settings.from_env`; a
deployment profile's own settings (`deploy/profiles/<profile>/settings.toml`) lie beneath the file.

The file holds settings by key (`api_port = 8000`); each key has the environment variable that
overrides it (`MARKET_SPINE_API_PORT`). Values are handed to the settings' validation as the text
an environment variable would carry, so a file value passes exactly the same checks.
"""

from __future__ import annotations

import difflib
import fcntl
import os
import tempfile
import tomllib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w

from market_spine.errors import InvalidInput, raise_all
from market_spine.process_environment import RESERVED

SETTINGS_FILE = "settings.toml"
#: The lock two `config` edits take in turn, beside the settings file.
SETTINGS_LOCK = ".settings.lock"

#: Every key the file may hold and the environment variable that overrides it. The home itself
#: is not among them: the file lives in it.
KEYS: dict[str, str] = {
    "profile": "MARKET_SPINE_PROFILE",
    "provider": "MARKET_SPINE_PROVIDER",
    "symbols": "MARKET_SPINE_SYMBOLS",
    "sim_seed": "MARKET_SPINE_SIM_SEED",
    "options_provider": "MARKET_SPINE_OPTIONS_PROVIDER",
    "thetadata_url": "MARKET_SPINE_THETADATA_URL",
    "thetadata_tier": "MARKET_SPINE_THETADATA_TIER",
    "api_host": "MARKET_SPINE_API_HOST",
    "api_port": "MARKET_SPINE_API_PORT",
    "ui_port": "MARKET_SPINE_UI_PORT",
    "ui_upstream": "MARKET_SPINE_UI_UPSTREAM",
    "ib_host": "MARKET_SPINE_IB_HOST",
    "ib_port": "MARKET_SPINE_IB_PORT",
    "ib_client_id": "MARKET_SPINE_IB_CLIENT_ID",
    "api_max_rows": "MARKET_SPINE_API_MAX_ROWS",
    "api_max_rows_arrow": "MARKET_SPINE_API_MAX_ROWS_ARROW",
    "api_read_slots": "MARKET_SPINE_API_READ_SLOTS",
    "instruments_file": "MARKET_SPINE_INSTRUMENTS",
    "retention_days": "MARKET_SPINE_RETENTION_DAYS",
    "auth": "MARKET_SPINE_AUTH",
    "oidc_issuer": "MARKET_SPINE_OIDC_ISSUER",
    "oidc_audience": "MARKET_SPINE_OIDC_AUDIENCE",
    "oidc_jwks_url": "MARKET_SPINE_OIDC_JWKS_URL",
    "oidc_role_claim": "MARKET_SPINE_OIDC_ROLE_CLAIM",
    "oidc_datasets_claim": "MARKET_SPINE_OIDC_DATASETS_CLAIM",
    "api_allowed_origins": "MARKET_SPINE_API_ALLOWED_ORIGINS",
    "api_rate_limit": "MARKET_SPINE_API_RATE_LIMIT",
    "api_ws_per_key": "MARKET_SPINE_API_WS_PER_KEY",
    "api_max_body_bytes": "MARKET_SPINE_API_MAX_BODY_BYTES",
    "api_max_header_bytes": "MARKET_SPINE_API_MAX_HEADER_BYTES",
    "api_header_timeout_s": "MARKET_SPINE_API_HEADER_TIMEOUT_S",
    "api_body_timeout_s": "MARKET_SPINE_API_BODY_TIMEOUT_S",
    "thetadata_credentials": "MARKET_SPINE_THETADATA_CREDENTIALS",
    "thetadata_ca_bundle": "MARKET_SPINE_THETADATA_CA_BUNDLE",
    "tls_cert": "MARKET_SPINE_TLS_CERT",
    "tls_key": "MARKET_SPINE_TLS_KEY",
    "lake_uri": "MARKET_SPINE_LAKE_URI",
    "lake_endpoint": "MARKET_SPINE_LAKE_ENDPOINT",
    "lake_region": "MARKET_SPINE_LAKE_REGION",
    "lake_access_key_id": "MARKET_SPINE_LAKE_ACCESS_KEY_ID",
    "lake_secret_access_key": "MARKET_SPINE_LAKE_SECRET_ACCESS_KEY",
    "lake_sse": "MARKET_SPINE_LAKE_SSE",
    "lake_sse_kms_key_id": "MARKET_SPINE_LAKE_SSE_KMS_KEY_ID",
    "lake_access_log": "MARKET_SPINE_LAKE_ACCESS_LOG",
    "audit_anchor": "MARKET_SPINE_AUDIT_ANCHOR",
    "state_database": "MARKET_SPINE_STATE_DATABASE",
    "pii_hash_key": "MARKET_SPINE_PII_HASH_KEY",
}
#: A variable named with this suffix gives the path of a file holding the value (a mounted
#: secret, say): `MARKET_SPINE_THETADATA_CREDENTIALS_FILE=/run/secrets/theta`.
FILE_SUFFIX = "_FILE"
_KEY_OF = {variable: key for key, variable in KEYS.items()}


def fill_from_files(names: Iterable[str], env: MutableMapping[str, str]) -> list[str]:
    """Set each variable of `names` that `env` lacks from the file its `NAME_FILE` names (a
    mounted secret), for readers that know no `_FILE` (the Dagster instance's `{env: NAME}`);
    the names set. An unreadable file raises InvalidInput naming the variable and the fix."""
    filled = []
    for name in names:
        path = env.get(name + FILE_SUFFIX, "")
        if env.get(name, "") or not path:
            continue
        env[name] = value_file(name + FILE_SUFFIX, path)
        filled.append(name)
    return filled


def value_file(variable: str, raw: str) -> str:
    """The value in the file `raw` names (`variable` gave it), without its trailing newline;
    InvalidInput naming the variable when it cannot be read."""
    path = Path(raw).expanduser()
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"{variable}={str(path)!r} cannot be read ({exc.__class__.__name__}): point it at "
            "a readable text file holding the value, or unset it"
        ) from None


#: The platform's variables that are not settings: the home itself, and what the warehouse hands
#: dbt (the reference seeds' folder, a build's trade-date window).
OTHER_VARIABLES = frozenset(RESERVED)
PREFIX = "MARKET_SPINE_"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean X?)` for the choice closest to `word`, or "" when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each `MARKET_SPINE_*` variable that names no setting (a typo the settings
    would otherwise ignore without a word), with the closest one it may mean."""
    known = {*KEYS.values(), *(v + FILE_SUFFIX for v in KEYS.values()), *OTHER_VARIABLES}
    return [
        f"{name} is not a Market Spine variable and is ignored{did_you_mean(name, known)}"
        for name in sorted(env)
        if name.startswith(PREFIX) and name not in known
    ]


#: A TOML value the file holds: text, a whole number, or a list of text (symbols).
FileValue = str | int | list[str]

_HEADER = (
    "# Market Spine settings of this home, written by `market-spine config set`.\n"
    "# A MARKET_SPINE_* environment variable overrides the value here.\n\n"
)


def settings_path(home: Path) -> Path:
    """Where a home keeps its settings file."""
    return home / SETTINGS_FILE


def known_key(key: str) -> str:
    """`key` if the file may hold it; otherwise InvalidInput listing the keys."""
    if key not in KEYS:
        raise InvalidInput(
            f"{key!r} is not a setting{did_you_mean(key, KEYS)}; known settings are "
            f"{', '.join(KEYS)}"
        )
    return key


def read_file(home: Path, *, strict: bool = True) -> dict[str, FileValue]:
    """The settings file's values by key ({} when there is no file). A file that is not TOML,
    or holds an unknown key or a value of the wrong kind, raises InvalidInput naming the fix;
    `strict=False` keeps such keys instead (so `config reset KEY` can remove them)."""
    path = settings_path(home)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            f"{path} is not valid TOML ({exc}); correct it, or delete it to go back to the "
            "environment and the defaults"
        ) from None
    if not strict:
        return data
    # Every problem of the file at once, not one per attempt.
    unknown = [key for key in data if key not in KEYS]
    problems = [
        f"{path} holds {key!r}, which is not a setting{did_you_mean(key, KEYS)}; remove it with "
        f"`market-spine config reset {key}`"
        + (f" (known settings: {', '.join(KEYS)})" if key == unknown[-1] else "")
        for key in unknown
    ]
    problems += [
        f"{key} = {value!r} in {path} is not text, a whole number or a list of text; set it "
        f"again with `market-spine config set {key} VALUE`"
        for key, value in data.items()
        if key in KEYS and not _is_file_value(value)
    ]
    raise_all(problems)
    return data


def read_profile(profile: str) -> tuple[dict[str, FileValue], Path]:
    """The settings of a deployment profile (`deploy/profiles/<profile>/settings.toml`) and
    that file's path. An unknown key, a value of the wrong kind, or `profile` itself (a profile
    cannot choose another) raises InvalidInput naming the file and the key."""
    from market_spine.config.profiles import read_profile_settings, settings_file
    from market_spine.config.secrets import SECRET_KEYS

    path = settings_file(profile)
    data = read_profile_settings(profile)
    allowed = [k for k in KEYS if k != "profile" and k not in SECRET_KEYS]
    problems: list[str] = []
    for key, value in data.items():
        if key in SECRET_KEYS:
            variable = KEYS[key]
            problems.append(
                f"{path} holds the secret {key}: a profile is committed with the repository and "
                f"never holds secrets; remove it from the file and give it through {variable} "
                f"or {variable}{FILE_SUFFIX} (the path of a mounted secret file)"
            )
        elif key not in KEYS or key == "profile":
            problems.append(
                f"{path} holds {key!r}, which a profile cannot set"
                f"{did_you_mean(key, allowed)}; remove it from the file (settings a profile may "
                f"hold: {', '.join(allowed)})"
            )
        elif not _is_file_value(value):
            problems.append(
                f"{key} = {value!r} in {path} is not text, a whole number or a list of text; "
                "correct it in the file"
            )
    raise_all(problems)
    return data, path


def _is_file_value(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    return isinstance(value, str | int)


def as_text(value: FileValue) -> str:
    """A file value as the text its environment variable would carry (`["CL", "ES"]` → `CL,ES`)."""
    return ",".join(value) if isinstance(value, list) else str(value)


def write_file(home: Path, values: Mapping[str, FileValue]) -> None:
    """Replace the settings file with `values` at once (a reader sees the old file or the new
    one, never half), readable by the home's user only; no file when `values` is empty."""
    path = settings_path(home)
    if not values:
        path.unlink(missing_ok=True)
        return
    home.mkdir(parents=True, exist_ok=True)
    ordered = sorted(values, key=lambda k: (list(KEYS).index(k) if k in KEYS else len(KEYS), k))
    text = _HEADER + tomli_w.dumps({k: values[k] for k in ordered})
    fd, temp = tempfile.mkstemp(dir=home, prefix=".settings.", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@contextmanager
def editing(home: Path) -> Iterator[None]:
    """Hold the home's settings lock, so two `config` commands never lose each other's edit."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / SETTINGS_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class SettingSources(Mapping[str, str]):
    """The values the settings validate, by environment variable: the environment's where it
    sets one (non-empty), else the home's settings file's as text, else the deployment
    profile's. Errors name a value by its origin."""

    def __init__(
        self,
        env: Mapping[str, str],
        file: Mapping[str, FileValue],
        path: Path,
        profile: Mapping[str, FileValue] | None = None,
        profile_path: Path | None = None,
        proposed: frozenset[str] = frozenset(),
    ) -> None:
        self.env = env
        #: Keys of `file` not written yet (a value `config set` is checking): errors name them
        #: as the value given, never as if the file held them.
        self.proposed = proposed
        self.file = {KEYS[k]: as_text(v) for k, v in file.items() if k in KEYS}
        self.path = path
        self.profile = {KEYS[k]: as_text(v) for k, v in (profile or {}).items() if k in KEYS}
        self.profile_path = profile_path

    @classmethod
    def of(cls, env: Mapping[str, str], home: Path) -> SettingSources:
        """The environment over the home's settings file over the settings of the profile they
        name (`MARKET_SPINE_PROFILE`, else the file's `profile`, else dev)."""
        from market_spine.config.profiles import DEFAULT_PROFILE, PROFILES

        file = read_file(home)
        name = env.get(KEYS["profile"], "").strip().lower()
        name = name or as_text(file.get("profile", DEFAULT_PROFILE)).strip().lower()
        if name not in PROFILES:
            # The settings' own check names the bad value and where it came from.
            return cls(env, file, settings_path(home))
        profile, profile_path = read_profile(name)
        return cls(env, file, settings_path(home), profile, profile_path)

    def origin(self, variable: str) -> str:
        """`environment`, `file`, `profile` or `default`: where the value of `variable` comes
        from."""
        if self.env.get(variable, "") != "" or self.env.get(variable + FILE_SUFFIX, "") != "":
            return "environment"
        if variable in self.file:
            return "file"
        return "profile" if variable in self.profile else "default"

    def named(self, variable: str, raw: str) -> str:
        """How an error names a value: `VARIABLE='raw'`, or `key='raw' in <file>`."""
        origin = self.origin(variable)
        if origin == "file" and _KEY_OF[variable] in self.proposed:
            return f"the value given for {_KEY_OF[variable]}, {raw!r},"
        if origin == "file":
            return f"{_KEY_OF[variable]}={raw!r} in {self.path}"
        if origin == "profile":
            return f"{_KEY_OF[variable]}={raw!r} in {self.profile_path}"
        return f"{variable}={raw!r}"

    def __getitem__(self, variable: str) -> str:
        if self.env.get(variable, "") != "":
            return self.env[variable]
        if self.env.get(variable + FILE_SUFFIX, "") != "":
            return value_file(variable + FILE_SUFFIX, self.env[variable + FILE_SUFFIX])
        if variable in self.file:
            return self.file[variable]
        if variable in self.profile:
            return self.profile[variable]
        return self.env[variable]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self.env, *self.file, *self.profile]))

    def __len__(self) -> int:
        return len(set(self.env) | set(self.file) | set(self.profile))
