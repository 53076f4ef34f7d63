"""The route is the contract: each view declares, beside its ``@bp.<method>`` line, its
parameters, request body and every response (status → schema), and the OpenAPI document is
generated from those declarations (:mod:`mosaic_gateway.openapi`), never from a table kept
elsewhere.

    @bp.post("/api/v1/admin/users")
    @declare("Create a user", tag="admin", body=UserCreateSchema,
             responses={201: UserSchema, 409: PROBLEM, 422: PROBLEM})
    def create_user(): ...

A schema is a marshmallow ``Schema`` class, a JSON schema dict, or — for the record API, whose
shape is the tenant's metadata — a callable ``obj -> schema`` given the object's definition.
``values`` fixes URL variables (``{"sub": "history"}``), or, as a callable ``obj -> [dict]``,
expands them per object; ``when(obj)`` limits a record-API operation to some objects.
The responses every caller can meet (401/403 when authenticated, 429 with ``Retry-After``, 503
when a service does not answer, 400/413 for a body) are added by the generator, so a
declaration lists what is particular to its route.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

PROBLEM = {"$ref": "#/components/schemas/Problem"}
#: security requirements of the three kinds of caller
SECURITY = {
    "tenant": [{"bearer": []}, {"apiKey": []}],
    "operator": [{"operatorKey": []}],
    "public": [],
}


@dataclass
class Param:
    """One query, header or path parameter."""

    name: str
    schema: dict
    where: str = "query"
    description: str = ""
    required: bool = False

    def to_dict(self) -> dict:
        out = {"name": self.name, "in": self.where, "required": self.required or self.where == "path",
               "schema": self.schema}
        if self.description:
            out["description"] = self.description
        return out


def query(name: str, description: str = "", **schema) -> Param:
    """A query parameter (``schema`` keywords; a string unless they say otherwise)."""
    return Param(name, {"type": "string", **schema}, "query", description)


def flag(name: str, description: str = "") -> Param:
    """A ``true``/``false`` query parameter."""
    return Param(name, {"type": "string", "enum": ["true", "false"]}, "query", description)


def header(name: str, description: str = "", **schema) -> Param:
    return Param(name, schema or {"type": "string"}, "header", description)


def limit(default: int, high: int) -> Param:
    return query("limit", "page size", type="integer", minimum=1, maximum=high, default=default)


@dataclass
class Declaration:
    """What one view (for some values of its URL variables) takes and answers."""

    summary: str
    tag: str
    responses: dict[int, Any]
    params: list[Param] = field(default_factory=list)
    body: Any = None
    body_required: bool = True
    content: str | dict = "application/json"  # or {media type: schema} for a body of several types
    produces: str = "application/json"
    op: str | None = None
    security: str = "tenant"
    values: dict | Callable[[dict], list[dict]] | None = None
    when: Callable[[dict], bool] | None = None
    headers: dict[int, dict] = field(default_factory=dict)
    description: str = ""
    hidden: bool = False


def declare(summary: str, *, tag: str, responses: dict[int, Any] | None = None, **options) -> Callable:
    """Attach a declaration to a view; stack several for a view serving several URLs."""
    decl = Declaration(summary=summary, tag=tag, responses=dict(responses or {200: None}), **options)

    def decorator(view: Callable) -> Callable:
        view.__dict__.setdefault("contract", []).insert(0, decl)
        return view
    return decorator


def not_in_document(reason: str) -> Callable:
    """Declare a route deliberately left out of the document (the docs page's static assets)."""
    return declare(reason, tag="", hidden=True)


def declarations(view: Callable) -> list[Declaration]:
    """The view's declarations ([] when it has none)."""
    return list(getattr(view, "contract", ()))


def page_of(item: Any, *, total: bool = False) -> dict:
    """``{"items": [item], "next_cursor": …}``: a page of a list (with ``total``: the count a
    record list adds on ``count=true``)."""
    properties = {"items": {"type": "array", "items": item}, "next_cursor": {"type": "string", "nullable": True}}
    if total:
        properties["total"] = {"type": "integer", "description": "with count=true: the matching records"}
        properties["total_is_estimate"] = {"type": "boolean",
                                           "description": "the total is PostgreSQL's estimate (above 10,000)"}
    return {"type": "object", "required": ["items"], "properties": properties}


def items_of(item: Any) -> dict:
    """``{"items": [item]}``: a list that is not paged."""
    return {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": item}}}


def component(obj: dict) -> str:
    """The component name of an object's schema: ``realestate__property`` → ``RealestateProperty``."""
    return "".join(part.capitalize() for part in obj["name"].replace("-", "_").split("_") if part)


def record(suffix: str = "") -> Callable[[dict], dict]:
    """The object's record schema (``""``), its create body (``"Input"``) or its PATCH body
    (``"Patch"``), for a record-API declaration."""
    return lambda obj: {"$ref": f"#/components/schemas/{component(obj)}{suffix}"}


ANY_OBJECT = {"type": "object", "additionalProperties": True}
CSV = {"type": "string"}
