"""Every hook a Mosaic plugin can implement, grouped by when the platform calls it.

Implement a hook by defining a function of the same name, decorated with
``mosaic.plugins.hookimpl``, in the module your ``mosaic.plugins`` entry point names. A hook
implementation may take fewer parameters than the spec lists (only those it needs); new
parameters are only ever added, so a plugin written today keeps working.

Declaration hooks run once per process at start-up, for every installed plugin; what they
return is shown only to tenants that have the plugin enabled. Runtime hooks run per request
and only for plugins the request's tenant has enabled. The reference with examples is
``docs/plugins.md``; a test checks that every hook here is documented there and tested.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from flask import Blueprint

    from mosaic.metadata.fields import FieldDef, ObjectDef
    from mosaic.plugins.seeding import SeedClient
    from mosaic.records.store import RecordStore

hookspec = pluggy.HookspecMarker("mosaic")


# ------------------------------------------------------------------------ declaration (start-up)

@hookspec
def mosaic_objects() -> "list[ObjectDef]":
    """Declare objects. Each :class:`~mosaic.metadata.fields.ObjectDef` names the service that
    hosts it (``service="contacts"``); a plugin's object names start with its namespace
    (``realestate__property``), and their records live in that service's generic records table.
    The core services declare their own objects through this same hook.

    :returns: a list of object definitions (empty if none).

    .. versionadded:: 0.2
    """


@hookspec
def mosaic_fields() -> "dict[str, list[FieldDef]]":
    """Declare fields on objects the plugin does not own: its manifest's ``extends`` (core
    objects such as ``contact``) or another plugin's objects it depends on. Field names start
    with the plugin's namespace (``realestate__budget_min``); values live in the object's JSON
    column and can be indexed like any custom field.

    :returns: ``{object name: [FieldDef, ...]}``.

    .. versionadded:: 0.2
    """


@hookspec
def mosaic_processes() -> "list[dict]":
    """Declare processes (state machines) on the plugin's objects or those it extends, in the
    JSON shape of ``docs/plugins.md#processes`` (the same a tenant admin PUTs to
    ``/api/v1/metadata/processes``). Names start with the plugin's namespace.

    :returns: a list of process definitions.

    .. versionadded:: 0.2
    """


@hookspec
def mosaic_automation_rules() -> "list[dict]":
    """Declare automation rules (trigger, condition, actions), in the shape of
    ``docs/plugins.md#automation-rules``. Names start with the plugin's namespace.

    :returns: a list of rule definitions.

    .. versionadded:: 0.2
    """


@hookspec
def mosaic_validation_rules() -> "list[dict]":
    """Declare validation rules (condition + message), in the shape of
    ``docs/plugins.md#validation-rules``. Names start with the plugin's namespace.

    :returns: a list of validation rule definitions.

    .. versionadded:: 0.2
    """


@hookspec
def mosaic_analytics_metrics() -> "list[dict]":
    """Declare metrics for the analytics service: ``{"name", "label", "object", "aggregate":
    count|sum|avg|min|max, "field" (not for count), "filter" (optional, filter language),
    "group_by" (optional field)}``. Names start with the plugin's namespace. The analytics
    service computes them from events; until it lands they are listed by
    ``GET /api/v1/admin/plugins/<name>``.

    :returns: a list of metric definitions.

    .. versionadded:: 0.2
    """


# ------------------------------------------------------------------------ writes (per record)

@hookspec
def mosaic_validate_record(store: "RecordStore", object_name: str, values: dict,
                           before: "dict | None") -> "dict[str, list[str]] | None":
    """Check a record before it is written (create, update, transition, import), in the
    writing transaction. Runs after formulas and validation rules.

    :param store: the tenant's record store (read other records with ``store.list``/``get``).
    :param object_name: the object being written.
    :param values: the record as it will be saved (python values by field name).
    :param before: the record before this write, or None for a create.
    :returns: ``{field name: [message, ...]}`` to refuse the write (answered as a 422), or None.

    .. versionadded:: 0.2
    """


@hookspec
def mosaic_record_saved(store: "RecordStore", object_name: str, record: dict,
                        before: "dict | None", action: str) -> None:
    """React to a write in the same transaction, after the row, its audit entry and its event
    are written: keep a summary field of a related record up to date, refuse with an error to
    roll the whole write back.

    :param store: the tenant's record store.
    :param object_name: the object written.
    :param record: the record as saved (python values by field name).
    :param before: the record before this write, or None for a create.
    :param action: ``create``, ``update``, ``transition``, ``automation``, ``import`` or ``merge``.

    .. versionadded:: 0.2
    """


# ------------------------------------------------------------------------ events (after commit)

@hookspec
def mosaic_handle_event(store: "RecordStore", event: dict, service: str) -> None:
    """React to a domain event of a tenant that has the plugin enabled, after it was committed
    and published. Called once per event and consuming service: effects written through
    ``store`` commit together with the event's "processed" mark, so a redelivered event changes
    nothing twice.

    :param store: the record store of the event's tenant in the consuming service (system actor).
    :param event: the envelope ``{id, type, tenant_id, occurred_at, actor, object, record_id,
        data, version}``.
    :param service: the consuming service (``contacts``, ...): react in the one hosting the
        records you change.

    .. versionadded:: 0.2
    """


# ------------------------------------------------------------------------ gateway

@hookspec
def mosaic_gateway_routes() -> "Blueprint | None":
    """Add HTTP routes. Return a Flask blueprint; the gateway mounts it under
    ``/api/v1/x/<plugin name>/``, behind authentication, and answers 404 to tenants without the
    plugin. Inside a view, ``mosaic.plugins.gateway.call(service, method, *args)`` calls a
    service as the requesting user.

    :returns: a blueprint, or None.

    .. versionadded:: 0.2
    """


# ------------------------------------------------------------------------ tenant set-up

@hookspec
def mosaic_seed_demo(client: "SeedClient") -> None:
    """Create demo records for a tenant (the embedded mode's demo tenant, or an admin's
    ``POST /api/v1/admin/plugins/<name>/seed``).

    :param client: ``client.create(object_name, data) -> record`` and ``client.list(object_name,
        filter=None)``, acting as the tenant's admin through the services.

    .. versionadded:: 0.2
    """


#: hook name -> the lifecycle group it belongs to (docs/plugins.md follows this order)
GROUPS: dict[str, str] = {
    "mosaic_objects": "declaration", "mosaic_fields": "declaration",
    "mosaic_processes": "declaration", "mosaic_automation_rules": "declaration",
    "mosaic_validation_rules": "declaration", "mosaic_analytics_metrics": "declaration",
    "mosaic_validate_record": "writes", "mosaic_record_saved": "writes",
    "mosaic_handle_event": "events", "mosaic_gateway_routes": "gateway",
    "mosaic_seed_demo": "tenant set-up",
}


def hook_names() -> list[str]:
    """Every hook's name, in declaration order."""
    return list(GROUPS)


