"""A tenant admin's processes, automation rules and validation rules: checked by the same
compiler that builds them for the runtime, stored as JSON, versioned with the tenant's metadata.
Webhook secrets in them are stored sealed and never read back (:mod:`mosaic.logic.secrets`)."""
from __future__ import annotations

import importlib
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mosaic.errors import NotFound, ValidationFailed
from mosaic.logic.models import BehaviourDefinition
from mosaic.logic.secrets import public_definition, seal_secrets
from mosaic.metadata.fields import NAME_RE, ObjectDef
from mosaic.metadata.store import bump_version

#: kind -> "module:compile function" (each takes definition, obj, objects)
KINDS: dict[str, str] = {
    "process": "mosaic.processes.definitions:compile_process",
    "automation_rule": "mosaic.automation.rules:compile_rule",
    "validation_rule": "mosaic.validation:compile_validation_rule",
}
#: the URL segment of each kind under /api/v1/metadata/
PATHS = {"process": "processes", "automation_rule": "rules", "validation_rule": "validation-rules"}


def compiler(kind: str) -> Callable[..., Any]:
    """The compile function of ``kind``."""
    try:
        module, _, name = KINDS[kind].partition(":")
    except KeyError:
        raise NotFound(f"unknown kind of definition {kind!r}") from None
    return getattr(importlib.import_module(module), name)


def compile_definition(kind: str, definition: Any, objects: dict[str, ObjectDef]):
    """Check ``definition`` against the tenant's ``objects``; the compiled runtime object."""
    if not isinstance(definition, dict):
        raise ValidationFailed("a definition is a JSON object", errors={"_schema": ["expected an object"]})
    obj = objects.get(definition.get("object") or "")
    if obj is None:
        raise ValidationFailed(f"unknown object {definition.get('object')!r}",
                               errors={"object": ["no such object in this tenant"]})
    return compiler(kind)(definition, obj, objects)


def check_with_processes(kind: str, definition: dict, processes: list) -> None:
    """What one definition cannot know alone: a rule's ``stage_entered`` trigger must name a
    process and stage of its object, and no rule may set a field a process owns (stages move
    only by transition). ``processes`` are the object's active processes."""
    if kind != "automation_rule":
        return
    errors: dict[str, list[str]] = {}
    trigger = definition.get("trigger") or {}
    if trigger.get("type") == "stage_entered":
        process = next((p for p in processes if p.name == trigger.get("process")), None)
        if process is None:
            errors["trigger.process"] = [f"no active process {trigger.get('process')!r} on {definition.get('object')}"]
        elif process.stage(trigger.get("stage")) is None:
            errors["trigger.stage"] = [f"{process.name} has no stage {trigger.get('stage')!r}"]
    owned = {p.field for p in processes}
    for i, action in enumerate(definition.get("actions") or ()):
        if isinstance(action, dict) and action.get("type") == "set_field" and action.get("field") in owned:
            errors[f"actions[{i}].field"] = ["a process owns this field; use a transition action"]
    if errors:
        raise ValidationFailed("The rule does not fit the object's processes.", errors=errors)


def _row(session: Session, kind: str, name: Any) -> BehaviourDefinition | None:
    if not isinstance(name, str):
        return None
    return session.scalar(select(BehaviourDefinition).where(BehaviourDefinition.kind == kind,
                                                            BehaviourDefinition.name == name))


def put_definition(session: Session, objects: dict[str, ObjectDef], kind: str, definition: Any,
                   processes: list | None = None, *, box=None, policy=None) -> dict:
    """Create or replace the tenant's ``kind`` definition named ``definition["name"]``
    (``processes``: the object's active processes, for :func:`check_with_processes`).

    Webhook actions: a new secret is sealed with ``box`` (a
    :class:`~mosaic.webhooks.sealing.SecretBox`), one left out or masked keeps the stored one,
    and URLs must pass ``policy`` (an :class:`~mosaic.webhooks.egress.EgressPolicy`; public
    addresses only unless given). Returns the definition as a read shows it (secrets masked).
    """
    name = definition.get("name") if isinstance(definition, dict) else None
    if isinstance(name, str) and "__" in name:
        raise ValidationFailed("names with '__' are reserved for plugins",
                               errors={"name": ["must not contain '__' (plugin namespaces)"]})
    if isinstance(name, str) and not NAME_RE.match(name):
        raise ValidationFailed("invalid name", errors={"name": ["snake_case, letters first, up to 63 characters"]})
    existing = _row(session, kind, name)
    definition = seal_secrets(definition, existing.definition if existing is not None else None, box, policy)
    compiled = compile_definition(kind, definition, objects)
    if processes is not None:
        check_with_processes(kind, definition, processes)
    from mosaic.automation.named_users import check_named_users  # noqa: PLC0415 - automation builds on logic

    check_named_users(session, definition)
    stored = dict(compiled.definition)
    stored.pop("plugin", None)
    row = existing if existing is not None and existing.name == compiled.name else _row(session, kind, compiled.name)
    if row is None:
        row = BehaviourDefinition(kind=kind, name=compiled.name)
        session.add(row)
    row.object = compiled.object
    row.definition = stored
    row.active = bool(stored.get("active", True))
    session.flush()
    bump_version(session)
    return public_definition(stored)


def list_definitions(session: Session, kind: str | None = None) -> list[BehaviourDefinition]:
    """The tenant's own definitions (of one ``kind``), by name."""
    stmt = select(BehaviourDefinition).order_by(BehaviourDefinition.kind, BehaviourDefinition.name)
    if kind:
        stmt = stmt.where(BehaviourDefinition.kind == kind)
    return list(session.scalars(stmt))


def delete_definition(session: Session, kind: str, name: str) -> None:
    """Delete the tenant's ``kind`` definition ``name`` (plugins' cannot be deleted)."""
    row = session.scalar(select(BehaviourDefinition).where(BehaviourDefinition.kind == kind,
                                                           BehaviourDefinition.name == name))
    if row is None:
        raise NotFound(f"no {kind.replace('_', ' ')} named {name!r}")
    session.delete(row)
    session.flush()
    bump_version(session)
