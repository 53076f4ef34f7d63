"""Checking field and object definitions sent by tenant admins, before they become metadata.

Every problem is collected and reported at once as ``ValidationFailed(errors={key: [why]})``;
a name already taken by another custom field or object is a :class:`Conflict`.
"""
from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from marshmallow import ValidationError

from mosaic.errors import Conflict, ValidationFailed
from mosaic.metadata.fields import NAME_RE, SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.metadata.values import (CURRENCY_RE, TEXT_CAPS, UnsupportedPattern, check_value,
                                    compiled_pattern, to_json_value)

FIELD_KEYS = frozenset({
    "name", "type", "label", "required", "unique", "default", "min_value", "max_value",
    "min_length", "max_length", "pattern", "choices", "help_text", "indexed", "lookup", "currency",
    "formula", "formula_type",
})
OBJECT_KEYS = frozenset({"name", "label", "plural", "description", "title_field", "fields"})

#: names that would shadow the storage columns of the tables records live in.
RESERVED_NAMES = frozenset({"tenant_id", "custom", "data", "object"})
#: the gateway's own first path segments under /api/v1: no object's record API may take one
RESERVED_PATHS = ("auth", "admin", "tenants", "metadata", "imports", "x", "me", "openapi.json", "webhooks",
                  "notifications", "approvals")
PLURAL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
MAX_FORMULA = 4096
FORMULA_TYPES = ("text", "integer", "decimal", "boolean", "date", "datetime")
MAX_PATTERN = 500
MAX_CHOICES = 500
#: custom fields one object may have (per tenant), and how many of them may be indexed: each
#: index slows every write to the object's table (and the table is shared by every tenant).
MAX_FIELDS = 500
MAX_INDEXED_FIELDS = 20
MAX_LABEL = 120
MAX_HELP = 1000

_STRING_TYPES = frozenset({FieldType.TEXT, FieldType.LONG_TEXT, FieldType.EMAIL, FieldType.PHONE,
                           FieldType.URL})
_BOUNDED_TYPES = frozenset({FieldType.INTEGER, FieldType.DECIMAL, FieldType.PERCENT,
                            FieldType.MONEY})
_CHOICE_TYPES = frozenset({FieldType.PICKLIST, FieldType.MULTI_PICKLIST})
#: options that only mean something for some types.
_OPTION_TYPES: dict[str, frozenset[FieldType]] = {
    "pattern": _STRING_TYPES, "min_length": _STRING_TYPES, "max_length": _STRING_TYPES,
    "min_value": _BOUNDED_TYPES, "max_value": _BOUNDED_TYPES, "choices": _CHOICE_TYPES,
    "lookup": frozenset({FieldType.LOOKUP}), "currency": frozenset({FieldType.MONEY}),
    "formula": frozenset({FieldType.FORMULA}), "formula_type": frozenset({FieldType.FORMULA}),
}
# A btree entry must stay under ~2.7 kB and equality on these is meaningless or useless.
_NOT_INDEXABLE = frozenset({FieldType.LONG_TEXT, FieldType.URL, FieldType.MULTI_PICKLIST,
                            FieldType.MONEY})
_NOT_UNIQUE = frozenset({FieldType.LONG_TEXT, FieldType.BOOLEAN, FieldType.MULTI_PICKLIST,
                         FieldType.MONEY, FieldType.FORMULA})
_FLAGS = frozenset({"required", "unique", "indexed"})
_NAME_HELP = ("Use lower-case letters, digits and underscores, starting with a letter "
              "(at most 63 characters).")


class _Errors(dict):
    """``{key: [messages]}`` with a prefix for nested keys (``fields.2.name``)."""

    def __init__(self, prefix: str = ""):
        super().__init__()
        self.prefix = prefix

    def add(self, key: str, message: str) -> None:
        self.setdefault(f"{self.prefix}{key}", []).append(message)


def default_label(name: str) -> str:
    """``"annual_revenue"`` -> ``"Annual revenue"``."""
    return name.replace("_", " ").strip().capitalize()


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_name(name: Any, errors: _Errors, what: str = "field") -> bool:
    if not isinstance(name, str) or not NAME_RE.match(name):
        errors.add("name", _NAME_HELP)
        return False
    if "__" in name:
        errors.add("name", f"Double underscores are reserved for plugin {what}s.")
        return False
    if name in RESERVED_NAMES:
        errors.add("name", f"'{name}' is reserved by the platform.")
        return False
    return True


def _check_label(value: Any, key: str, errors: _Errors, limit: int = MAX_LABEL) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()
                              or len(value) > limit):
        errors.add(key, f"Must be a non-empty string of at most {limit} characters.")


def _check_lookup(target: Any, known_objects: Collection[str], errors: _Errors) -> None:
    if not isinstance(target, str) or not target:
        errors.add("lookup", "A lookup field names the object it refers to.")
        return
    if "." in target:
        # "service.object" points at another service's object: that service checks it.
        service, _, name = target.partition(".")
        if not (NAME_RE.match(service) and NAME_RE.match(name)):
            errors.add("lookup", "A cross-service lookup is written 'service.object'.")
    elif target not in known_objects:
        errors.add("lookup", f"Unknown object '{target}'.")


def _check_choices(choices: Any, errors: _Errors) -> tuple[str, ...]:
    if not isinstance(choices, (list, tuple)) or not choices:
        errors.add("choices", "A picklist needs a non-empty list of choices.")
        return ()
    if len(choices) > MAX_CHOICES:
        errors.add("choices", f"At most {MAX_CHOICES} choices.")
    cap = TEXT_CAPS[FieldType.PICKLIST]
    if not all(isinstance(c, str) and c.strip() and len(c) <= cap for c in choices):
        errors.add("choices", f"Each choice is a non-empty string of at most {cap} characters.")
        return ()
    cleaned = tuple(c.strip() for c in choices)
    if len(set(cleaned)) != len(cleaned):
        errors.add("choices", "Choices must be unique.")
    return cleaned


def _check_pattern(pattern: Any, errors: _Errors, name: Any = None) -> None:
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
        errors.add("pattern", f"A pattern is a regular expression of 1 to {MAX_PATTERN} "
                              "characters.")
        return
    try:
        compiled_pattern(pattern)
    except UnsupportedPattern as exc:
        # RE2 matches in linear time; what it refuses (back-references, look-arounds, huge
        # repetitions) could stall every tenant's writes under a backtracking engine.
        errors.add("pattern", f"Not a valid regular expression for '{name}': {exc}. Patterns run "
                              "on RE2 (linear time): no back-references or look-arounds.")


def _check_options(t: FieldType, d: Mapping[str, Any], errors: _Errors) -> dict[str, Any]:
    """The type-specific options of a definition, checked; returns FieldDef keyword arguments."""
    out: dict[str, Any] = {}
    for key, types in _OPTION_TYPES.items():
        if d.get(key) is not None and t not in types:
            errors.add(key, f"Not an option of {t.value} fields.")
    if t in _CHOICE_TYPES:
        out["choices"] = _check_choices(d.get("choices"), errors)
    if t is FieldType.LOOKUP:
        out["lookup"] = d.get("lookup")  # checked by the caller, which knows the objects
    if t in _STRING_TYPES:
        cap = TEXT_CAPS[t]
        for key in ("min_length", "max_length"):
            value = d.get(key)
            if value is not None and (not _is_count(value) or value > cap):
                errors.add(key, f"Must be a whole number from 0 to {cap}.")
            elif value is not None:
                out[key] = value
        if "min_length" in out and "max_length" in out and out["min_length"] > out["max_length"]:
            errors.add("min_length", "Must not be greater than max_length.")
        if d.get("pattern") is not None:
            _check_pattern(d["pattern"], errors, d.get("name"))
            out["pattern"] = d["pattern"]
    if t in _BOUNDED_TYPES:
        for key in ("min_value", "max_value"):
            value = d.get(key)
            if value is not None and not _is_number(value):
                errors.add(key, "Must be a finite number.")
            elif value is not None:
                out[key] = value
        if "min_value" in out and "max_value" in out and out["min_value"] > out["max_value"]:
            errors.add("min_value", "Must not be greater than max_value.")
    if t is FieldType.FORMULA:
        out.update(_check_formula_options(d, errors))
    if t is FieldType.MONEY and d.get("currency") is not None:
        if not isinstance(d["currency"], str) or not CURRENCY_RE.match(d["currency"]):
            errors.add("currency", "A currency is 3 upper-case letters (ISO 4217), e.g. EUR.")
        else:
            out["currency"] = d["currency"]
    return out


def _check_formula_options(d: Mapping[str, Any], errors: _Errors) -> dict[str, Any]:
    """The formula and declared result type of a formula field (its type check against the
    object's fields comes later, in :func:`_resolve_formulas`, when all fields are known)."""
    out: dict[str, Any] = {}
    formula = d.get("formula")
    if not isinstance(formula, str) or not formula.strip() or len(formula) > MAX_FORMULA:
        errors.add("formula", f"A formula field needs a formula of 1 to {MAX_FORMULA} characters.")
    else:
        out["formula"] = formula
    formula_type = d.get("formula_type")
    if formula_type is not None and formula_type not in FORMULA_TYPES:
        errors.add("formula_type", f"Must be one of: {', '.join(FORMULA_TYPES)}.")
    elif formula_type is not None:
        out["formula_type"] = formula_type
    # A computed value has no input to require or default (unique: see _NOT_UNIQUE).
    if d.get("required"):
        errors.add("required", "A formula field is computed; it cannot be required.")
    if d.get("default") is not None:
        errors.add("default", "A formula field is computed; it cannot have a default.")
    return out


def _resolve_formulas(fields: list[FieldDef], check: dict[str, str], errors: _Errors) -> dict[str, FieldDef]:
    """Type-check the formula fields ``check`` maps to their error key prefix, against ``fields``
    (all the object's fields, new definitions in place); returns them with ``formula_type``."""
    # Imported here: mosaic.formulas reads metadata values, and this module is imported by the
    # mosaic.metadata package itself.
    from mosaic.formulas import resolve_formula_fields

    try:
        resolved = resolve_formula_fields(fields, check.keys())
    except ValidationFailed as exc:
        for name, messages in exc.errors.items():
            prefix = check.get(name, check[next(iter(check))])
            for message in messages:
                errors.add(f"{prefix}formula", message)
        return {}
    for name, fdef in resolved.items():
        if fdef.indexed and fdef.formula_type == "text":
            errors.add(f"{check[name]}indexed", "A text formula cannot be indexed (its values "
                                               "have no length limit).")
    return resolved


def _with_formula_checked(fdef: FieldDef, obj: ObjectDef, errors: _Errors,
                          replacing: str | None = None) -> FieldDef | None:
    """``fdef`` (a field of ``obj``, new or replacing one) with its formula type-checked."""
    if fdef.type is not FieldType.FORMULA:
        return fdef
    others = [f for f in obj.fields if f.name not in (fdef.name, replacing)]
    return _resolve_formulas(others + [fdef], {fdef.name: ""}, errors).get(fdef.name)


def _validate_field(d: Any, obj: ObjectDef, known_objects: Collection[str], errors: _Errors,
                    replacing: str | None = None) -> FieldDef | None:
    """Check one field definition against ``obj``; add problems to ``errors``."""
    if not isinstance(d, Mapping):
        errors.add("_schema", "A field definition is a JSON object.")
        return None
    for key in sorted(set(d) - FIELD_KEYS):
        errors.add(str(key), "Unknown key.")
    name = d.get("name")
    if _check_name(name, errors) and name != replacing:
        taken = obj.field(name)
        if taken is not None:
            kind = "a custom" if taken.custom else ("a system" if taken in SYSTEM_FIELDS
                                                    else "a core")
            errors.add("name", f"'{name}' is already {kind} field of {obj.name}.")
    try:
        t = FieldType(d.get("type"))
    except ValueError:
        errors.add("type", "Must be one of: " + ", ".join(ft.value for ft in FieldType) + ".")
        return None
    options = _check_options(t, d, errors)
    if t is FieldType.LOOKUP:
        _check_lookup(d.get("lookup"), known_objects, errors)
    for key in sorted(_FLAGS):
        if d.get(key) is not None and not isinstance(d[key], bool):
            errors.add(key, "Must be true or false.")
    if d.get("unique") and t in _NOT_UNIQUE:
        errors.add("unique", f"A {t.value} field cannot be unique.")
    if d.get("indexed") and t in _NOT_INDEXABLE:
        errors.add("indexed", f"A {t.value} field cannot be indexed.")
    _check_label(d.get("label"), "label", errors)
    if d.get("help_text") is not None and (not isinstance(d["help_text"], str)
                                           or len(d["help_text"]) > MAX_HELP):
        errors.add("help_text", f"Must be a string of at most {MAX_HELP} characters.")
    if errors:
        return None
    fdef = FieldDef(
        name=name, type=t, label=d.get("label") or default_label(name),
        required=bool(d.get("required")), unique=bool(d.get("unique")),
        indexed=bool(d.get("indexed")), help_text=d.get("help_text") or "",
        storage="json", custom=True, **options,
    )
    if d.get("default") is not None:
        try:
            # The field's own check: a default the field would refuse is caught here, not on
            # the first record. Stored in JSON form, like every value.
            fdef = replace(fdef, default=to_json_value(fdef, check_value(fdef, d["default"])))
        except ValidationError as exc:
            for message in exc.messages if isinstance(exc.messages, list) else [exc.messages]:
                errors.add("default", f"Invalid default: {message}")
            return None
    return fdef


def _raise(errors: _Errors, detail: str) -> None:
    if errors:
        raise ValidationFailed(detail, errors=dict(errors))


def validate_field(definition: Any, obj: ObjectDef, known_objects: Collection[str]) -> FieldDef:
    """A new custom field of ``obj`` from an API definition.

    ``known_objects`` are the object names a lookup may target (the service's registry plus the
    tenant's custom objects). Raises :class:`Conflict` when a custom field of that name exists,
    :class:`ValidationFailed` for anything else wrong.
    """
    if isinstance(definition, Mapping):
        existing = obj.field(definition.get("name")) if isinstance(definition.get("name"),
                                                                   str) else None
        if existing is not None and existing.custom:
            raise Conflict(f"A field named '{existing.name}' already exists on {obj.name}.",
                           errors={"name": ["A field of that name already exists."]})
    errors = _Errors()
    if len(obj.custom_fields) >= MAX_FIELDS:
        raise ValidationFailed(f"{obj.name} already has {len(obj.custom_fields)} custom fields "
                               f"(at most {MAX_FIELDS}).",
                               errors={"name": [f"At most {MAX_FIELDS} custom fields per object."]})
    fdef = _validate_field(definition, obj, known_objects, errors)
    _raise(errors, "Field definition is invalid.")
    _check_index_cap(obj, [fdef], errors)
    _raise(errors, "Field definition is invalid.")
    fdef = _with_formula_checked(fdef, obj, errors)
    _raise(errors, "Field definition is invalid.")
    return fdef


def _check_index_cap(obj: ObjectDef, new: list[FieldDef], errors: _Errors,
                     replacing: str | None = None, prefix: str = "") -> None:
    """At most :data:`MAX_INDEXED_FIELDS` indexed custom fields per object."""
    names = {f.name for f in new}
    kept = [f for f in obj.custom_fields if f.indexed and f.name not in names | {replacing}]
    added = [f for f in new if f.indexed]
    if added and len(kept) + len(added) > MAX_INDEXED_FIELDS:
        errors.add(f"{prefix}indexed", f"{obj.name} may have at most {MAX_INDEXED_FIELDS} indexed "
                                       f"custom fields; it has {len(kept)}.")


def field_to_definition(fdef: FieldDef) -> dict[str, Any]:
    """The API definition of a custom field: the keys an admin may send, set ones only."""
    data = fdef.to_dict()
    # An unset flag is left out, but a boolean field's default of false is a real value.
    return {k: v for k, v in data.items()
            if k in FIELD_KEYS and v is not None and not (isinstance(v, (str, list)) and not v)
            and not (k in _FLAGS and v is False)}


def validate_field_change(existing: FieldDef, changes: Any, obj: ObjectDef,
                          known_objects: Collection[str]) -> FieldDef:
    """``existing`` with ``changes`` applied and checked as a whole.

    The type and the name cannot change: values already stored under that key and type would
    silently mean something else. Anything else may, even if existing records now violate it;
    they are checked again on their next write. An option set to null is removed.
    """
    errors = _Errors()
    if not isinstance(changes, Mapping):
        raise ValidationFailed("Field change is invalid.",
                               errors={"_schema": ["A field change is a JSON object."]})
    if "type" in changes and changes["type"] != existing.type.value:
        errors.add("type", "The type of a field cannot change; add a new field instead.")
    if "name" in changes and changes["name"] != existing.name:
        errors.add("name", "A field cannot be renamed; its values are stored under its name.")
    _raise(errors, "Field change is invalid.")
    merged = {**field_to_definition(existing), **changes}
    if "formula" in changes and "formula_type" not in changes:
        merged.pop("formula_type", None)  # inferred again from the new formula
    fdef = _validate_field(merged, obj, known_objects, errors, replacing=existing.name)
    _raise(errors, "Field change is invalid.")
    if fdef.indexed and not existing.indexed:
        _check_index_cap(obj, [fdef], errors, replacing=existing.name)
        _raise(errors, "Field change is invalid.")
    fdef = _with_formula_checked(fdef, obj, errors, replacing=existing.name)
    _raise(errors, "Field change is invalid.")
    return fdef


def validate_object(definition: Any, *, service: str, taken_names: Collection[str],
                    taken_paths: Collection[str], known_objects: Collection[str]) -> ObjectDef:
    """A new custom object from an API definition (name, label, plural, description,
    title_field, fields).

    ``taken_names``/``taken_paths`` are the names and URL paths of the tenant's existing
    objects; reusing one is a :class:`Conflict`. A field may look up the new object itself.
    """
    errors = _Errors()
    if not isinstance(definition, Mapping):
        raise ValidationFailed("Object definition is invalid.",
                               errors={"_schema": ["An object definition is a JSON object."]})
    for key in sorted(set(definition) - OBJECT_KEYS):
        errors.add(str(key), "Unknown key.")
    name = definition.get("name")
    name_ok = _check_name(name, errors, "object")
    plural = definition.get("plural")
    if plural is None and name_ok:
        plural = f"{name}s"
    if plural is not None and (not isinstance(plural, str) or not PLURAL_RE.match(plural)):
        errors.add("plural", "A plural is URL-safe: lower-case letters, digits, '_' and '-', "
                             "starting with a letter.")
    if name_ok and name in taken_names:
        raise Conflict(f"An object named '{name}' already exists.",
                       errors={"name": ["An object of that name already exists."]})
    if isinstance(plural, str) and plural in RESERVED_PATHS:
        errors.add("plural", f"'{plural}' is a path of the API itself; choose another plural.")
    if isinstance(plural, str) and plural in taken_paths:
        raise Conflict(f"The plural '{plural}' is already used by another object.",
                       errors={"plural": ["Already used by another object."]})
    _check_label(definition.get("label"), "label", errors)
    description = definition.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 2000):
        errors.add("description", "Must be a string of at most 2000 characters.")
    raw_fields = definition.get("fields", [])
    fields: list[FieldDef] = []
    if not isinstance(raw_fields, list) or len(raw_fields) > MAX_FIELDS:
        errors.add("fields", f"A list of at most {MAX_FIELDS} field definitions.")
        raw_fields = []
    known = set(known_objects) | ({name} if name_ok else set())
    for i, raw in enumerate(raw_fields):
        # Checked against the fields before it, so a name given twice is caught.
        draft = ObjectDef(name=name if name_ok else "object", label="", service=service,
                          fields=SYSTEM_FIELDS + tuple(fields), kind="custom")
        field_errors = _Errors(prefix=f"fields.{i}.")
        fdef = _validate_field(raw, draft, known, field_errors)
        errors.update(field_errors)
        if fdef is not None:
            fields.append(fdef)
    indexed = [f for f in fields if f.indexed]
    if len(indexed) > MAX_INDEXED_FIELDS:
        errors.add("fields", f"At most {MAX_INDEXED_FIELDS} indexed fields per object; "
                             f"{len(indexed)} are.")
    formulas = {f.name: f"fields.{i}." for i, f in enumerate(fields) if f.type is FieldType.FORMULA}
    if formulas and not errors:
        # A formula may read any field of the new object, also one defined after it.
        resolved = _resolve_formulas(list(SYSTEM_FIELDS) + fields, formulas, errors)
        fields = [resolved.get(f.name, f) for f in fields]
    title_field = definition.get("title_field")
    names = [f.name for f in fields]
    if title_field is None:
        texts = [f.name for f in fields if f.type is FieldType.TEXT]
        title_field = "name" if "name" in names else (texts[0] if texts else "id")
    elif title_field not in names and title_field != "id":
        errors.add("title_field", "Must name one of the object's fields.")
    _raise(errors, "Object definition is invalid.")
    return ObjectDef(
        name=name, label=definition.get("label") or default_label(name), service=service,
        fields=SYSTEM_FIELDS + tuple(fields), plural=plural, kind="custom",
        title_field=title_field, description=definition.get("description") or "",
    )
