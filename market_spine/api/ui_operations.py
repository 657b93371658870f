"""What a request to the Dagster UI's GraphQL endpoint would run, read the way the webserver
reads it: a `query` in the URL (GET, or POST with any content type) and a body in JSON (one
operation or a batch) or `application/graphql`. The proxy decides on this reading, so a request
it cannot read counts as a mutation and only what is understood to be a read gets through."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse

#: Tags under this prefix are the platform's own (who launched a run, from where): a launch
#: through the UI may not set them, so the audit trail cannot be told another name.
RESERVED_TAG_PREFIX = "market_spine/"


@dataclass(frozen=True)
class Operation:
    """One GraphQL operation a request runs: its kind (`query`, `mutation`, `subscription`, or
    `unreadable`), its name, its top-level fields and its variables."""

    kind: str
    name: str | None = None
    fields: tuple[str, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reads_only(self) -> bool:
        return self.kind == "query"


UNREADABLE = Operation("unreadable")


def _payloads(content_type: str, body: bytes) -> list[Any] | None:
    """The operation payloads of a body (`{query, operationName, variables}` each), [] for none,
    None for a body that cannot be read."""
    if not body.strip():
        return []
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/graphql":
        return [{"query": body.decode("utf-8", "replace")}]
    if kind != "application/json":
        return None
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, list) else [payload]


def _chosen(payload: Any) -> Operation | None:
    """The operation a payload runs (None when it runs none), UNREADABLE when unclear."""
    if not isinstance(payload, dict):
        return UNREADABLE
    text, wanted = payload.get("query"), payload.get("operationName")
    variables = payload.get("variables") or {}
    if not text:
        return None
    if not isinstance(text, str) or not isinstance(variables, dict):
        return UNREADABLE
    try:
        document = parse(text)
    except GraphQLError:
        return UNREADABLE
    defined = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if wanted:
        defined = [d for d in defined if d.name is not None and d.name.value == wanted]
    elif len(defined) > 1:
        return UNREADABLE  # the server would refuse; never guess which one runs
    if not defined:
        return UNREADABLE
    node = defined[0]
    kind = {
        OperationType.QUERY: "query",
        OperationType.MUTATION: "mutation",
        OperationType.SUBSCRIPTION: "subscription",
    }[node.operation]
    fields = tuple(s.name.value for s in node.selection_set.selections if isinstance(s, FieldNode))
    return Operation(kind, node.name.value if node.name else None, fields, variables)


def operations_of(
    content_type: str, query_params: Iterable[tuple[str, str]], body: bytes
) -> list[Operation]:
    """Every operation a request would run: from the URL's `query` and from its body."""
    params = dict(query_params)
    payloads: list[Any] = []
    if "query" in params:
        payloads.append(
            {
                "query": params["query"],
                "operationName": params.get("operationName"),
                "variables": _url_variables(params.get("variables")),
            }
        )
    from_body = _payloads(content_type, body)
    if from_body is None:
        return [UNREADABLE]
    payloads.extend(from_body)
    found = [_chosen(p) for p in payloads]
    return [op for op in found if op is not None]


def _url_variables(raw: str | None) -> Any:
    """The URL's `variables` as JSON; as given when it is not JSON (then not a mapping, so the
    operation counts as unreadable)."""
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def mutates(operations: list[Operation]) -> bool:
    """Whether any of the operations changes something (or cannot be read)."""
    return any(not op.reads_only for op in operations)


def sets_reserved_tags(operation: Operation) -> bool:
    """Whether an operation names a platform tag (in its variables), which a launch through the
    UI may not set."""
    return RESERVED_TAG_PREFIX in json.dumps(operation.variables, default=str)


def summary(operations: list[Operation]) -> list[dict[str, Any]]:
    """The operations as the audit trail keeps them: kind, name, fields, variables (long ones
    cut, so an entry stays small)."""
    shown = []
    for op in operations:
        variables = json.dumps(op.variables, default=str, sort_keys=True)
        shown.append(
            {
                "kind": op.kind,
                "name": op.name,
                "fields": list(op.fields),
                "variables": variables if len(variables) <= 2000 else variables[:2000] + "…",
            }
        )
    return shown
