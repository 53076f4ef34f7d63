"""One marshmallow schema per (tenant, object, metadata version), built from metadata.

The schema checks a record payload as a whole, so a caller learns about every bad field at once:
unknown fields, read-only fields, required fields, and each value by its type
(:func:`mosaic.metadata.values.check_value`). Schemas are cached in a bounded LRU keyed by what
the caller passes, normally ``(tenant, object, metadata version)``: a metadata change bumps the
version, so the next write builds a fresh schema and the old one ages out.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError
from marshmallow import fields as mf
from marshmallow.utils import missing
from sqlalchemy import inspect

from mosaic.errors import ValidationFailed
from mosaic.metadata.cache import LRUCache
from mosaic.metadata.fields import FieldDef, FieldType, ObjectDef
from mosaic.metadata.values import (check_value, format_datetime, from_json_value, json_safe,
                                    to_api_value, to_json_value)

__all__ = [
    "RecordSchema", "schema_for", "build_schema", "load_create", "load_update",
    "to_json_value", "from_json_value", "to_api_value", "format_datetime", "json_safe",
    "clear_schema_cache",
]

SCHEMA_CACHE_SIZE = 512
_schemas: LRUCache[Schema] = LRUCache(SCHEMA_CACHE_SIZE)


class RecordSchema(Schema):
    """Base of every generated record schema: unknown keys are errors ("Unknown field.")."""

    class Meta:
        unknown = RAISE


class TypedField(mf.Field):
    """A marshmallow field that checks values with the platform's per-type rules."""

    def __init__(self, fdef: FieldDef, **kwargs: Any):
        self.fdef = fdef
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return check_value(self.fdef, value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return to_api_value(self.fdef, value)


class ReadOnlyField(mf.Field):
    """A field callers may not write (system fields, formulas): sending it, even as null, is an
    error that names it, rather than the generic "Unknown field."."""

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any):
        if value is missing:
            return missing
        raise ValidationError("Read-only field.")


def _is_read_only(f: FieldDef) -> bool:
    return f.read_only or f.type is FieldType.FORMULA


def column_nullable(obj: ObjectDef, f: FieldDef) -> bool:
    """Whether the storage of ``f`` takes NULL: a column field follows its column's
    ``nullable`` (``email_consent``, ``is_primary``: NOT NULL with a default); JSON values
    always may be null."""
    if not f.is_column or obj.model is None:
        return True
    prop = inspect(obj.model).attrs.get(f.attr)
    columns = getattr(prop, "columns", None)
    if not columns or not hasattr(columns[0], "nullable"):
        return True
    return bool(columns[0].nullable)


def build_schema(obj: ObjectDef) -> Schema:
    """A new (uncached) schema instance for ``obj``'s record payloads.

    A field is nullable unless it is required or its column is NOT NULL: null for such a
    column is refused here, naming the field, rather than by the database as a server error.
    """
    declared: dict[str, mf.Field] = {}
    for f in obj.fields:
        if _is_read_only(f):
            declared[f.name] = ReadOnlyField()
        else:
            nullable = not f.required and column_nullable(obj, f)
            declared[f.name] = TypedField(f, required=f.required, allow_none=nullable,
                                          error_messages={"null": "Field may not be null."})
    cls = RecordSchema.from_dict(declared, name=f"{obj.name.title().replace('_', '')}RecordSchema")
    schema = cls()
    schema.direct = DirectLoad.of(schema)
    return schema


class DirectLoad:
    """A schema's load of a payload that has nothing wrong, without marshmallow's machinery.

    marshmallow runs a chain of calls per declared field, sent or not (about a third of a
    create's validation on a 30-field object), to do what a loop does here: every key known,
    required fields present, null only where allowed, each value through
    :func:`~mosaic.metadata.values.check_value`. Anything wrong answers None and the caller runs
    marshmallow's load, whose errors name every bad field at once, as before; so the values of a
    good payload are the same (same order too), and a bad one is refused in the same words.
    """

    __slots__ = ("names", "fields")

    def __init__(self, fields: tuple[tuple[str, FieldDef | None, bool, bool], ...]):
        #: (name, field definition or None for a read-only field, required, allow_none)
        self.fields = fields
        self.names = frozenset(name for name, *_rest in fields)

    @classmethod
    def of(cls, schema: Schema) -> "DirectLoad | None":
        """The direct load of ``schema``, or None if it declares what the loop does not do
        (hooks, validators, other field classes, keys other than the field names)."""
        if any(schema._hooks.values()):
            return None
        fields = []
        for name, field in schema.load_fields.items():
            if field.data_key not in (None, name) or field.attribute not in (None, name) or "." in name \
                    or field.validators or field.load_default is not missing:
                return None
            if type(field) is ReadOnlyField:
                fields.append((name, None, False, True))
            elif type(field) is TypedField:
                fields.append((name, field.fdef, field.required, field.allow_none))
            else:
                return None
        return cls(tuple(fields))

    def load(self, payload: dict, partial: bool = False) -> dict | None:
        """The checked values of ``payload``, or None if anything in it is wrong."""
        names = self.names
        for key in payload:
            if key not in names:
                return None
        out = {}
        for name, fdef, required, allow_none in self.fields:
            value = payload.get(name, missing)
            if value is missing:
                if required and not partial:
                    return None
                continue
            if fdef is None:  # a read-only field, sent
                return None
            if value is None:
                if not allow_none:
                    return None
                out[name] = None
                continue
            try:
                out[name] = check_value(fdef, value)
            except ValidationError:
                return None
        return out


def _load(schema: Schema, payload: dict, partial: bool = False) -> dict[str, Any]:
    direct = getattr(schema, "direct", None)
    values = direct.load(payload, partial) if direct is not None else None
    if values is None:
        try:
            values = schema.load(payload, partial=partial) if partial else schema.load(payload)
        except ValidationError as exc:
            raise _invalid(exc) from None
    return values


def _fingerprint(obj: ObjectDef) -> Hashable:
    # repr of frozen dataclasses is deterministic and covers every attribute of every field,
    # so two objects with the same fingerprint validate identically.
    return ("fields", obj.service, obj.name, repr(obj.fields))


def schema_for(obj: ObjectDef, cache_key: Hashable | None = None) -> Schema:
    """The cached schema of ``obj``.

    ``cache_key`` should be ``(tenant, object, metadata version)``; without one the key is a
    fingerprint of the object's fields (always correct, slightly more work per call).
    """
    key = ("key", cache_key) if cache_key is not None else _fingerprint(obj)
    return _schemas.get_or_build(key, lambda: build_schema(obj))


def clear_schema_cache() -> None:
    """Forget every cached schema (tests; a process that reloads all metadata)."""
    _schemas.clear()


def _messages(errors: Any) -> list[str]:
    if isinstance(errors, Mapping):
        return [m for v in errors.values() for m in _messages(v)]
    if isinstance(errors, (list, tuple)):
        return [m for v in errors for m in _messages(v)]
    return [str(errors)]


def _invalid(exc: ValidationError) -> ValidationFailed:
    messages = exc.messages if isinstance(exc.messages, Mapping) else {"_schema": exc.messages}
    return ValidationFailed("Record is invalid.",
                            errors={str(k): _messages(v) for k, v in messages.items()})


def _require_mapping(data: Any) -> None:
    if not isinstance(data, Mapping):
        raise ValidationFailed("Record is invalid.",
                               errors={"_schema": ["A record is a JSON object of field values."]})


def load_create(obj: ObjectDef, data: Mapping[str, Any],
                cache_key: Hashable | None = None) -> dict[str, Any]:
    """The checked, converted values of a new record of ``obj``, defaults applied.

    Raises :class:`ValidationFailed` naming every bad field.
    """
    _require_mapping(data)
    payload = dict(data)
    for f in obj.fields:
        # Defaults go through the same checks as sent values (they are stored in JSON form).
        if f.default is not None and f.name not in payload and not _is_read_only(f):
            payload[f.name] = f.default
    values = _load(schema_for(obj, cache_key), payload)
    for f in obj.fields:
        # A read-only field's default is its starting value (a counter a plugin maintains).
        if f.read_only and f.default is not None and f.type is not FieldType.FORMULA and not f.is_column:
            values.setdefault(f.name, f.default)
    return values


def load_update(obj: ObjectDef, data: Mapping[str, Any],
                cache_key: Hashable | None = None) -> dict[str, Any]:
    """The checked, converted values of a partial update (PATCH) of a record of ``obj``.

    Only the fields sent are checked; a required field may be left out but not set to null.
    """
    _require_mapping(data)
    return _load(schema_for(obj, cache_key), dict(data), partial=True)
