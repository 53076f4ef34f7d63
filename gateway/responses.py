"""Schemas of what the gateway's fixed endpoints answer, for their declarations (the OpenAPI
document); request bodies are in :mod:`mosaic_gateway.schemas`, where they are also loaded."""
from __future__ import annotations

from marshmallow import Schema, fields

from mosaic_gateway.contract import ANY_OBJECT

_str = lambda **kw: fields.String(required=True, **kw)  # noqa: E731
_opt = lambda: fields.String(required=True, allow_none=True)  # noqa: E731
_strs = lambda: fields.List(fields.String(), required=True)  # noqa: E731


class TokenPairSchema(Schema):
    access_token = _str()
    refresh_token = _str()
    token_type = _str()
    expires_in = fields.Integer(required=True)


class MeTenantSchema(Schema):
    id = _str()
    slug = _str()
    name = _opt()


class MeUserSchema(Schema):
    id = _str()
    email = _str()
    name = _str()
    last_login_at = fields.DateTime(required=True, allow_none=True)


class MeSchema(Schema):
    tenant = fields.Nested(MeTenantSchema, required=True)
    user = fields.Nested(MeUserSchema, required=True, allow_none=True)
    api_key_id = _opt()
    roles = _strs()
    modules = _strs()
    plugins = _strs()


class UserSchema(Schema):
    id = _str()
    email = _str()
    name = _str()
    roles = _strs()
    active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True, allow_none=True)
    last_login_at = fields.DateTime(required=True, allow_none=True)


class TenantSchema(Schema):
    id = _str()
    slug = _str()
    name = _str()
    modules = _strs()
    plugins = _strs()
    active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True, allow_none=True)


class TenantCreatedSchema(TenantSchema):
    admin = fields.Nested(UserSchema, required=True)


class ApiKeySchema(Schema):
    id = _str()
    name = _str()
    prefix = _str()
    roles = _strs()
    created_by = _opt()
    created_at = fields.DateTime(required=True, allow_none=True)
    last_used_at = fields.DateTime(required=True, allow_none=True)
    revoked_at = fields.DateTime(required=True, allow_none=True)
    active = fields.Boolean(required=True)


class ApiKeyCreatedSchema(ApiKeySchema):
    secret = fields.String(required=True, allow_none=True, metadata={
        "description": "shown this once only: null in the replay of an Idempotency-Key request"})
    redacted = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "in a replay: the fields blanked because they are shown once, and why"})


class FieldPermissionOutSchema(Schema):
    object = _str()
    field = _str()
    role = _str()
    access = _str()


class FieldPermissionListSchema(Schema):
    rules = fields.List(fields.Nested(FieldPermissionOutSchema), required=True)


class ModulesOutSchema(Schema):
    modules = _strs()
    available = fields.List(fields.String())
    implemented = fields.List(fields.String())


STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
READY = {"type": "object", "required": ["status", "services"], "properties": {
    "status": {"type": "string", "enum": ["ready", "not ready"]},
    "services": {"type": "object", "additionalProperties": {"type": "string"}},
    "users_pending": {"type": "integer", "description": "tenants whose users some service has not got yet"}}}
_TIME = {"type": "string", "format": "date-time"}
_TEXT = {"type": "string", "nullable": True}
#: a notification (the hub's): ``recipient`` is ``user:<id>`` or ``role:<name>``
NOTIFICATION = {"type": "object", "required": ["id", "recipient", "message", "created_at", "read_at"], "properties": {
    "id": {"type": "string"}, "recipient": {"type": "string"}, "message": {"type": "string"},
    "object": _TEXT, "record_id": _TEXT, "source": _TEXT,
    "service": {**_TEXT, "description": "the module the record lives in"},
    "created_at": _TIME, "read_at": {**_TIME, "nullable": True}}}
NOTIFICATIONS_PAGE = {"type": "object", "required": ["items", "next_cursor", "unread"], "properties": {
    "items": {"type": "array", "items": NOTIFICATION}, "next_cursor": {"type": "string", "nullable": True},
    "unread": {"type": "integer", "description": "how many of the caller's notifications are unread"}}}
MARKED = {"type": "object", "required": ["marked", "unread"], "properties": {
    "marked": {"type": "integer", "description": "how many were unread and are read now"},
    "unread": {"type": "integer", "description": "how many are left unread"}}}
#: an approval in the approvers' inbox (the hub's index of every module's approvals)
APPROVAL = {"type": "object", "required": ["id", "object", "record_id", "process", "status"], "properties": {
    "id": {"type": "string"}, "service": {"type": "string"}, "object": {"type": "string"},
    "record_id": {"type": "string"}, "process": {"type": "string"}, "transition": {"type": "string"},
    "from": _TEXT, "to": _TEXT, "status": {"type": "string", "enum": ["pending", "approved", "rejected"]},
    "requested_by": {"type": "string"}, "requested_at": _TIME, "decided_by": _TEXT,
    "decided_at": {**_TIME, "nullable": True}, "comment": _TEXT, "decision_comment": _TEXT,
    "approvers": {"type": "object", "properties": {"roles": {"type": "array", "items": {"type": "string"}},
                                                   "users": {"type": "array", "items": {"type": "string"}}}}}}
#: a process, rule or validation rule as stored: open-ended (docs/lowcode.md describes each kind)
DEFINITION = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "object": {"type": "string"}, "plugin": {"type": "string", "nullable": True}},
    "additionalProperties": True}
DEFINITION_IN = {"type": "object", "required": ["object"], "properties": {
    "name": {"type": "string", "description": "must equal the name in the URL"},
    "object": {"type": "string"}}, "additionalProperties": True}
OBJECT_DEF = {"type": "object", "required": ["name", "label", "plural", "fields"], "properties": {
    "name": {"type": "string"}, "label": {"type": "string"}, "plural": {"type": "string"},
    "service": {"type": "string"}, "kind": {"type": "string"},
    "fields": {"type": "array", "items": ANY_OBJECT}}, "additionalProperties": True}
FIELD_DEF_IN = {"type": "object", "required": ["name", "type"], "properties": {
    "name": {"type": "string"}, "type": {"type": "string"}, "label": {"type": "string"},
    "required": {"type": "boolean"}, "choices": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": True}
OBJECT_DEF_IN = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "label": {"type": "string"}, "plural": {"type": "string"},
    "service": {"type": "string", "description": "the enabled module hosting it (default contacts)"},
    "fields": {"type": "array", "items": FIELD_DEF_IN}}, "additionalProperties": True}
#: a webhook subscription (the hub's); ``secret`` only in the answer that creates or rotates it
WEBHOOK = {"type": "object", "required": ["id", "url", "events", "description", "active", "created_at", "updated_at"],
           "properties": {
    "id": {"type": "string"}, "url": {"type": "string"}, "events": {"type": "array", "items": {"type": "string"}},
    "description": {"type": "string", "nullable": True}, "active": {"type": "boolean"},
    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
    "secret": {"type": "string", "description": "only when created or rotated: shown this once"}},
    "additionalProperties": False}
WEBHOOK_IN = {"type": "object", "required": ["url", "events"], "properties": {
    "url": {"type": "string", "format": "uri"}, "events": {"type": "array", "items": {"type": "string"}},
    "description": {"type": "string"}, "active": {"type": "boolean"}}, "additionalProperties": False}
WEBHOOK_PATCH = {"type": "object", "properties": {
    **WEBHOOK_IN["properties"], "rotate_secret": {"type": "boolean"}}, "additionalProperties": False}
#: one POST of a delivery
WEBHOOK_ATTEMPT = {"type": "object", "required": ["attempt", "at", "status_code", "error", "duration_ms"], "properties": {
    "attempt": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
    "status_code": {"type": "integer", "nullable": True}, "error": {"type": "string", "nullable": True},
    "duration_ms": {"type": "integer"}}}
#: one event to post to a subscription's URL, with every attempt so far (``history``, oldest first)
WEBHOOK_DELIVERY = {"type": "object", "required": ["id", "subscription_id", "event_id", "event_type", "status",
                                                   "attempts", "created_at", "payload", "history"], "properties": {
    "id": {"type": "string"}, "subscription_id": {"type": "string", "nullable": True}, "url": {"type": "string"},
    "event_id": {"type": "string"}, "event_type": {"type": "string"},
    "status": {"type": "string", "enum": ["pending", "delivered", "failed"]}, "attempts": {"type": "integer"},
    "next_attempt_at": {"type": "string", "format": "date-time", "nullable": True},
    "last_status_code": {"type": "integer", "nullable": True}, "last_error": {"type": "string", "nullable": True},
    "created_at": {"type": "string", "format": "date-time"},
    "delivered_at": {"type": "string", "format": "date-time", "nullable": True},
    "payload": {"type": "object", "description": "the event's envelope, as posted"},
    "history": {"type": "array", "items": WEBHOOK_ATTEMPT}}}
IMPORT_JOB = {"type": "object", "required": ["id", "status"], "properties": {
    "id": {"type": "string"}, "status": {"type": "string"}, "object": {"type": "string"},
    "total_rows": {"type": "integer", "nullable": True}, "rows_done": {"type": "integer", "nullable": True}},
    "additionalProperties": True}
PLUGIN = {"type": "object", "required": ["name", "enabled"], "properties": {
    "name": {"type": "string"}, "enabled": {"type": "boolean"}}, "additionalProperties": True}
PLUGIN_STATE = {"type": "object", "required": ["name", "enabled", "plugins"], "properties": {
    "name": {"type": "string"}, "enabled": {"type": "boolean"}, "plugins": {"type": "array", "items": {"type": "string"}}}}
