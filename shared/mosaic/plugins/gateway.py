"""What a plugin's gateway routes use to reach the services as the requesting user.

    from mosaic.plugins.gateway import call, current_user

    @bp.get("/contacts/<contact_id>/matches")
    def matches(contact_id):
        contact = call("contacts", "get_record", "contact", contact_id)
        ...

Errors raised by services (404, 422, …) propagate and become problem+json like anywhere else.
"""
from __future__ import annotations

from typing import Any

# A plugin declares its routes' contract (OpenAPI) with the gateway's own declarations; the
# module has no dependencies, so importing it in a service process costs nothing.
from mosaic_gateway.contract import PROBLEM, declare, flag, header, items_of, page_of, query  # noqa: F401


def call(service: str, method: str, *args, **kwargs) -> Any:
    """Call ``service.method`` over RPC with the request's identity (tenant, user, roles, trace).

    The result is redacted for the caller: fields hidden from them are absent, so nothing a
    plugin derives from it can carry their values."""
    from mosaic_gateway.redaction import current_policy, redact
    from mosaic_gateway.web import call as gateway_call

    return redact(gateway_call(service, method, *args, **kwargs), current_policy())


def object_service(object_name: str) -> str:
    """The service hosting ``object_name`` for the requesting tenant (404 if it has none)."""
    from mosaic_gateway.web import context, directory

    return directory().by_name(context(), object_name)["service"]


def current_user() -> dict:
    """The caller: ``{tenant_id, user_id, roles, plugins}``."""
    from mosaic_gateway import auth

    ident = auth.current_identity()
    return {"tenant_id": ident.tenant_id, "user_id": ident.user_id, "roles": list(ident.roles),
            "plugins": list(ident.plugins)}
