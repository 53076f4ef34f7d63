"""Marshmallow schemas of the identity and admin API: every request body is loaded through one,
so bad input answers 400 (not JSON) or 422 (per-field errors), never a 500."""
from __future__ import annotations

from typing import Any

from flask import Request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from mosaic import services
from mosaic.errors import BadRequest, ValidationFailed
from mosaic.permissions import FIELD_ACCESS, ROLES

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 would hash megabytes happily; refuse them before it tries

def _roles_field(**kwargs) -> fields.List:
    # ROLES is a list a later issue may extend (partner), so validate against it at load time.
    return fields.List(fields.String(validate=lambda r: r in ROLES or _bad(f"unknown role {r!r}")),
                       validate=validate.Length(min=1), **kwargs)


def _bad(message: str):
    raise ValidationError(message)


def _password(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=MIN_PASSWORD, max=MAX_PASSWORD,
                                                  error="must be {min} to {max} characters"), **kwargs)


class LoginSchema(Schema):
    tenant = fields.String(required=True, validate=validate.Length(min=1, max=63))
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=MAX_PASSWORD))


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class AdminUserSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = _password(required=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))


def _installed_module(name: str) -> None:
    """A module is an installed service (``mosaic.services``)."""
    if name not in services.names():
        raise ValidationError(f"unknown module {name!r}; one of {', '.join(services.names())}")


class ModulesSchema(Schema):
    modules = fields.List(fields.String(validate=_installed_module), required=True)


class TenantCreateSchema(Schema):
    slug = fields.String(required=True, validate=validate.Regexp(
        SLUG_RE, error="lowercase letters, digits and '-', 1 to 63 characters, not starting or ending with '-'"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    admin = fields.Nested(AdminUserSchema, required=True)
    modules = fields.List(fields.String(validate=_installed_module), load_default=lambda: list(services.names()))


class TenantUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    active = fields.Boolean()
    modules = fields.List(fields.String(validate=_installed_module))


class UserCreateSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = _password(required=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))
    roles = _roles_field(load_default=["readonly"])


class UserUpdateSchema(Schema):
    email = fields.Email(validate=validate.Length(max=254))
    password = _password()
    name = fields.String(validate=validate.Length(max=200))
    roles = _roles_field()
    active = fields.Boolean()


class ApiKeyCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    roles = _roles_field(required=True)


class FieldPermissionSchema(Schema):
    object = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,129}$"))
    field = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,129}$"))
    role = fields.String(required=True, validate=lambda r: r in ROLES or _bad(f"unknown role {r!r}"))
    access = fields.String(required=True, validate=validate.OneOf(FIELD_ACCESS))


class FieldPermissionsSchema(Schema):
    rules = fields.List(fields.Nested(FieldPermissionSchema), required=True)

    @validates_schema
    def _unique(self, data, **_kwargs):
        seen = set()
        for rule in data.get("rules", []):
            key = (rule["object"], rule["field"], rule["role"])
            if key in seen:
                raise ValidationError(f"rule for {'/'.join(key)} given twice", "rules")
            seen.add(key)


def load(schema: Schema, request: Request, *, partial: bool = False) -> dict[str, Any]:
    """The request's JSON body loaded through ``schema``; 400 when it is not a JSON object, 422
    with per-field errors when it does not validate."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return schema.load(data, partial=partial)
    except ValidationError as err:
        raise ValidationFailed("the request body is not valid", errors=err.normalized_messages()) from err


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def tenant_out(tenant) -> dict[str, Any]:
    """A tenant as the operator API shows it."""
    return {"id": tenant.id, "slug": tenant.slug, "name": tenant.name, "modules": list(tenant.modules or []),
            "plugins": list(tenant.plugins or []), "active": tenant.active,
            "created_at": _iso(tenant.created_at)}


def user_out(user) -> dict[str, Any]:
    """A user as the admin API shows it: never the password hash."""
    return {"id": user.id, "email": user.email, "name": user.name, "roles": list(user.roles or []),
            "active": user.active, "created_at": _iso(user.created_at),
            "last_login_at": _iso(user.last_login_at)}


def api_key_out(key) -> dict[str, Any]:
    """An API key as listings show it: name and prefix, never the secret or its hash."""
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "roles": list(key.roles or []),
            "created_by": key.created_by, "created_at": _iso(key.created_at),
            "last_used_at": _iso(key.last_used_at), "revoked_at": _iso(key.revoked_at),
            "active": key.revoked_at is None}


def field_permission_out(row) -> dict[str, Any]:
    """One per-field override."""
    return {"object": row.object, "field": row.field, "role": row.role, "access": row.access}
