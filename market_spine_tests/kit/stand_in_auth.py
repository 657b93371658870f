"""A stand-in for authentication in tests of what reads `request.state.identity`: the
`x-test-actor` and `x-test-role` headers become the request's identity."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class Identity:
    """Who a request acts as, duck-typed like authentication's identity."""

    actor: str
    role: str


class StandInAuthentication:
    """ASGI middleware setting `scope["state"]["identity"]` from the test headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", []))
        actor = headers.get(b"x-test-actor")
        if actor:
            role = headers.get(b"x-test-role", b"compliance").decode()
            scope.setdefault("state", {})["identity"] = Identity(actor.decode(), role)
        await self.app(scope, receive, send)
