"""Validation rules: a condition in the filter language that every saved record must meet.

Like an SQL CHECK constraint, a rule refuses a write only when its condition is *false* for the
record as it would be saved; an unknown condition (it reads a null) passes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from mosaic.errors import ValidationFailed
from mosaic.filters import Filter, parse
from mosaic.metadata.fields import NAME_RE, ObjectDef

KEYS = frozenset({"name", "object", "condition", "message", "field", "active", "plugin"})
MAX_MESSAGE = 500
RECORD_KEY = "_record"  # where a rule without a field reports


@dataclass(frozen=True)
class ValidationRule:
    """A compiled validation rule of one object."""

    name: str
    object: str
    condition: Filter
    message: str
    field: str | None
    active: bool
    #: the normalised definition (what the admin API returns and metadata export writes)
    definition: dict = field(compare=False)

    @property
    def error_key(self) -> str:
        """The key its message is reported under: its field, or ``_record``."""
        return self.field or RECORD_KEY


def compile_validation_rule(definition: Any, obj: ObjectDef, objects: Mapping[str, ObjectDef]
                            ) -> ValidationRule:
    """Check a rule definition for ``obj`` and compile it.

    Keys: ``name`` (snake_case), ``object`` (optional, must be ``obj``), ``condition`` (filter
    language over the object's fields), ``message`` (1 to 500 characters), ``field`` (optional:
    the field the message belongs to), ``active`` (default true), ``plugin`` (set on rules a
    plugin declares). Raises ``ValidationFailed(errors={key: [why]})`` listing every problem.
    """
    if not isinstance(definition, Mapping):
        raise ValidationFailed("Validation rule is invalid.",
                               errors={"_schema": ["A validation rule is a JSON object."]})
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    for key in sorted(set(definition) - KEYS, key=str):
        add(str(key), "Unknown key.")
    name = definition.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        add("name", "Use lower-case letters, digits and underscores, starting with a letter "
                    "(at most 63 characters).")
    if definition.get("object", obj.name) != obj.name:
        add("object", f"The rule belongs to {obj.name!r}, not {definition.get('object')!r}.")
    fields = {f.name: f for f in obj.fields}
    condition = None
    text = definition.get("condition")
    if not isinstance(text, str) or not text.strip():
        add("condition", "A condition in the filter language is required.")
    else:
        try:
            condition = parse(text, fields)
        except ValidationFailed as exc:
            for messages in exc.errors.values():
                errors.setdefault("condition", []).extend(messages)
            if not exc.errors:
                add("condition", exc.detail)
    message = definition.get("message")
    if not isinstance(message, str) or not message.strip() or len(message) > MAX_MESSAGE:
        add("message", f"A message of 1 to {MAX_MESSAGE} characters is required.")
    target = definition.get("field")
    if target is not None and (not isinstance(target, str) or target not in fields):
        add("field", f"Unknown field {target!r} of {obj.name}.")
    active = definition.get("active", True)
    if not isinstance(active, bool):
        add("active", "Must be true or false.")
    plugin = definition.get("plugin")
    if plugin is not None and not isinstance(plugin, str):
        add("plugin", "Must be the declaring plugin's name.")
    if errors:
        raise ValidationFailed("Validation rule is invalid.", errors=errors)
    normalised = {"name": name, "object": obj.name, "condition": text, "message": message,
                  "field": target, "active": active}
    if plugin is not None:
        normalised["plugin"] = plugin
    return ValidationRule(name=name, object=obj.name, condition=condition, message=message,
                          field=target, active=active, definition=normalised)
