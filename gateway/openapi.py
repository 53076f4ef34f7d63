"""The OpenAPI 3 document: the platform's fixed endpoints (from their marshmallow schemas, via
apispec) plus, for an authenticated caller, every object of its tenant — core, plugin and
custom — with the tenant's custom fields, built from the same metadata that validates records."""
from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

import mosaic
from mosaic_gateway import schemas

PROBLEM = {"$ref": "#/components/schemas/Problem"}
JSON_TYPES = {
    "text": {"type": "string"}, "long_text": {"type": "string"}, "email": {"type": "string", "format": "email"},
    "phone": {"type": "string"}, "url": {"type": "string", "format": "uri"}, "integer": {"type": "integer"},
    "decimal": {"type": "number"}, "percent": {"type": "number"}, "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"}, "datetime": {"type": "string", "format": "date-time"},
    "lookup": {"type": "string", "description": "id of the referenced record"},
    "money": {"type": "object", "properties": {"amount": {"type": "number"},
                                               "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}},
              "required": ["amount"]},
}

#: (path, method, summary, tag, request schema or None, auth)
FIXED = [
    ("/api/v1/auth/login", "post", "Log in; returns an access and a refresh token", "auth", schemas.LoginSchema, False),
    ("/api/v1/auth/refresh", "post", "Trade a refresh token for a new pair", "auth", schemas.RefreshSchema, False),
    ("/api/v1/auth/logout", "post", "Revoke a refresh token", "auth", schemas.RefreshSchema, False),
    ("/api/v1/me", "get", "The caller: tenant, user, roles, modules", "auth", None, True),
    ("/api/v1/tenants", "post", "Create a tenant with its first admin (operator key)", "operator",
     schemas.TenantCreateSchema, False),
    ("/api/v1/tenants", "get", "List tenants (operator key)", "operator", None, False),
    ("/api/v1/admin/modules", "get", "Modules enabled for the tenant", "admin", None, True),
    ("/api/v1/admin/modules", "put", "Enable and disable modules", "admin", schemas.ModulesSchema, True),
    ("/api/v1/admin/users", "get", "List users", "admin", None, True),
    ("/api/v1/admin/users", "post", "Create a user", "admin", schemas.UserCreateSchema, True),
    ("/api/v1/admin/users/{user_id}", "patch", "Change a user", "admin", schemas.UserUpdateSchema, True),
    ("/api/v1/admin/api-keys", "get", "List API keys", "admin", None, True),
    ("/api/v1/admin/api-keys", "post", "Create an API key (the secret is shown once)", "admin",
     schemas.ApiKeyCreateSchema, True),
    ("/api/v1/admin/roles", "get", "Roles and their object permissions", "admin", None, True),
    ("/api/v1/admin/field-permissions", "put", "Per-field permissions by role", "admin",
     schemas.FieldPermissionsSchema, True),
    ("/api/v1/metadata/objects", "get", "Objects and fields of the tenant", "metadata", None, True),
    ("/api/v1/metadata/objects", "post", "Create a custom object", "metadata", None, True),
    ("/api/v1/metadata/objects/{name}/fields", "post", "Add a custom field", "metadata", None, True),
    ("/api/v1/metadata/objects/{name}/fields/{field}", "patch", "Change a custom field", "metadata", None, True),
    ("/api/v1/metadata/objects/{name}/fields/{field}", "delete", "Remove a custom field", "metadata", None, True),
    ("/api/v1/imports", "get", "Recent import jobs", "imports", None, True),
    ("/api/v1/imports/{job_id}", "get", "An import job's progress and counts", "imports", None, True),
    ("/api/v1/imports/{job_id}/errors.csv", "get", "Rejected rows with _row and _errors columns", "imports",
     None, True),
    ("/api/v1/admin/plugins", "get", "Installed plugins and the tenant's enabled ones", "plugins", None, True),
    ("/api/v1/admin/plugins/{name}", "get", "A plugin's manifest and declarations", "plugins", None, True),
    ("/api/v1/admin/plugins/{name}", "put", "Enable a plugin for the tenant", "plugins", None, True),
    ("/api/v1/admin/plugins/{name}", "delete", "Disable a plugin (its data is kept)", "plugins", None, True),
    ("/api/v1/admin/plugins/{name}/seed", "post", "Create the plugin's demo records", "plugins", None, True),
    ("/api/v1/admin/config", "get", "Export the tenant's configuration (metadata as code)", "admin", None, True),
    ("/api/v1/admin/config", "put", "Import a configuration (idempotent; ?dry_run=true)", "admin", None, True),
    ("/api/v1/metadata/processes", "get", "Processes (state machines) of the tenant and its plugins", "metadata",
     None, True),
    ("/api/v1/metadata/processes/{name}", "get", "Get a process", "metadata", None, True),
    ("/api/v1/metadata/processes/{name}", "put", "Create or replace a process", "metadata", None, True),
    ("/api/v1/metadata/processes/{name}", "delete", "Delete a process", "metadata", None, True),
    ("/api/v1/metadata/rules", "get", "Automation rules", "metadata", None, True),
    ("/api/v1/metadata/rules/{name}", "get", "Get an automation rule", "metadata", None, True),
    ("/api/v1/metadata/rules/{name}", "put", "Create or replace an automation rule", "metadata", None, True),
    ("/api/v1/metadata/rules/{name}", "delete", "Delete an automation rule", "metadata", None, True),
    ("/api/v1/metadata/validation-rules", "get", "Validation rules", "metadata", None, True),
    ("/api/v1/metadata/validation-rules/{name}", "get", "Get a validation rule", "metadata", None, True),
    ("/api/v1/metadata/validation-rules/{name}", "put", "Create or replace a validation rule", "metadata", None,
     True),
    ("/api/v1/metadata/validation-rules/{name}", "delete", "Delete a validation rule", "metadata", None, True),
    ("/api/v1/approvals", "get", "Pending approvals the caller may decide", "processes", None, True),
    ("/api/v1/notifications", "get", "The caller's notifications", "notifications", None, True),
    ("/api/v1/notifications/read", "post", "Mark notifications read", "notifications", None, True),
    ("/api/v1/webhooks", "get", "Webhook subscriptions", "webhooks", None, True),
    ("/api/v1/webhooks", "post", "Subscribe a URL to event types (the secret is shown once)", "webhooks", None, True),
    ("/api/v1/webhooks/{sub_id}", "get", "One subscription (never its secret)", "webhooks", None, True),
    ("/api/v1/webhooks/{sub_id}", "patch", "Change a subscription or rotate its secret", "webhooks", None, True),
    ("/api/v1/webhooks/{sub_id}", "delete", "Delete a subscription", "webhooks", None, True),
    ("/api/v1/webhooks/{sub_id}/deliveries", "get", "Deliveries and their attempts", "webhooks", None, True),
    ("/healthz", "get", "Liveness", "health", None, False),
    ("/readyz", "get", "Readiness: broker and services reachable", "health", None, False),
]


def _errors(*codes: int) -> dict:
    text = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found", 409: "Conflict",
            412: "Stale If-Match", 413: "Too large", 422: "Invalid input", 429: "Rate limited"}
    return {str(c): {"description": text[c], "content": {"application/problem+json": {"schema": PROBLEM}}}
            for c in codes}


def field_schema(field: dict) -> dict:
    """JSON schema of one field from its definition (a formula field: its result type,
    read-only)."""
    prop = dict(JSON_TYPES.get(field["type"], {"type": "string"}))
    if field["type"] == "formula":
        prop = {**JSON_TYPES.get(field.get("formula_type") or "text", {"type": "string"}),
                "readOnly": True}
        if field.get("formula"):
            prop["description"] = f"Computed: {field['formula']}"
    if field["type"] == "picklist" and field.get("choices"):
        prop["enum"] = list(field["choices"])
    if field["type"] == "multi_picklist":
        items = {"type": "string"}
        if field.get("choices"):
            items["enum"] = list(field["choices"])
        prop = {"type": "array", "items": items}
    for key, name in (("min_length", "minLength"), ("max_length", "maxLength"), ("pattern", "pattern"),
                      ("min_value", "minimum"), ("max_value", "maximum")):
        if field.get(key) is not None:
            prop[name] = field[key]
    if field.get("label"):
        prop["title"] = field["label"]
    if field.get("help_text"):
        prop["description"] = field["help_text"]
    if field.get("read_only"):
        prop["readOnly"] = True
    prop["nullable"] = not field.get("required")
    return prop


def _name(obj: dict) -> str:
    return "".join(part.capitalize() for part in obj["name"].split("_"))


def _add_object(spec: APISpec, obj: dict) -> None:
    name = _name(obj)
    props = {f["name"]: field_schema(f) for f in obj["fields"]}
    spec.components.schema(name, {"type": "object", "properties": props})
    writable = {k: v for k, v in props.items() if not v.get("readOnly")}
    required = [f["name"] for f in obj["fields"] if f.get("required") and not f.get("read_only")]
    schema_in = {"type": "object", "properties": writable, "additionalProperties": False}
    if required:  # OpenAPI 3.0 wants a non-empty list or none
        schema_in["required"] = required
    spec.components.schema(f"{name}Input", schema_in)
    ref, ref_in = {"$ref": f"#/components/schemas/{name}"}, {"$ref": f"#/components/schemas/{name}Input"}
    tag = obj["label"]
    page = {"type": "object", "properties": {"items": {"type": "array", "items": ref},
                                            "next_cursor": {"type": "string", "nullable": True},
                                            "total": {"type": "integer", "description": "with count=true"},
                                            "total_is_estimate": {"type": "boolean"}}}
    q = lambda n, d: {"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": d}  # noqa: E731
    base = f"/api/v1/{obj['plural']}"
    spec.path(path=base, operations={
        "get": {"tags": [tag], "summary": f"List {obj['label']} records",
                "parameters": [q("filter", "filter language, see docs/filters.md"), q("sort", "field, '-' for descending"),
                               q("cursor", "next_cursor of the previous page"), q("limit", "page size"),
                               q("fields", "comma-separated fields to return"),
                               q("count", "true: add the total of matching records (see docs/records.md)")],
                "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": page}}},
                              **_errors(400, 401, 403, 404, 422)}},
        "post": {"tags": [tag], "summary": f"Create a {obj['label']}",
                 "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": ref_in}}},
                 "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": ref}}},
                               **_errors(400, 401, 403, 409, 413, 422)}},
    })
    rid = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "string"}}
    if_match = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                "description": "the record's ETag (version); a stale one answers 412"}
    spec.path(path=base + "/{record_id}", operations={
        "get": {"tags": [tag], "summary": f"Get a {obj['label']}", "parameters": [rid],
                "responses": {"200": {"description": "The record", "content": {"application/json": {"schema": ref}}},
                              **_errors(401, 404)}},
        "patch": {"tags": [tag], "summary": f"Change a {obj['label']}", "parameters": [rid, if_match],
                  "requestBody": {"required": True, "content": {"application/json": {"schema": {**ref_in, }}}},
                  "responses": {"200": {"description": "The record", "content": {"application/json": {"schema": ref}}},
                                **_errors(400, 401, 403, 404, 409, 412, 422)}},
        "delete": {"tags": [tag], "summary": f"Delete a {obj['label']}", "parameters": [rid, if_match],
                   "responses": {"204": {"description": "Deleted"}, **_errors(401, 403, 404, 412)}},
    })
    spec.path(path=base + "/{record_id}/history", operations={
        "get": {"tags": [tag], "summary": "Every change of the record: actor, time, field, old → new",
                "parameters": [rid], "responses": {"200": {"description": "A page of changes"}, **_errors(401, 404)}}})
    views = obj.get("views") or {}
    for sub, text in (("timeline", "Activities and changes, newest first"), ("duplicates", "Likely duplicates")):
        if sub in views:
            spec.path(path=f"{base}/{{record_id}}/{sub}", operations={
                "get": {"tags": [tag], "summary": text, "parameters": [rid],
                        "responses": {"200": {"description": text}, **_errors(401, 404)}}})
    if "360" in views:
        spec.path(path=base + "/{record_id}/360", operations={
            "get": {"tags": [tag], "summary": "The customer's 360° view across enabled services",
                    "parameters": [rid], "responses": {"200": {"description": "The view"}, **_errors(401, 404)}}})
    spec.path(path=base + "/imports", operations={
        "post": {"tags": [tag], "summary": f"Import {obj['label']} records from CSV (a job; 202)",
                 "parameters": [{"name": "policy", "in": "query", "required": False,
                                 "schema": {"type": "string", "enum": ["skip", "update", "create"]},
                                 "description": "what to do with a row duplicating an existing record"}],
                 "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}},
                                                               "multipart/form-data": {"schema": {
                                                                   "type": "object", "properties": {
                                                                       "file": {"type": "string", "format": "binary"}}}}}},
                 "responses": {"202": {"description": "The queued job"}, **_errors(400, 401, 403, 413, 422)}}})
    spec.path(path=base + "/export.csv", operations={
        "get": {"tags": [tag], "summary": f"Every {obj['label']} matching the filter, as CSV",
                "parameters": [q("filter", "filter language"), q("sort", "field"), q("fields", "columns")],
                "responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                              **_errors(400, 401, 403, 422)}}})
    if obj.get("processes"):
        stages = sorted({s for p in obj["processes"] for s in p["stages"]})
        move = {"type": "object", "properties": {
            "to": {"type": "string", "enum": stages}, "transition": {"type": "string"},
            "comment": {"type": "string"}, "process": {"type": "string"}}}
        decide = {"type": "object", "properties": {"comment": {"type": "string"}}}
        for verb, text, schema in (("transition", "Move the record along its process (202: awaiting approval)", move),
                                   ("approve", "Approve the pending transition", decide),
                                   ("reject", "Reject the pending transition", decide)):
            spec.path(path=f"{base}/{{record_id}}/{verb}", operations={
                "post": {"tags": [tag], "summary": text, "parameters": [rid],
                         "requestBody": {"required": verb == "transition",
                                         "content": {"application/json": {"schema": schema}}},
                         "responses": {"200": {"description": "The result and the record"},
                                       "202": {"description": "Awaiting approval"},
                                       **_errors(401, 403, 404, 409, 422)}}})
        spec.path(path=base + "/{record_id}/transitions", operations={
            "get": {"tags": [tag], "summary": "The record's process history", "parameters": [rid],
                    "responses": {"200": {"description": "Moves, oldest first"}, **_errors(401, 404)}}})
    for verb in obj.get("actions", ()):
        spec.path(path=f"{base}/{{record_id}}/{verb}", operations={
            "post": {"tags": [tag], "summary": f"{verb.capitalize()} action", "parameters": [rid],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                     "responses": {"200": {"description": "The resulting record"}, **_errors(400, 401, 403, 404, 422)}}})


def build(objects: list[dict] | None, extra: list[tuple[str, str, str, str]] = ()) -> dict:
    """The document; ``objects`` are the caller's tenant's (None when unauthenticated), ``extra``
    its plugins' routes as (path, method, summary, plugin)."""
    spec = APISpec(title="Mosaic CRM API", version=mosaic.__version__, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Every object — core, plugin or custom — has the same record API. "
                                        "Authenticate to see your tenant's objects and custom fields here."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.security_scheme("apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    spec.components.schema("Problem", {"type": "object", "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "errors": {"type": "object", "additionalProperties": {
            "type": "array", "items": {"type": "string"}}}}})
    by_path: dict[str, dict] = {}
    for path, method, summary, tag, schema, needs_auth in FIXED:
        op: dict = {"tags": [tag], "summary": summary, "responses": {"200": {"description": "OK"}, **_errors(400, 401, 422)}}
        if schema is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
        if needs_auth:
            op["security"] = [{"bearer": []}, {"apiKey": []}]
        params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                for p in params]
        by_path.setdefault(path, {})[method] = op
    for path, ops in by_path.items():
        spec.path(path=path, operations=ops)
    for obj in objects or ():
        _add_object(spec, obj)
    plugin_ops: dict[str, dict] = {}
    for path, method, summary, plugin in extra:
        params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        op = {"tags": [f"plugin: {plugin}"], "summary": summary, "security": [{"bearer": []}, {"apiKey": []}],
              "responses": {"200": {"description": "OK"}, **_errors(401, 404, 422)}}
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                for p in params]
        plugin_ops.setdefault(path, {})[method] = op
    for path, ops in plugin_ops.items():
        spec.path(path=path, operations=ops)
    doc = spec.to_dict()
    doc["security"] = [{"bearer": []}, {"apiKey": []}]
    return doc
