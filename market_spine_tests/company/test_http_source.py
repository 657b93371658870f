"""The HTTP JSON source against a real server on loopback: every page is read until an empty
one (a short page is not the end: the API may cap the page size), or until a `total` count or
a null `next` link; the records under a dotted path become one capture; an API that ignores
the page parameter or pages past `max_pages` is refused, and an error page, an HTML answer or
a records path the answer lacks is a clear error naming what was found."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from market_spine.company.config import parse
from market_spine.company.http_source import fetch_http
from market_spine.errors import InvalidInput

SUPPLIERS = [
    {"tenant": "acme", "supplier_id": f"S{i:03d}", "name": f"Supplier {i}", "rating": i % 5}
    for i in range(1, 8)
]


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path, query = urlsplit(self.path).path, parse_qs(urlsplit(self.path).query)
        if path == "/broken":
            self._send(500, b"database down", "text/plain")
            return
        if path == "/html":
            self._send(200, b"<html><body>Sign in</body></html>", "text/html")
            return
        if path == "/linked":
            start = int(query.get("from", ["0"])[0])
            following = f"/linked?from={start + 2}" if start + 2 < len(SUPPLIERS) else None
            items = SUPPLIERS[start : start + 2]
            self._json({"data": {"items": items}, "links": {"next": following}})
            return
        page, size = int(query["page"][0]), int(query["size"][0])
        if path == "/endless":
            self._json({"data": {"items": [{**SUPPLIERS[0], "supplier_id": f"E{page}"}]}})
            return
        if path == "/stuck":
            page = 1  # ignores the page parameter
        if path in ("/capped", "/counted"):
            size = min(size, 2)
        items = SUPPLIERS[(page - 1) * size : page * size]
        if path == "/flat":
            self._json({"items": items, "count": len(items)})
            return
        self._json({"data": {"items": items}, "total": len(SUPPLIERS)})

    def _json(self, body: object) -> None:
        self._send(200, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _config(url: str, **source: object):
    return parse(
        {
            "type": "market_spine.company.component.CompanyDataset",
            "attributes": {
                "name": "suppliers",
                "description": "Suppliers from the procurement API.",
                "owner": "team:procurement",
                "kind": "dimension",
                "source": {"kind": "http", "url": url, "records": "data.items", "page_size": 3}
                | source,
                "columns": [
                    {"name": "tenant", "type": "string", "description": "Tenant."},
                    {"name": "supplier_id", "type": "string", "description": "Id."},
                    {"name": "name", "type": "string", "description": "Name."},
                    {"name": "rating", "type": "int", "description": "Rating 0-4."},
                ],
                "keys": ["tenant", "supplier_id"],
            },
        },
        Path("suppliers/defs.yaml"),
    )


def test_every_page_is_one_capture(base_url: str) -> None:
    config = _config(f"{base_url}/suppliers")
    with httpx.Client() as client:
        (fetched,) = fetch_http(config, config.source, client)  # type: ignore[arg-type]
    assert fetched.rows["supplier_id"].to_list() == [s["supplier_id"] for s in SUPPLIERS]
    # The third page is short (one record); the fourth, empty, is the end.
    assert fetched.request["pages"] == 4 and fetched.source == "http"
    assert fetched.rows.schema["rating"].is_integer()


def test_an_error_page_is_a_clear_error(base_url: str) -> None:
    config = _config(f"{base_url}/broken")
    with httpx.Client() as client, pytest.raises(InvalidInput, match="page 1 answered 500"):
        fetch_http(config, config.source, client)  # type: ignore[arg-type]


def _fetch(config) -> list[str]:  # type: ignore[no-untyped-def]
    with httpx.Client() as client:
        (fetched,) = fetch_http(config, config.source, client)
    return fetched.rows["supplier_id"].to_list()


def _refusal(config) -> str:  # type: ignore[no-untyped-def]
    with httpx.Client() as client, pytest.raises(InvalidInput) as caught:
        fetch_http(config, config.source, client)
    return str(caught.value)


ALL = [s["supplier_id"] for s in SUPPLIERS]


def test_an_api_capping_its_page_size_below_the_one_asked_loses_no_row(base_url: str) -> None:
    assert _fetch(_config(f"{base_url}/capped")) == ALL


def test_a_total_path_ends_paging_at_the_count(base_url: str) -> None:
    config = _config(f"{base_url}/counted", total="total")
    with httpx.Client() as client:
        (fetched,) = fetch_http(config, config.source, client)  # type: ignore[arg-type]
    assert fetched.rows["supplier_id"].to_list() == ALL and fetched.request["pages"] == 4


def test_a_next_link_is_followed_until_it_is_null(base_url: str) -> None:
    assert _fetch(_config(f"{base_url}/linked", next="links.next")) == ALL


def test_an_api_ignoring_the_page_parameter_is_refused_not_read_forever(base_url: str) -> None:
    said = _refusal(_config(f"{base_url}/stuck"))
    assert f"{base_url}/stuck page 2 repeats the page before it" in said
    assert "set `page_param`" in said


def test_paging_stops_at_max_pages(base_url: str) -> None:
    said = _refusal(_config(f"{base_url}/endless", max_pages=5))
    assert f"{base_url}/endless still answered records after 5 pages" in said
    assert "raise `max_pages`" in said


def test_a_records_path_the_answer_lacks_names_the_keys_found(base_url: str) -> None:
    said = _refusal(_config(f"{base_url}/flat"))
    assert f"{base_url}/flat page 1 has no 'data' at the top level" in said
    assert "(found keys 'items', 'count')" in said and "set `source.records`" in said


def test_an_html_answer_names_its_content_type_and_first_bytes(base_url: str) -> None:
    said = _refusal(_config(f"{base_url}/html"))
    assert f"{base_url}/html page 1 answered text/html, not JSON" in said
    assert "<html><body>Sign in" in said and "JSON endpoint" in said


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ({"max_pages": 0}, "key `attributes.source.max_pages` is"),
        ({"max_pages": "10"}, "key `attributes.source.max_pages` is"),
        ({"total": "total", "next": "links.next"}, "at most one of `total` or `next`"),
    ],
)
def test_paging_settings_are_judged_when_the_yaml_loads(source: dict, found: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(found)):
        _config("http://127.0.0.1:9/x", **source)
