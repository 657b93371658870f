"""What `market-spine config` does to a home's settings: list them with their origin, set one,
reset one or all. A change is validated the way every command validates its settings
(`Settings.from_sources`), both on the file alone and under the environment that overrides it,
before anything is written; a refused change writes nothing, an accepted one is recorded in the
history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from market_spine.config.file import (
    FILE_SUFFIX,
    KEYS,
    FileValue,
    SettingSources,
    editing,
    known_key,
    read_file,
    settings_path,
    write_file,
)
from market_spine.config.history import Change, change, record
from market_spine.config.secrets import CREDENTIAL_URL_KEYS, SECRET_KEYS, mask, mask_setting
from market_spine.errors import InvalidInput
from market_spine.settings import Settings


@dataclass(frozen=True)
class Entry:
    """One setting as commands see it: its value (secrets masked; None when unset), where the
    value comes from (`environment`, `file` or `default`) and its environment variable."""

    key: str
    value: FileValue | None
    origin: str
    variable: str


def entries(env: Mapping[str, str]) -> list[Entry]:
    """Every setting of the home `env` names, validated as a command would read them."""
    home = Settings.home_from_env(env)
    sources = SettingSources.of(env, home)
    settings = Settings.from_sources(home, sources)
    shown = {key: mask_setting(key, _file_value(_value(settings, sources, key))) for key in KEYS}
    return [
        Entry(key, shown[key], sources.origin(variable), variable)  # type: ignore[arg-type]
        for key, variable in KEYS.items()
    ]


def _value(settings: Settings, sources: SettingSources, key: str) -> object:
    """A setting's value as given (a credential URL keeps its user info, to be masked)."""
    if key in CREDENTIAL_URL_KEYS and sources.get(KEYS[key], "").strip():
        return sources[KEYS[key]].strip()
    return getattr(settings, key)


def _file_value(value: object) -> FileValue | None:
    """A setting's value as the file stores it: tuples as lists, paths as text."""
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def _validated(
    env: Mapping[str, str],
    home: Path,
    values: Mapping[str, FileValue],
    proposed: frozenset[str] = frozenset(),
) -> Settings:
    """The settings `values` make as the file alone (what is written must be valid by itself)
    after checking them under the environment too (what every command will read); `proposed`
    are the keys of `values` not written yet, named in errors as the value given."""
    path = settings_path(home)
    alone = Settings.from_sources(home, SettingSources({}, values, path, proposed=proposed))
    Settings.from_sources(home, SettingSources(env, values, path, proposed=proposed))
    return alone


def refuse_secret(key: str, raw: str, path: Path) -> None:
    """InvalidInput when `key = raw` would put a secret in the settings file in clear (a secret
    setting, or a URL carrying a password or a credential parameter): the file is kept with the
    home, in its backups and copies; a secret comes from the environment or a secret file. The
    message never holds the value."""
    variable = KEYS[key]
    ways = (
        f"export {variable}, or put the value in a file only the platform's user can read and "
        f"name it in {variable}{FILE_SUFFIX} (a mounted secret, in a deployment)"
    )
    if key in SECRET_KEYS:
        raise InvalidInput(
            f"{key} is a secret: `config set` would write it in clear into {path}, so it was "
            f"not written; {ways}"
        )
    if mask(raw) != raw:
        apart = (
            "give the user and password through MARKET_SPINE_THETADATA_CREDENTIALS (or its "
            f"{FILE_SUFFIX}) and "
            if key == "thetadata_url"
            else ""
        )
        raise InvalidInput(
            f"the value given for {key} carries a credential (a password or a key in the URL): "
            f"`config set` would write it in clear into {path}, so it was not written; "
            f"{apart}set {key} without it, or {ways}"
        )


def set_value(env: Mapping[str, str], key: str, raw: str) -> Change | None:
    """Persist `key = raw` in the home's file once the result validates; the recorded change,
    or None when the file already held that value. InvalidInput (nothing written) otherwise,
    a secret included (`refuse_secret`)."""
    known_key(key)
    if not raw.strip():
        raise InvalidInput(
            f"give {key} a value, or go back to its default with `market-spine config reset {key}`"
        )
    home = Settings.home_from_env(env)
    refuse_secret(key, raw, settings_path(home))
    with editing(home):
        current = read_file(home)
        try:
            settings = _validated(env, home, {**current, key: raw}, frozenset({key}))
        except InvalidInput as exc:
            # Only the refusal and its reason: the value is never echoed as if it were set.
            raise InvalidInput(
                f"{key} was not changed ({settings_path(home)} is as it was): {exc}"
            ) from None
        new = raw.strip() if key in CREDENTIAL_URL_KEYS else _file_value(getattr(settings, key))
        assert new is not None  # a non-empty value never reads as unset
        old = current.get(key)
        if old == new:
            return None
        write_file(home, {**current, key: new})
        done = change("set", key, old, new)
        record(home, [done])
    return done


def reset(env: Mapping[str, str], key: str | None = None) -> list[Change]:
    """Remove `key` (every key when None) from the home's file, so the environment or the
    default applies again; the recorded changes ([] when the file did not hold it)."""
    home = Settings.home_from_env(env)
    with editing(home):
        current = read_file(home, strict=False)
        if key is not None and key not in current:
            known_key(key)
            return []
        gone = list(current) if key is None else [key]
        if not gone:
            return []
        remaining = {k: v for k, v in current.items() if k not in gone}
        _validated(env, home, remaining)
        write_file(home, remaining)
        changes = [change("reset", k, current[k], None) for k in gone]
        record(home, changes)
    return changes


def overridden(env: Mapping[str, str], key: str) -> str | None:
    """The environment variable that overrides the file's `key`, when the environment sets it."""
    variable = KEYS.get(key)
    return variable if variable and env.get(variable, "") != "" else None
