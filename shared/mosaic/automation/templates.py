"""``{{field}}`` text templates in action definitions (subjects, messages)."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Mapping

from mosaic.metadata.fields import ObjectDef
from mosaic.metadata.values import json_safe

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def template_fields(text: str) -> list[str]:
    """The field names ``text`` refers to, in order of appearance."""
    return _PLACEHOLDER.findall(text)


def check_template(text: Any, obj: ObjectDef, path: str, *, required: bool) -> dict:
    """Errors (``{path: [why]}``) for a template that is not a string or names unknown fields."""
    if text is None and not required:
        return {}
    if not isinstance(text, str) or (required and not text.strip()):
        return {path: ["must be a non-empty string" if required else "must be a string"]}
    if len(text) > 10_000:
        return {path: ["must be at most 10000 characters"]}
    unknown = [name for name in template_fields(text) if obj.field(name) is None]
    if unknown:
        return {path: [f"unknown field {name!r} in {{{{{name}}}}}" for name in unknown]}
    return {}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return json_safe(value)
    if isinstance(value, dict) and "amount" in value:  # money
        return f"{value.get('amount')} {value.get('currency') or ''}".strip()
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


def render(text: str | None, values: Mapping[str, Any]) -> str:
    """``text`` with every ``{{field}}`` replaced by the record's value (a missing one by "")."""
    if not text:
        return ""
    return _PLACEHOLDER.sub(lambda m: _text(values.get(m.group(1))), text)
