"""Automation rules: trigger + condition + actions, checked and compiled from their JSON form.

The same :func:`compile_rule` checks an admin's PUT, a plugin's declaration and builds the
runtime :class:`Rule` the write pipeline (:mod:`mosaic.automation.engine`) matches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mosaic.automation.actions import split_actions, validate_actions
from mosaic.automation.offsets import check_offset
from mosaic.errors import ValidationFailed
from mosaic.filters import Filter, parse
from mosaic.metadata.fields import NAME_RE, FieldType, ObjectDef

TRIGGERS = ("created", "updated", "field_changed", "stage_entered", "scheduled")
#: triggers the write pipeline matches itself (stage_entered comes from the process engine,
#: scheduled from the timer)
_TRIGGER_KEYS = {
    "created": set(), "updated": set(), "field_changed": {"fields"},
    "stage_entered": {"process", "stage"}, "scheduled": {"field", "offset"},
}
_KEYS = {"name", "label", "object", "active", "order", "trigger", "condition", "actions", "description", "plugin"}
_REQUIRED = ("name", "object", "trigger", "actions")


@dataclass(frozen=True)
class Rule:
    """A compiled automation rule."""

    name: str
    label: str
    object: str
    active: bool
    order: int
    trigger: dict
    condition: Filter | None
    actions: tuple[dict, ...]
    definition: dict = field(compare=False, repr=False)
    plugin: str | None = None

    @property
    def kind(self) -> str:
        """The trigger type."""
        return self.trigger["type"]

    @property
    def inline_actions(self) -> list[dict]:
        """The set_field actions a triggering write applies itself."""
        return split_actions(self.actions)[0]

    @property
    def queued_actions(self) -> list[dict]:
        """The actions queued as a job after the triggering write."""
        return split_actions(self.actions)[1]


def _check_trigger(trigger: Any, obj: ObjectDef) -> tuple[dict | None, dict]:
    if not isinstance(trigger, dict):
        return None, {"trigger": ["must be an object with a type"]}
    kind = trigger.get("type")
    if kind not in TRIGGERS:
        return None, {"trigger.type": [f"must be one of: {', '.join(TRIGGERS)}"]}
    allowed = _TRIGGER_KEYS[kind]
    errors = {f"trigger.{k}": [f"unknown key for a {kind} trigger"] for k in sorted(set(trigger) - allowed - {"type"})}
    out: dict[str, Any] = {"type": kind}
    if kind == "field_changed":
        fields = trigger.get("fields")
        if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
            errors["trigger.fields"] = ["must be a non-empty list of field names"]
        else:
            unknown = [f for f in fields if obj.field(f) is None]
            if unknown:
                errors["trigger.fields"] = [f"unknown field {f!r} of {obj.name}" for f in unknown]
            out["fields"] = list(dict.fromkeys(fields))
    elif kind == "stage_entered":
        for key in ("process", "stage"):
            value = trigger.get(key)
            if not isinstance(value, str) or not NAME_RE.match(value):
                errors[f"trigger.{key}"] = [f"must name a {key}"]
            out[key] = value
    elif kind == "scheduled":
        fd = obj.field(trigger["field"]) if isinstance(trigger.get("field"), str) else None
        if fd is None:
            errors["trigger.field"] = [f"must name a date or datetime field of {obj.name}"]
        elif fd.type not in (FieldType.DATE, FieldType.DATETIME):
            errors["trigger.field"] = [f"{fd.name} is a {fd.type.value} field, not a date or datetime"]
        out["field"] = trigger.get("field")
        offset, bad = check_offset(trigger.get("offset", {"days": 0}), "trigger.offset")
        errors.update(bad)
        out["offset"] = offset
    return (None if errors else out), errors


def compile_rule(definition: Any, obj: ObjectDef, objects: dict[str, ObjectDef]) -> Rule:
    """The runtime rule of ``definition`` for records of ``obj``.

    Raises ValidationFailed with every problem under its JSON path (``"trigger.fields"``,
    ``"condition"``, ``"actions[1].value"``, ...). Process and stage names of a stage_entered
    trigger are not checked here (the caller knows the tenant's processes).
    """
    if not isinstance(definition, dict):
        raise ValidationFailed("A rule must be a JSON object.", errors={"_rule": ["must be an object"]})
    errors: dict[str, list[str]] = {k: ["unknown key"] for k in sorted(set(definition) - _KEYS)}
    errors.update({k: ["is required"] for k in _REQUIRED if k not in definition})
    name = definition.get("name")
    if "name" in definition and (not isinstance(name, str) or not NAME_RE.match(name)):
        errors["name"] = ["must be snake_case: a letter, then letters, digits or _ (at most 63)"]
    if "object" in definition and definition["object"] != obj.name:
        errors["object"] = [f"must be {obj.name!r}"]
    label = definition.get("label", name)
    if label is not None and not isinstance(label, str):
        errors["label"] = ["must be a string"]
    active = definition.get("active", True)
    if not isinstance(active, bool):
        errors["active"] = ["must be true or false"]
    order = definition.get("order", 100)
    if isinstance(order, bool) or not isinstance(order, int):
        errors["order"] = ["must be a whole number"]
    for key in ("description", "plugin"):
        if definition.get(key) is not None and not isinstance(definition[key], str):
            errors[key] = ["must be a string"]
    trigger = None
    if "trigger" in definition:
        trigger, bad = _check_trigger(definition["trigger"], obj)
        errors.update(bad)
    condition, text = None, definition.get("condition")
    if text is not None and (not isinstance(text, str) or text.strip()):
        if not isinstance(text, str):
            errors["condition"] = ["must be a filter (a string)"]
        else:
            try:
                condition = parse(text, {f.name: f for f in obj.fields})
            except ValidationFailed as exc:
                errors["condition"] = _flat(exc)
    actions: list[dict] = []
    if "actions" in definition:
        try:
            actions = validate_actions(definition["actions"], obj, objects, "actions")
        except ValidationFailed as exc:
            errors.update(exc.errors)
        if not errors.get("actions") and not definition["actions"]:
            errors["actions"] = ["a rule needs at least one action"]
    if errors:
        raise ValidationFailed(f"Automation rule {name!r} is invalid." if isinstance(name, str)
                               else "Automation rule is invalid.", errors=errors)
    normalised = {"name": name, "label": label or name, "object": obj.name, "active": active, "order": order,
                  "trigger": trigger, "condition": text.strip() if condition is not None else None,
                  "actions": actions}
    for key in ("description", "plugin"):
        if definition.get(key) is not None:
            normalised[key] = definition[key]
    return Rule(name=name, label=label or name, object=obj.name, active=active, order=order, trigger=trigger,
                condition=condition, actions=tuple(actions), definition=normalised,
                plugin=definition.get("plugin"))


def _flat(exc: ValidationFailed) -> list[str]:
    messages = [m for v in (exc.errors or {}).values() for m in (v if isinstance(v, list) else [v])]
    return [str(m) for m in messages] or [exc.detail]
