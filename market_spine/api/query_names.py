"""Unknown query parameters are refused, never ignored: a misspelt `certifed_only=true` or
`as_off=3` would otherwise answer as if it had not been asked, and the caller would trust a read
that is not the one they meant."""

from __future__ import annotations

from difflib import get_close_matches

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from market_spine.api.errors import ApiError

#: The query names each route declares, by the route's identity (routes compare by value,
#: so they cannot be dictionary keys themselves); filled the first time a route answers.
_declared: dict[int, tuple[APIRoute, frozenset[str]]] = {}


def declared(dependant: Dependant) -> frozenset[str]:
    """Every query parameter name (its alias: `format`, not `fmt`) a route or its dependencies
    read."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= declared(sub)
    return frozenset(names)


def refuse_unknown(request: Request) -> None:
    """A dependency of every data route: 400 naming each query parameter the route does not
    take, with the ones it does."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    kept = _declared.get(id(route))
    if kept is None or kept[0] is not route:
        kept = _declared[id(route)] = (route, declared(route.dependant))
    accepted = kept[1]
    unknown = sorted(set(request.query_params) - accepted)
    if not unknown:
        return
    plural = "s" if len(unknown) > 1 else ""
    takes = ", ".join(sorted(accepted)) if accepted else "no query parameter"
    meant = [
        f"{close[0]} for {name}"
        for name in unknown
        if (close := get_close_matches(name, accepted, n=1, cutoff=0.6))
    ]
    hint = f"; did you mean {', '.join(meant)}?" if meant else ""
    raise ApiError(
        400,
        f"unknown query parameter{plural} {', '.join(unknown)}: {route.path} takes {takes} "
        f"(see /docs for what each means){hint}",
        unknown[0],
    )
