"""Settings of one Market Spine home, read from the environment over the home's settings file
(`<home>/settings.toml`, see `market_spine.config.file`) and validated with clear errors."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from market_spine.config.file import SettingSources
from market_spine.config.profiles import PROFILES
from market_spine.config.secrets import mask, split_credentials
from market_spine.errors import InvalidInput, problems_of, raise_all

if TYPE_CHECKING:
    # Only types: reading the settings must not import the lake (polars, delta-rs).
    from market_spine.lake.storage import ObjectStoreOptions
    from market_spine.lake.store import Lake

#: Where futures bars come from: the simulated market or TWS / IB Gateway.
PROVIDERS = ("simulated", "ib")
OPTIONS_PROVIDERS = ("simulated", "thetadata")
THETADATA_TIERS = ("free", "value", "standard", "pro")
DEFAULT_SYMBOLS = ("CL", "ES", "NG")
#: A home's own instruments file, read when `MARKET_SPINE_INSTRUMENTS` names none.
INSTRUMENTS_FILE = "instruments.toml"
#: `state_database`'s value for the stores on the Dagster instance's PostgreSQL.
STATE_IN_INSTANCE = "instance"
#: Where a home keeps its own company dataset files, relative to the home.
HOME_COMPANY_DEFS = Path("company") / "defs"
#: Where a ThetaTerminal v3 listens by default (the terminal runs beside the platform).
DEFAULT_THETADATA_URL = "http://127.0.0.1:25503/v3"
#: Where the Dagster UI listens, whatever the API's host: its GraphQL API (launch, delete and
#: wipe included) has no authentication, so it is never reachable from another machine; the
#: API's authenticating proxy serves it remotely under the same path prefix.
UI_HOST = "127.0.0.1"
UI_PATH_PREFIX = "/dagster"
#: The ports `market-spine up` serves the API and the Dagster UI on unless the settings name
#: others; every command that looks for the running services reads the same settings.
DEFAULT_API_PORT = 8000
DEFAULT_UI_PORT = 3000
#: Bind addresses meaning "every interface": not an address to connect to, so a command on
#: this machine reaches a service bound to one through loopback.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def local_host(bind_host: str) -> str:
    """The address a command on this machine calls a service bound to `bind_host` at: loopback
    for a wildcard bind, the address itself otherwise (an IPv6 one in brackets, for a URL)."""
    host = "127.0.0.1" if bind_host.strip() in WILDCARD_HOSTS else bind_host.strip()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host


def instruments_path(home: Path, named: Path | None = None) -> Path | None:
    """The instruments file a home reads: `named` (MARKET_SPINE_INSTRUMENTS), else
    `<home>/instruments.toml` when it exists; None when there is neither."""
    if named is not None:
        return named
    default = Path(home) / INSTRUMENTS_FILE
    return default if default.is_file() else None


def _int(env: SettingSources, name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        # int() also reads Unicode digits such as '١'; a setting's number is ASCII only.
        if not raw.strip().isascii():
            raise ValueError(raw)
        value = int(raw)
    except ValueError:
        raise InvalidInput(
            f"{env.named(name, raw)} is not a whole number; set it to e.g. {default}"
        ) from None
    if not lo <= value <= hi:
        raise InvalidInput(
            f"{env.named(name, raw)} is outside {lo}..{hi}; set it to e.g. {default}"
        )
    return value


def _choice(env: SettingSources, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        raise InvalidInput(f"{env.named(name, value)} is not one of {', '.join(allowed)}")
    return value


def _url(env: SettingSources, name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(
            f"{env.named(name, str(mask(value)))} is not an http(s) URL with a host; set it to "
            f"e.g. {default}"
        )
    return value


def _optional_url(env: SettingSources, name: str, example: str) -> str:
    """An http(s) URL without its trailing slash, or "" when unset."""
    if not env.get(name, "").strip():
        return ""
    return _url(env, name, example).rstrip("/")


def _credentials(env: SettingSources, name: str, url: str) -> SecretStr | None:
    """`user:password` from `name` (or its `_FILE`), else from the URL's user info."""
    raw = env.get(name, "").strip()
    if raw:
        if ":" not in raw:
            raise InvalidInput(
                f"{env.named(name, '***')} is not `user:password` (its value is not shown: it "
                "is a secret); set it to the terminal's user and password joined by a colon"
            )
        return SecretStr(raw)
    return split_credentials(url)[1]


def _tls(env: SettingSources) -> tuple[Path | None, Path | None]:
    cert = _file(env, "MARKET_SPINE_TLS_CERT", "a PEM certificate chain (cert.pem)")
    key = _file(env, "MARKET_SPINE_TLS_KEY", "a PEM private key (key.pem)")
    if (cert is None) != (key is None):
        raise InvalidInput(
            "MARKET_SPINE_TLS_CERT and MARKET_SPINE_TLS_KEY go together: set both (the API then "
            "serves HTTPS and WSS) or neither"
        )
    return cert, key


def _lake_uri(env: SettingSources) -> str:
    """MARKET_SPINE_LAKE_URI: empty (the home's lake folder) or `s3://bucket[/prefix]`."""
    raw = env.get("MARKET_SPINE_LAKE_URI", "").strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme != "s3" or not parts.netloc:
        raise InvalidInput(
            f"{env.named('MARKET_SPINE_LAKE_URI', raw)} is not an s3://bucket/prefix URI; set it "
            "to e.g. s3://market-spine/lake, or unset it to keep the lake in the home"
        )
    problem = bucket_name_problem(parts.netloc)
    if problem:
        raise InvalidInput(
            f"{env.named('MARKET_SPINE_LAKE_URI', raw)} names the bucket {parts.netloc!r}, which "
            f"S3 refuses: {problem}; name the bucket e.g. s3://market-spine-lake/lake"
        )
    return f"s3://{parts.netloc}/{parts.path.strip('/')}".rstrip("/")


#: S3's bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens, starting and
#: ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")


def bucket_name_problem(bucket: str) -> str:
    """Why S3 would refuse `bucket` as a bucket name ("" when it would not)."""
    if not 3 <= len(bucket) <= 63:
        return f"a bucket name is 3 to 63 characters, this one {len(bucket)}"
    if not _BUCKET.fullmatch(bucket):
        return (
            "a bucket name holds lowercase letters, digits, dots and hyphens only, and starts "
            "and ends with a letter or digit"
        )
    if ".." in bucket or _IP_ADDRESS.fullmatch(bucket):
        return "a bucket name has no two adjacent dots and is not an IP address"
    if bucket.startswith(("xn--", "sthree-")) or bucket.endswith(("-s3alias", "--ol-s3")):
        return "a bucket name may not start with xn-- or sthree-, nor end with -s3alias or --ol-s3"
    return ""


def _sse(env: SettingSources) -> str:
    """MARKET_SPINE_LAKE_SSE: "" (the bucket's default), AES256 (SSE-S3) or aws:kms (SSE-KMS)."""
    raw = env.get("MARKET_SPINE_LAKE_SSE", "").strip()
    value = {"": "", "aes256": "AES256", "aws:kms": "aws:kms"}.get(raw.lower())
    if value is None:
        raise InvalidInput(
            f"{env.named('MARKET_SPINE_LAKE_SSE', raw)} is not a server-side encryption S3 knows: "
            "set AES256 (SSE-S3) or aws:kms (SSE-KMS, with MARKET_SPINE_LAKE_SSE_KMS_KEY_ID), "
            "or unset it for the bucket's default"
        )
    return value


def _access_log(env: SettingSources) -> str:
    """MARKET_SPINE_LAKE_ACCESS_LOG: "", an `s3://bucket[/prefix]` URI, or a folder (made
    absolute)."""
    raw = env.get("MARKET_SPINE_LAKE_ACCESS_LOG", "").strip()
    if not raw:
        return ""
    if "://" in raw:
        parts = urlsplit(raw)
        if parts.scheme != "s3" or bucket_name_problem(parts.netloc):
            raise InvalidInput(
                f"{env.named('MARKET_SPINE_LAKE_ACCESS_LOG', raw)} is not an s3://bucket/prefix "
                "URI with a valid bucket name: set it to where the store delivers the lake "
                "bucket's access logs (e.g. s3://market-spine-logs/lake/) or to a local folder"
            )
        return f"s3://{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    return str(Path(raw).expanduser().resolve())


class _Problems:
    """Collects what is wrong with the settings, so every problem is reported at once."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.errors: list[InvalidInput] = []
        #: The variables whose values were refused (held at their default meanwhile).
        self.failed: set[str] = set()

    def take(self, variable: str, default: Any, read: Callable[..., Any], *args: Any) -> Any:
        """`read(*args)`, or `default` with its problem recorded against `variable`."""
        try:
            return read(*args)
        except InvalidInput as exc:
            self.found += problems_of(exc)
            self.errors.append(exc)
            self.failed.add(variable)
            return default

    def raise_any(self) -> None:
        """Raise what was found: a lone error as itself (its class kept, e.g. UnknownSymbol),
        several as one InvalidSettings listing each."""
        if len(self.errors) == 1 and len(self.found) == 1:
            raise self.errors[0]
        raise_all(self.found)


def _text(env: SettingSources, name: str) -> str:
    return env.get(name, "").strip()


def _lake_endpoint(env: SettingSources) -> str:
    """MARKET_SPINE_LAKE_ENDPOINT: an http(s) URL of an S3-compatible store, or ""."""
    if not env.get("MARKET_SPINE_LAKE_ENDPOINT", "").strip():
        return ""
    return _url(env, "MARKET_SPINE_LAKE_ENDPOINT", "http://127.0.0.1:9000")


def _secret(env: SettingSources, name: str) -> SecretStr | None:
    raw = env.get(name, "").strip()
    return SecretStr(raw) if raw else None


def _file(env: SettingSources, name: str, like: str) -> Path | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser().resolve()
    if not path.is_file():
        raise InvalidInput(
            f"{env.named(name, raw)} does not exist or is not a file: point it at "
            f"{like}, or unset it"
        )
    return path


#: The shortest PII hash key accepted, in characters: shorter ones can be guessed.
PII_KEY_MIN_CHARS = 32


def _pii_hash_key(env: SettingSources) -> SecretStr | None:
    """MARKET_SPINE_PII_HASH_KEY (or its _FILE): None, or PII_KEY_MIN_CHARS characters or more."""
    found = _secret(env, "MARKET_SPINE_PII_HASH_KEY")
    if found is not None and len(found.get_secret_value().strip()) < PII_KEY_MIN_CHARS:
        raise InvalidInput(
            f"MARKET_SPINE_PII_HASH_KEY has {len(found.get_secret_value().strip())} characters; "
            f"give at least {PII_KEY_MIN_CHARS} random ones (e.g. `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`)"
        )
    return found


def _state_database(env: SettingSources) -> str:
    """MARKET_SPINE_STATE_DATABASE: "" (SQLite files in the home), `instance` (the Dagster
    instance's PostgreSQL) or a `postgresql://` URI (its password from libpq's PGPASSWORD or
    PGPASSFILE, never the URI)."""
    raw = env.get("MARKET_SPINE_STATE_DATABASE", "").strip()
    if raw in ("", STATE_IN_INSTANCE):
        return raw
    parts = urlsplit(raw)
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise InvalidInput(
            f"{env.named('MARKET_SPINE_STATE_DATABASE', raw)} is not where the platform's stores "
            "can live: set it to '' (SQLite files in the home, one machine), `instance` (the "
            "Dagster instance's PostgreSQL) or postgresql://user@host:5432/database"
        )
    if parts.password or "password" in dict(parse_qsl(parts.query)):
        raise InvalidInput(
            "MARKET_SPINE_STATE_DATABASE holds a password: remove it from the URI and give it "
            "as PGPASSWORD or in the file PGPASSFILE names (a mounted secret)"
        )
    return raw


def _anchor(env: SettingSources) -> str:
    """The audit anchor target: an http(s) URL, or a file path made absolute."""
    raw = env.get("MARKET_SPINE_AUDIT_ANCHOR", "").strip()
    if not raw or raw.startswith(("http://", "https://")):
        return raw
    return str(Path(raw).expanduser().resolve())


@dataclass(frozen=True)
class Settings:
    """Where the platform keeps its state and which sources and symbols it runs."""

    home: Path
    profile: str = "dev"
    provider: str = "simulated"
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    sim_seed: int = 7
    options_provider: str = "simulated"
    thetadata_url: str = DEFAULT_THETADATA_URL
    thetadata_tier: str = "standard"
    api_host: str = "127.0.0.1"
    api_port: int = DEFAULT_API_PORT
    ui_port: int = DEFAULT_UI_PORT
    #: Where the API's proxy finds the Dagster webserver ("": this machine's loopback at
    #: `ui_port`); in Kubernetes the webserver's Service, e.g. http://dagster-webserver:80.
    ui_upstream: str = ""
    ib_host: str = "127.0.0.1"
    ib_port: int = 4002
    ib_client_id: int = 1
    #: Rows one JSON or CSV answer of the API may carry; past it a read must page or narrow.
    api_max_rows: int = 50_000
    #: Rows one streamed Arrow answer may carry.
    api_max_rows_arrow: int = 2_000_000
    #: Data reads the API holds in memory at once; more wait their turn.
    api_read_slots: int = 2
    #: The instruments file `MARKET_SPINE_INSTRUMENTS` names (extra futures roots); None reads
    #: `<home>/instruments.toml` when it exists (see `instruments_path`).
    instruments_file: Path | None = None
    #: Days of unpinned lake history maintenance keeps readable (time travel reaches this far);
    #: certified versions are kept whatever their age.
    retention_days: int = 400
    #: `on`: every route but /healthz and /readyz needs a credential; `off` (local development
    #: only, refused under the prod profile) serves everyone as the local admin.
    auth: str = "on"
    #: The OIDC issuer whose bearer JWTs are accepted beside API keys ("" for none), the
    #: audience they must name, its JWKS (""; from the issuer's discovery document) and the
    #: claims holding the role and the dataset patterns.
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    oidc_role_claim: str = "roles"
    oidc_datasets_claim: str = "datasets"
    #: Origins besides the API's own whose pages may open its WebSocket (browsers send Origin).
    api_allowed_origins: tuple[str, ...] = ()
    #: Requests a second per identity (bursts of twice as many), then 429.
    api_rate_limit: int = 100
    #: WebSocket subscribers one identity may hold at once.
    api_ws_per_key: int = 16
    #: The largest request body and request head (request line and headers) accepted, in bytes.
    api_max_body_bytes: int = 1_048_576
    api_max_header_bytes: int = 16_384
    #: Seconds a client has to send a whole request head before the connection is closed.
    api_header_timeout_s: int = 10
    #: Seconds a client has to send each chunk of a request body the API reads; then 408.
    api_body_timeout_s: int = 10
    #: The ThetaTerminal's `user:password` (from MARKET_SPINE_THETADATA_CREDENTIALS or the
    #: URL's user info); a secret value: never printed, logged or put in a run's config.
    thetadata_credentials: SecretStr | None = None
    #: A PEM bundle of the CAs an `https://` terminal's certificate is checked against (None:
    #: the system's).
    thetadata_ca_bundle: Path | None = None
    #: The API's certificate chain and private key (PEM): when set it serves HTTPS and WSS.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Where the lake's tables live: "" for the home's `lake/` folder, or `s3://bucket/prefix`
    #: (then the home's `lake/` folder keeps only the lake's integrity ledger).
    lake_uri: str = ""
    #: An S3-compatible endpoint ("" for AWS itself) and the bucket's region.
    lake_endpoint: str = ""
    lake_region: str = ""
    #: The lake's S3 credentials ("" / None: the AWS_* environment or the machine's role);
    #: the secret key is a secret value, never printed or put in a run's config.
    lake_access_key_id: str = ""
    lake_secret_access_key: SecretStr | None = None
    #: Server-side encryption every lake object is written with: "" (the bucket's default),
    #: AES256 (SSE-S3) or aws:kms (SSE-KMS, with `lake_sse_kms_key_id`, "" for the AWS key).
    lake_sse: str = ""
    lake_sse_kms_key_id: str = ""
    #: Where the object store delivers the lake bucket's server access logs (S3's format), which
    #: the cost report counts the lake's requests from: `s3://bucket/prefix` (reached with the
    #: lake's endpoint and credentials) or a local folder; "" none.
    lake_access_log: str = ""
    #: The key personal data is hashed with (HMAC-SHA-256), shared by replicas serving one lake;
    #: None: the home's own, made on first use (security.pii_hash_key). A secret value.
    pii_hash_key: SecretStr | None = None
    #: Where the audit trail's head is anchored outside the home (`market-spine audit anchor`,
    #: hourly by the daemon): a file path to append to, or an http(s) URL to POST to; "" none.
    audit_anchor: str = ""
    #: Where the platform's stores (API keys, audit trail, alerts, the lake's integrity ledger,
    #: provider counters) live: "" SQLite files in the home (one machine), `instance` the Dagster
    #: instance's PostgreSQL, or a postgresql:// URI; on PostgreSQL every node shares them.
    state_database: str = ""

    @property
    def ui_upstream_url(self) -> str:
        """The webserver the API's proxy forwards the UI to (no trailing slash): `ui_upstream`,
        else `http://127.0.0.1:<ui_port>`."""
        return self.ui_upstream or f"http://{UI_HOST}:{self.ui_port}"

    @property
    def ui_local_url(self) -> str:
        """Where `market-spine up` serves the Dagster UI on this machine, path prefix included:
        the address `up` waits on and `status` probes."""
        return f"http://{UI_HOST}:{self.ui_port}{UI_PATH_PREFIX}"

    @property
    def api_local_url(self) -> str:
        """Where a command on this machine reaches the API `up` and `api` serve: `https` when
        TLS is configured, loopback for a wildcard bind, `api_port`."""
        scheme = "https" if self.tls_cert is not None else "http"
        return f"{scheme}://{local_host(self.api_host)}:{self.api_port}"

    @property
    def retention_hours(self) -> int:
        """`retention_days` in hours, as maintenance takes it."""
        return self.retention_days * 24

    @property
    def lake_root(self) -> Path:
        """The Delta Lake lives here, one folder per `<layer>/<dataset>`."""
        return self.home / "lake"

    @property
    def lake_location(self) -> str:
        """The lake root every process opens: `lake_uri`, else the home's lake folder."""
        return self.lake_uri or str(self.lake_root)

    def lake_options(self, run_id: str | None = None) -> ObjectStoreOptions | None:
        """How to reach an S3 lake (endpoint, region, credentials, encryption, and the
        User-Agent its requests carry, naming `run_id` in a run's processes); None for a local
        one."""
        if not self.lake_uri:
            return None
        from market_spine.lake.requester import user_agent
        from market_spine.lake.storage import ObjectStoreOptions

        return ObjectStoreOptions(
            endpoint=self.lake_endpoint or None,
            region=self.lake_region or None,
            access_key_id=self.lake_access_key_id or None,
            secret_access_key=self.lake_secret_access_key,
            sse=self.lake_sse or None,
            sse_kms_key_id=self.lake_sse_kms_key_id or None,
            user_agent=user_agent(run_id),
        )

    def lake(self, run_id: str | None = None) -> Lake:
        """The home's lake, wherever it lives (one per root in a process); an S3 lake's
        requests name `run_id` when given (a run's steps). The way asked for last is the
        process's from then on: a command's reads after a run it executed name no run."""
        from market_spine.lake.integrity import LEDGER_FILE, LEDGER_STORE
        from market_spine.lake.storage import register
        from market_spine.lake.store import lake_at

        options = self.lake_options(run_id)
        if options is not None:
            from market_spine.state_db.location import database_for

            # Before the lake opens: its ledger is made from the registration. A lake on
            # object storage may be written from several nodes, whose homes each hold a ledger
            # file unless state_database names the database they all share.
            ledger = database_for(self, LEDGER_STORE, self.lake_root / LEDGER_FILE)
            register(self.lake_location, options, self.lake_root, ledger)
        return lake_at(self.lake_location, options, self.lake_root)

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance (SQLite storage, run logs) lives inside the home too."""
        return self.home / "dagster"

    @property
    def instruments_path(self) -> Path | None:
        """The instruments file this home reads: `instruments_file`, else
        `<home>/instruments.toml` when it exists; None when there is neither."""
        return instruments_path(self.home, self.instruments_file)

    def configured_roots(self) -> tuple[str, ...]:
        """The futures roots the instruments file adds (sorted; () without a file), registered
        with `markets.instruments` so they resolve like CL, ES and NG. A bad file raises
        InvalidInput naming the file, the table and the fix."""
        from market_spine.markets.instrument_config import configured_roots

        return configured_roots(self.instruments_path)

    @staticmethod
    def home_from_env(env: Mapping[str, str] | None = None) -> Path:
        """The home `MARKET_SPINE_HOME` names (default `./.market_spine`), absolute; for
        commands that need only the home, without validating (and importing) the rest."""
        env = os.environ if env is None else env
        home = Path(env.get("MARKET_SPINE_HOME") or "./.market_spine").expanduser().resolve()
        if home.exists() and not home.is_dir():
            raise InvalidInput(f"MARKET_SPINE_HOME={home} is a file; point it at a folder")
        return home

    @classmethod
    def for_home(cls, home: Path) -> Settings:
        """The settings of `home` under this process's configuration (its variables over the
        home's settings file over its profile): for code given a home rather than settings."""
        named = os.environ.get("MARKET_SPINE_HOME")
        if named and Path(named).expanduser().resolve() == Path(home).resolve():
            return cls.from_env()
        return cls.from_env({**os.environ, "MARKET_SPINE_HOME": str(home)})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read `MARKET_SPINE_*` variables over the home's settings file (the environment
        wins); any bad value raises InvalidInput naming where it came from and the fix."""
        env = os.environ if env is None else env
        home = cls.home_from_env(env)
        return cls.from_sources(home, SettingSources.of(env, home))

    @classmethod
    def from_sources(cls, home: Path, env: SettingSources) -> Settings:
        """The settings of `home` from `env` (variables by name), validated value by value and
        then as a whole (`validate_combination`); the one validation path of every source.
        Every problem is reported at once (InvalidSettings lists them): a value that is wrong
        is held at its default while the others are checked, and the rules across settings
        that involve it are not judged."""
        problems = _Problems()
        take = problems.take
        raw_symbols = env.get("MARKET_SPINE_SYMBOLS", "")
        symbols = tuple(s.strip().upper() for s in raw_symbols.split(",") if s.strip())
        url = take(
            "MARKET_SPINE_THETADATA_URL",
            DEFAULT_THETADATA_URL,
            _url,
            env,
            "MARKET_SPINE_THETADATA_URL",
            DEFAULT_THETADATA_URL,
        )
        tls_cert, tls_key = take("MARKET_SPINE_TLS_CERT", (None, None), _tls, env)
        settings = cls(
            home=home,
            profile=take(
                "MARKET_SPINE_PROFILE", "dev", _choice, env, "MARKET_SPINE_PROFILE", "dev", PROFILES
            ),
            provider=take(
                "MARKET_SPINE_PROVIDER",
                "simulated",
                _choice,
                env,
                "MARKET_SPINE_PROVIDER",
                "simulated",
                PROVIDERS,
            ),
            symbols=symbols or DEFAULT_SYMBOLS,
            sim_seed=take(
                "MARKET_SPINE_SIM_SEED", 7, _int, env, "MARKET_SPINE_SIM_SEED", 7, 0, 2**31 - 1
            ),
            options_provider=take(
                "MARKET_SPINE_OPTIONS_PROVIDER",
                "simulated",
                _choice,
                env,
                "MARKET_SPINE_OPTIONS_PROVIDER",
                "simulated",
                OPTIONS_PROVIDERS,
            ),
            # The URL is kept without its user info: that is a credential, held apart.
            thetadata_url=split_credentials(url)[0],
            thetadata_credentials=take(
                "MARKET_SPINE_THETADATA_CREDENTIALS",
                None,
                _credentials,
                env,
                "MARKET_SPINE_THETADATA_CREDENTIALS",
                url,
            ),
            thetadata_ca_bundle=take(
                "MARKET_SPINE_THETADATA_CA_BUNDLE",
                None,
                _file,
                env,
                "MARKET_SPINE_THETADATA_CA_BUNDLE",
                "a PEM bundle of CA certificates",
            ),
            tls_cert=tls_cert,
            tls_key=tls_key,
            thetadata_tier=take(
                "MARKET_SPINE_THETADATA_TIER",
                "standard",
                _choice,
                env,
                "MARKET_SPINE_THETADATA_TIER",
                "standard",
                THETADATA_TIERS,
            ),
            api_host=take(
                "MARKET_SPINE_API_HOST", "127.0.0.1", env.get, "MARKET_SPINE_API_HOST", "127.0.0.1"
            ),
            api_port=take(
                "MARKET_SPINE_API_PORT",
                DEFAULT_API_PORT,
                _int,
                env,
                "MARKET_SPINE_API_PORT",
                DEFAULT_API_PORT,
                1,
                65535,
            ),
            ui_port=take(
                "MARKET_SPINE_UI_PORT",
                DEFAULT_UI_PORT,
                _int,
                env,
                "MARKET_SPINE_UI_PORT",
                DEFAULT_UI_PORT,
                1,
                65535,
            ),
            ui_upstream=take(
                "MARKET_SPINE_UI_UPSTREAM",
                "",
                _optional_url,
                env,
                "MARKET_SPINE_UI_UPSTREAM",
                "http://dagster-webserver:80",
            ),
            ib_host=take(
                "MARKET_SPINE_IB_HOST", "127.0.0.1", env.get, "MARKET_SPINE_IB_HOST", "127.0.0.1"
            ),
            ib_port=take(
                "MARKET_SPINE_IB_PORT", 4002, _int, env, "MARKET_SPINE_IB_PORT", 4002, 1, 65535
            ),
            ib_client_id=take(
                "MARKET_SPINE_IB_CLIENT_ID",
                1,
                _int,
                env,
                "MARKET_SPINE_IB_CLIENT_ID",
                1,
                0,
                2**31 - 1,
            ),
            api_max_rows=take(
                "MARKET_SPINE_API_MAX_ROWS",
                50_000,
                _int,
                env,
                "MARKET_SPINE_API_MAX_ROWS",
                50_000,
                1,
                10**8,
            ),
            api_max_rows_arrow=take(
                "MARKET_SPINE_API_MAX_ROWS_ARROW",
                2_000_000,
                _int,
                env,
                "MARKET_SPINE_API_MAX_ROWS_ARROW",
                2_000_000,
                1,
                10**9,
            ),
            api_read_slots=take(
                "MARKET_SPINE_API_READ_SLOTS",
                2,
                _int,
                env,
                "MARKET_SPINE_API_READ_SLOTS",
                2,
                1,
                256,
            ),
            instruments_file=take(
                "MARKET_SPINE_INSTRUMENTS",
                None,
                _file,
                env,
                "MARKET_SPINE_INSTRUMENTS",
                "a TOML file like instruments.example.toml",
            ),
            retention_days=take(
                "MARKET_SPINE_RETENTION_DAYS",
                400,
                _int,
                env,
                "MARKET_SPINE_RETENTION_DAYS",
                400,
                0,
                36_500,
            ),
            auth=take(
                "MARKET_SPINE_AUTH", "on", _choice, env, "MARKET_SPINE_AUTH", "on", ("on", "off")
            ),
            oidc_issuer=take(
                "MARKET_SPINE_OIDC_ISSUER", "", _text, env, "MARKET_SPINE_OIDC_ISSUER"
            ),
            oidc_audience=take(
                "MARKET_SPINE_OIDC_AUDIENCE", "", _text, env, "MARKET_SPINE_OIDC_AUDIENCE"
            ),
            oidc_jwks_url=take(
                "MARKET_SPINE_OIDC_JWKS_URL", "", _text, env, "MARKET_SPINE_OIDC_JWKS_URL"
            ),
            oidc_role_claim=take(
                "MARKET_SPINE_OIDC_ROLE_CLAIM", "", _text, env, "MARKET_SPINE_OIDC_ROLE_CLAIM"
            )
            or "roles",
            oidc_datasets_claim=take(
                "MARKET_SPINE_OIDC_DATASETS_CLAIM",
                "",
                _text,
                env,
                "MARKET_SPINE_OIDC_DATASETS_CLAIM",
            )
            or "datasets",
            api_allowed_origins=tuple(
                o.strip().rstrip("/")
                for o in take(
                    "MARKET_SPINE_API_ALLOWED_ORIGINS",
                    "",
                    _text,
                    env,
                    "MARKET_SPINE_API_ALLOWED_ORIGINS",
                ).split(",")
                if o.strip()
            ),
            api_rate_limit=take(
                "MARKET_SPINE_API_RATE_LIMIT",
                100,
                _int,
                env,
                "MARKET_SPINE_API_RATE_LIMIT",
                100,
                1,
                1_000_000,
            ),
            api_ws_per_key=take(
                "MARKET_SPINE_API_WS_PER_KEY",
                16,
                _int,
                env,
                "MARKET_SPINE_API_WS_PER_KEY",
                16,
                1,
                100_000,
            ),
            api_max_body_bytes=take(
                "MARKET_SPINE_API_MAX_BODY_BYTES",
                1_048_576,
                _int,
                env,
                "MARKET_SPINE_API_MAX_BODY_BYTES",
                1_048_576,
                0,
                2**31,
            ),
            api_max_header_bytes=take(
                "MARKET_SPINE_API_MAX_HEADER_BYTES",
                16_384,
                _int,
                env,
                "MARKET_SPINE_API_MAX_HEADER_BYTES",
                16_384,
                1_024,
                1_048_576,
            ),
            api_header_timeout_s=take(
                "MARKET_SPINE_API_HEADER_TIMEOUT_S",
                10,
                _int,
                env,
                "MARKET_SPINE_API_HEADER_TIMEOUT_S",
                10,
                1,
                600,
            ),
            lake_uri=take("MARKET_SPINE_LAKE_URI", "", _lake_uri, env),
            lake_endpoint=take("MARKET_SPINE_LAKE_ENDPOINT", "", _lake_endpoint, env),
            lake_region=take(
                "MARKET_SPINE_LAKE_REGION", "", _text, env, "MARKET_SPINE_LAKE_REGION"
            ),
            lake_access_key_id=take(
                "MARKET_SPINE_LAKE_ACCESS_KEY_ID", "", _text, env, "MARKET_SPINE_LAKE_ACCESS_KEY_ID"
            ),
            lake_secret_access_key=take(
                "MARKET_SPINE_LAKE_SECRET_ACCESS_KEY",
                None,
                _secret,
                env,
                "MARKET_SPINE_LAKE_SECRET_ACCESS_KEY",
            ),
            lake_sse=take("MARKET_SPINE_LAKE_SSE", "", _sse, env),
            lake_sse_kms_key_id=take(
                "MARKET_SPINE_LAKE_SSE_KMS_KEY_ID",
                "",
                _text,
                env,
                "MARKET_SPINE_LAKE_SSE_KMS_KEY_ID",
            ),
            lake_access_log=take("MARKET_SPINE_LAKE_ACCESS_LOG", "", _access_log, env),
            pii_hash_key=take("MARKET_SPINE_PII_HASH_KEY", None, _pii_hash_key, env),
            audit_anchor=take("MARKET_SPINE_AUDIT_ANCHOR", "", _anchor, env),
            state_database=take("MARKET_SPINE_STATE_DATABASE", "", _state_database, env),
            api_body_timeout_s=take(
                "MARKET_SPINE_API_BODY_TIMEOUT_S",
                10,
                _int,
                env,
                "MARKET_SPINE_API_BODY_TIMEOUT_S",
                10,
                1,
                600,
            ),
        )
        if not problems.failed & {"MARKET_SPINE_SYMBOLS", "MARKET_SPINE_INSTRUMENTS"}:
            take("MARKET_SPINE_SYMBOLS", None, settings.validate_symbols)
        for involved, problem in settings.combination_problems():
            if not involved & problems.failed:
                problems.found.append(problem)
        if not problems.failed & {"MARKET_SPINE_AUDIT_ANCHOR"}:
            take("MARKET_SPINE_AUDIT_ANCHOR", None, settings.validate_anchor)
        problems.raise_any()
        return settings

    def validate_combination(self) -> None:
        """Rules across settings (`combination_problems`): InvalidInput naming every broken one."""
        raise_all([problem for _, problem in self.combination_problems()])

    def combination_problems(self) -> list[tuple[frozenset[str], str]]:
        """Rules across settings, each broken one with the variables it involves: the API and
        the UI need their own ports, TWS needs a host, the options pipeline's 1-minute quotes
        need a paid ThetaData tier, authentication stays on in production and an OIDC issuer
        comes with its audience."""
        found: list[tuple[frozenset[str], str]] = []

        def broken(variables: tuple[str, ...], problem: str) -> None:
            found.append((frozenset(f"MARKET_SPINE_{v.upper()}" for v in variables), problem))

        if self.auth == "off" and self.profile == "prod":
            broken(
                ("auth", "profile"),
                "auth is off under the prod profile: authentication may be off for local "
                "development only; unset MARKET_SPINE_AUTH (or set it to on)",
            )
        if self.oidc_issuer and not self.oidc_audience:
            broken(
                ("oidc_issuer", "oidc_audience"),
                f"oidc_issuer is {self.oidc_issuer} but oidc_audience is empty: set "
                "MARKET_SPINE_OIDC_AUDIENCE to the audience the issuer puts in its tokens",
            )
        for name in ("oidc_issuer", "oidc_jwks_url"):
            value = getattr(self, name)
            if value and urlsplit(value).scheme not in ("http", "https"):
                broken(
                    (name,),
                    f"{name} {value!r} is not an http(s) URL: set it to e.g. "
                    "https://login.example.com/realms/market",
                )
        if self.api_port == self.ui_port:
            other = self.ui_port + 1 if self.ui_port < 65535 else self.ui_port - 1
            broken(
                ("api_port", "ui_port"),
                f"api_port and ui_port are both {self.api_port}: the API and the Dagster UI "
                "cannot share a port; give one of them another port, e.g. "
                f"`market-spine config set ui_port {other}` (or MARKET_SPINE_UI_PORT)",
            )
        if self.provider == "ib" and not self.ib_host.strip():
            broken(
                ("provider", "ib_host"),
                "provider is ib but ib_host is empty: set ib_host (and ib_port) to where TWS or "
                "IB Gateway listens, e.g. `market-spine config set ib_host 127.0.0.1`",
            )
        if self.lake_sse_kms_key_id and self.lake_sse != "aws:kms":
            broken(
                ("lake_sse_kms_key_id", "lake_sse"),
                "lake_sse_kms_key_id is set but lake_sse is not aws:kms: set "
                "MARKET_SPINE_LAKE_SSE=aws:kms to encrypt with that key, or unset the key id",
            )
        if not self.lake_uri and (self.lake_endpoint or self.lake_sse):
            broken(
                ("lake_uri", "lake_endpoint", "lake_sse"),
                "lake_endpoint or lake_sse is set but the lake is local (lake_uri is empty): "
                "set MARKET_SPINE_LAKE_URI to s3://bucket/prefix, or unset them",
            )
        if self.profile == "prod" and self.state_database.startswith("postgres"):
            mode = dict(parse_qsl(urlsplit(self.state_database).query)).get("sslmode", "")
            if mode not in ("require", "verify-ca", "verify-full"):
                broken(
                    ("state_database", "profile"),
                    f"state_database connects with sslmode={mode or 'prefer'} under the prod "
                    "profile: the stores' rows and the password would cross the network in "
                    "clear; add ?sslmode=verify-full (and PGSSLROOTCERT naming the CA)",
                )
        if self.state_database and self.pii_hash_key is None:
            broken(
                ("state_database", "pii_hash_key"),
                "state_database is set (the platform's nodes share no home) but pii_hash_key is "
                "not: each node would hash personal data with a key of its own, and masked "
                "columns would not join across them; give every node one key "
                "(MARKET_SPINE_PII_HASH_KEY_FILE naming a mounted secret, 32+ characters)",
            )
        if self.options_provider == "thetadata" and self.thetadata_tier == "free":
            broken(
                ("options_provider", "thetadata_tier"),
                "thetadata_tier is free, which serves end-of-day data only, but the options "
                "pipeline also captures 1-minute SPX quotes: set thetadata_tier to value, "
                "standard or pro (your subscription), or options_provider to simulated",
            )
        return found

    def validate_anchor(self) -> None:
        """An anchor file must lie outside the home: one inside it is rewritten with it."""
        target = self.audit_anchor
        if (
            target
            and not target.startswith(("http://", "https://"))
            and (Path(target).is_relative_to(self.home))
        ):
            raise InvalidInput(
                f"audit_anchor {target} is inside the home {self.home}: whoever can rewrite "
                "the audit trail can rewrite it too; point it outside the home (another "
                "volume, or an http(s) URL)"
            )

    def validate_symbols(self) -> None:
        """Every configured symbol must be a known instrument (built in or configured)."""
        from market_spine.markets.instruments import get_instrument

        self.configured_roots()
        for symbol in self.symbols:
            get_instrument(symbol)
