"""Whether a lake on object storage can be used: its bucket exists, its endpoint answers, its
credentials are accepted, and they may write (a probe object is put and deleted). Each failure
is told apart, with the setting to correct; the probe gives up within seconds."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from market_spine.lake.storage import refusal
from market_spine.settings import Settings

#: Seconds the probe waits for a connection, and for each answer.
CONNECT_S = 3
ANSWER_S = 5


def why_refused(exc: BaseException, bucket: str, endpoint: str) -> str:
    """What an object store's error means for the lake, and how to fix it."""
    text = str(exc)
    if "NoSuchBucket" in text:
        return (
            f"the bucket {bucket} does not exist at {endpoint}: create it, or correct the "
            "bucket in lake_uri"
        )
    if "169.254.169.254" in text or "/latest/api/token" in text:
        return (
            "no lake credentials are set and this machine's role gives none: set "
            "lake_access_key_id and lake_secret_access_key (or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY)"
        )
    if refusal(exc) is not None:
        return (
            f"{endpoint} refused the lake's credentials for bucket {bucket}: correct "
            "lake_access_key_id / lake_secret_access_key (or AWS_*), and give them read, write "
            "and delete on the bucket"
        )
    if "error sending request" in text or "connect" in text.lower() or "dns" in text.lower():
        return (
            f"nothing answers at {endpoint} (the endpoint is unreachable): correct "
            "lake_endpoint (host and port) or start the object store"
        )
    first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
    return f"the bucket {bucket} at {endpoint} answered an error ({first}): check lake_uri"


def probe_object_lake(settings: Settings) -> tuple[bool, str]:
    """(True, what was done) when the lake's bucket lists and takes a probe object that is then
    deleted; (False, why and the fix) otherwise. Only for a lake on object storage."""
    import obstore
    from obstore.store import S3Store

    from market_spine.lake.storage import USER_AGENT

    options = settings.lake_options()
    assert options is not None, "probe_object_lake needs an s3:// lake"
    parts = urlsplit(settings.lake_uri)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    endpoint = options.endpoint or f"AWS S3 ({options.region or 'the default region'})"
    config = options.object_store()
    client: dict[str, object] = {
        "connect_timeout": timedelta(seconds=CONNECT_S),
        "timeout": timedelta(seconds=ANSWER_S),
    }
    if config.pop("aws_allow_http", None):
        client["allow_http"] = True
    if USER_AGENT in config:
        client[USER_AGENT] = config.pop(USER_AGENT)
    store = S3Store(
        bucket,
        config=config,  # type: ignore[arg-type]
        client_options=client,  # type: ignore[arg-type]
        retry_config={
            "max_retries": 1,
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=1),
                "base": 2,
            },
            "retry_timeout": timedelta(seconds=ANSWER_S),
        },
    )
    key = "/".join(p for p in (prefix, f"_validate-{uuid.uuid4().hex}") if p)
    try:
        obstore.list_with_delimiter(store, f"{prefix}/" if prefix else None)
        obstore.put(store, key, b"market-spine config validate", use_multipart=False)
        obstore.delete(store, key)
    except Exception as exc:  # obstore raises its own types, and FileNotFoundError
        return False, f"{settings.lake_uri}: {why_refused(exc, bucket, endpoint)}"
    return True, f"{settings.lake_uri} answers a listing and takes a write and a delete"
