"""Fetching a company dataset from a paged HTTP JSON API: every page as one capture. A page
shorter than the size asked is not the end, since many APIs cap the page size below the one
asked; the end is an empty page, or the count at the source's `total` path reached, or a null
link at its `next` path. An API that ignores the page parameter (a page repeating the one
before it) or pages past `max_pages` is refused instead of read forever, and an answer that
is not JSON or holds no records where the YAML says is named with what it holds."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import httpx
import polars as pl

from market_spine.company.config import DatasetConfig, HttpSource
from market_spine.company.sources import Fetched, conformed
from market_spine.errors import InvalidInput


def fetch_http(config: DatasetConfig, source: HttpSource, client: httpx.Client) -> list[Fetched]:
    """Every page of the API as one capture (see the module's docstring for where it ends)."""
    records: list[dict[str, Any]] = []
    payload = bytearray()
    previous: list[Any] | None = None
    page = source.first_page
    link: str | None = None
    pages = 0
    while True:
        if pages == source.max_pages:
            raise InvalidInput(
                f"{config.name}: {source.url} still answered records after {pages} pages "
                f"(source.max_pages): nothing was captured; raise `max_pages` if the API "
                f"really holds more, or check that it pages by `{source.page_param}`"
            )
        pages += 1
        if link is None:
            params = {source.page_param: page, source.size_param: source.page_size}
            answer = client.get(source.url, params=params)
        else:
            answer = client.get(link)
        where = f"{source.url} page {page}" if link is None else f"{source.url} (link {link})"
        payload += answer.content
        body = _json(config, answer, where)
        found = _records(config, source, body, where)
        if found and found == previous:
            raise InvalidInput(
                f"{config.name}: {where} repeats the page before it: the API ignores "
                f"`{source.page_param}` (source.page_param), so paging would never end; "
                "nothing was captured: set `page_param` (and `size_param`) to the query "
                "parameters the API pages by, or `next` to the path of its next-page link"
            )
        previous = found
        records += found
        if not found:
            break
        if source.total is not None:
            total = _at(config, body, source.total, "total", where)
            if not isinstance(total, int) or isinstance(total, bool):
                raise InvalidInput(
                    f"{config.name}: {where} holds {total!r} at `total` ({source.total!r}), "
                    "not a count of records: set `source.total` to the path of the count"
                )
            if len(records) >= total:
                break
        if source.next is not None:
            following = _at(config, body, source.next, "next", where)
            if not following:
                break
            link = urljoin(str(answer.url), str(following))
        page += 1
    if not records:
        return []
    try:
        frame = pl.DataFrame(records, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        # The library's message quotes the offending value, which may be personal data.
        raise InvalidInput(
            f"{source.url}: the records do not form a table (a field holds values of "
            "different kinds across records); make each field one JSON type"
        ) from None
    rows = conformed(config, frame, source.url)
    request = {"url": source.url, "pages": pages}
    return [Fetched(rows, bytes(payload), request, "http")]


def _json(config: DatasetConfig, answer: httpx.Response, where: str) -> Any:
    """The answer's JSON body; InvalidInput for an error status or a body that is not JSON,
    naming its content type and first bytes."""
    if answer.status_code != 200:
        raise InvalidInput(
            f"{config.name}: {where} answered {answer.status_code}: {answer.text[:200]}"
        )
    try:
        return answer.json()
    except ValueError:
        kind = answer.headers.get("content-type", "no content type")
        raise InvalidInput(
            f"{config.name}: {where} answered {kind}, not JSON, starting "
            f"{answer.content[:120]!r}: set `source.url` to the API's JSON endpoint"
        ) from None


def _records(config: DatasetConfig, source: HttpSource, body: Any, where: str) -> list[Any]:
    """The list of records at the source's `records` path of one page's body."""
    found = _at(config, body, source.records, "records", where)
    if not isinstance(found, list):
        raise InvalidInput(
            f"{config.name}: {where} holds {type(found).__name__}, not a list, at `records` "
            f"({source.records!r}): set `source.records` to the dotted path of the list"
        )
    return found


def _at(config: DatasetConfig, body: Any, path: str, setting: str, where: str) -> Any:
    """The value at a dotted `path` of a JSON body; InvalidInput naming the part not found,
    the keys found beside it and the setting to fix."""
    for depth, part in enumerate(p for p in path.split(".") if p):
        if not isinstance(body, dict) or part not in body:
            reached = ".".join(path.split(".")[:depth]) or "the top level"
            keys = (
                f"keys {', '.join(map(repr, list(body)[:20]))}"
                if isinstance(body, dict)
                else f"a {type(body).__name__}"
            )
            raise InvalidInput(
                f"{config.name}: {where} has no {part!r} at {reached} (found {keys}): set "
                f"`source.{setting}` ({path!r}) to the dotted path of the "
                f"{'list of records' if setting == 'records' else setting} in the answer"
            )
        body = body[part]
    return body
