"""Secret values never reach a screen or a history file: a URL is shown without its user info
and without the values of credential-like query parameters."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

MASK = "***"
#: Query parameters whose values are credentials (matched as substrings, case-insensitive).
_SECRET_PARAMS = ("key", "token", "secret", "password", "passwd", "auth", "signature")


#: Settings whose whole value is a secret.
SECRET_KEYS = frozenset({"thetadata_credentials", "lake_secret_access_key", "pii_hash_key"})
#: URL settings that may carry credentials in their user info: the settings hold them without
#: it (the credential apart, as a secret), so the file keeps and shows the value as given.
CREDENTIAL_URL_KEYS = frozenset({"thetadata_url"})


def mask_setting(key: str, value: object) -> object:
    """A setting's value as it may be shown: a secret setting's as `***`, a URL's credentials
    masked (`mask`)."""
    if key in SECRET_KEYS and value is not None:
        return MASK
    return mask(value)


def mask_arguments(args: list[str]) -> list[str]:
    """A command line as it may be recorded: URLs' credentials masked, and the value after a
    secret setting's name (`config set thetadata_credentials VALUE`)."""
    shown = []
    for i, arg in enumerate(args):
        secret = i > 0 and args[i - 1] in SECRET_KEYS
        shown.append(MASK if secret else str(mask(arg)))
    return shown


def is_secret_name(name: str) -> bool:
    """Whether a parameter named `name` carries a credential (`api_key`, `token`, ...)."""
    lowered = name.lower()
    return any(s in lowered for s in _SECRET_PARAMS)


def mask(value: object) -> object:
    """`value` with the credentials of a URL in it masked (`http://***@host/v3`,
    `?api_key=***`); anything that is not such a URL comes back as it is."""
    if not isinstance(value, str) or "://" not in value:
        return value
    parts = urlsplit(value)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if is_secret_name(k) else v) for k, v in pairs],
            safe="*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def split_credentials(url: str) -> tuple[str, SecretStr | None]:
    """`url` without its user info, and that user info (`user:password`, percent-decoded) as a
    secret value (None when the URL has none)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, SecretStr(f"{unquote(user)}:{unquote(password)}")


def without_credentials(url: str) -> str:
    """The URL without user, password, query or fragment: only where it points, safe to show
    anyone (run tags, logs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
