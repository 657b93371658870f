"""The HTTP JSON source against a real server on loopback: every page is read until a short
one, the records under a dotted path become one capture, and an error page is a clear error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from market_spine.company.config import parse
from market_spine.company.sources import fetch_http
from market_spine.errors import InvalidInput

SUPPLIERS = [
    {"tenant": "acme", "supplier_id": f"S{i:03d}", "name": f"Supplier {i}", "rating": i % 5}
    for i in range(1, 8)
]


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        if urlsplit(self.path).path == "/broken":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"database down")
            return
        page, size = int(query["page"][0]), int(query["size"][0])
        items = SUPPLIERS[(page - 1) * size : page * size]
        body = json.dumps({"data": {"items": items}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
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


def _config(url: str):
    return parse(
        {
            "type": "market_spine.company.component.CompanyDataset",
            "attributes": {
                "name": "suppliers",
                "description": "Suppliers from the procurement API.",
                "owner": "team:procurement",
                "kind": "dimension",
                "source": {"kind": "http", "url": url, "records": "data.items", "page_size": 3},
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
    assert fetched.request["pages"] == 3 and fetched.source == "http"
    assert fetched.rows.schema["rating"].is_integer()


def test_an_error_page_is_a_clear_error(base_url: str) -> None:
    config = _config(f"{base_url}/broken")
    with httpx.Client() as client, pytest.raises(InvalidInput, match="answered 500 on page 1"):
        fetch_http(config, config.source, client)  # type: ignore[arg-type]
