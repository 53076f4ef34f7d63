"""The OpenAPI 3 document, generated from the routes' own declarations
(:mod:`mosaic_gateway.contract`) and the tenant's metadata: every registered route of the app is
walked; the record API's routes are expanded once per object of the tenant (core, plugin and
custom), with per-object schemas built from the same field definitions that validate records,
less the fields the caller's roles may not read."""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

import mosaic
from mosaic_gateway.contract import PROBLEM, SECURITY, Declaration, component, declarations

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
ERROR_TEXT = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found", 409: "Conflict",
              412: "Stale If-Match", 413: "Too large", 422: "Invalid input", 429: "Rate limited",
              503: "A service did not answer"}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                               "schema": {"type": "integer", "minimum": 1}}}
_VAR = re.compile(r"<(?:(?P<conv>[a-zA-Z_]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")


# ---------------------------------------------------------------- per-object schemas

def field_schema(field: dict) -> dict:
    """JSON schema of one field from its definition (a formula field: its result type,
    read-only). An optional field is nullable, and an optional picklist lists ``null`` among its
    choices so generated clients accept an unset value."""
    prop = dict(JSON_TYPES.get(field["type"], {"type": "string"}))
    if field["type"] == "formula":
        prop = {**JSON_TYPES.get(field.get("formula_type") or "text", {"type": "string"}), "readOnly": True}
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
    if not field.get("required"):
        prop["nullable"] = True
        if "enum" in prop:
            prop["enum"].append(None)
    return prop


def add_object_schemas(spec: APISpec, obj: dict, hidden: Iterable[str] = ()) -> None:
    """Components ``<Name>`` (a record), ``<Name>Input`` (create) and ``<Name>Patch`` (change)."""
    name = component(obj)
    hidden = set(hidden)
    fields = [f for f in obj["fields"] if f["name"] not in hidden]
    props = {f["name"]: field_schema(f) for f in fields}
    spec.components.schema(name, {"type": "object", "properties": props})
    writable = {k: v for k, v in props.items() if not v.get("readOnly")}
    required = [f["name"] for f in fields if f.get("required") and not f.get("read_only")
                and f["type"] != "formula"]
    schema_in = {"type": "object", "properties": writable, "additionalProperties": False}
    if required:  # OpenAPI 3.0 wants a non-empty list or none
        schema_in["required"] = required
    spec.components.schema(f"{name}Input", schema_in)
    spec.components.schema(f"{name}Patch", {"type": "object", "properties": writable, "additionalProperties": False})


# ---------------------------------------------------------------- operations from declarations

class _Builder:
    """Turns the app's declarations into operations on one APISpec."""

    def __init__(self, spec: APISpec):
        self.spec = spec
        self.paths: dict[str, dict[str, dict]] = {}

    def schema(self, schema: Any, obj: dict | None) -> Any:
        """A declared schema as JSON schema: marshmallow schemas become components, callables
        are given the object, dicts are resolved recursively."""
        if callable(schema) and not (isinstance(schema, type) and issubclass(schema, Schema)):
            schema = schema(obj)
        if isinstance(schema, Schema):
            schema = type(schema)
        if isinstance(schema, type) and issubclass(schema, Schema):
            name = schema.__name__.removesuffix("Schema") or schema.__name__
            if name not in self.spec.components.schemas:
                self.spec.components.schema(name, schema=schema)
            return {"$ref": f"#/components/schemas/{name}"}
        if isinstance(schema, dict):
            return {k: self.schema(v, obj) if isinstance(v, (dict, list, type, Schema)) or callable(v) else v
                    for k, v in schema.items()}
        if isinstance(schema, list):
            return [self.schema(v, obj) if isinstance(v, (dict, type, Schema)) else v for v in schema]
        return schema

    def operation(self, decl: Declaration, method: str, path_vars: list[str], obj: dict | None,
                  op_id: str) -> dict:
        op: dict[str, Any] = {"operationId": op_id, "summary": decl.summary,
                              "tags": [obj["label"] if obj and decl.tag == "records" else decl.tag],
                              "security": SECURITY[decl.security]}
        if decl.description:
            op["description"] = decl.description
        params = [{"name": v, "in": "path", "required": True, "schema": {"type": "string"}} for v in path_vars]
        params += [p.to_dict() for p in decl.params]
        if params:
            op["parameters"] = params
        responses = dict(decl.responses)
        if decl.body is not None:
            kinds = decl.content if isinstance(decl.content, dict) else {decl.content: decl.body}
            op["requestBody"] = {"required": decl.body_required,
                                 "content": {mime: {"schema": self.schema(s, obj)} for mime, s in kinds.items()}}
            responses.setdefault(400, PROBLEM)
            responses.setdefault(413, PROBLEM)
        if any(p.where == "query" for p in decl.params):
            responses.setdefault(400, PROBLEM)
        if decl.security == "tenant":
            for code in (401, 403, 429, 503):
                responses.setdefault(code, PROBLEM)
        elif decl.security == "operator":
            responses.setdefault(401, PROBLEM)
            responses.setdefault(404, PROBLEM)  # no operator key configured: the operator API does not exist
        op["responses"] = {str(code): self.response(code, schema, decl, obj) for code, schema in sorted(responses.items())}
        return op

    def response(self, code: int, schema: Any, decl: Declaration, obj: dict | None) -> dict:
        mime = decl.produces if code < 400 else "application/problem+json"
        if isinstance(schema, tuple):
            description, schema, mime = (*schema, mime) if len(schema) == 2 else schema
        else:
            description = ERROR_TEXT.get(code, "OK" if code < 300 else "Error")
            if code == 201:
                description = "Created"
            elif code == 204:
                description = "No content"
        out: dict[str, Any] = {"description": description}
        if schema is not None:
            out["content"] = {mime: {"schema": self.schema(schema, obj)}}
        headers = dict(decl.headers.get(code, {}))
        if code == 429:
            headers.update(RETRY_AFTER)
        if headers:
            out["headers"] = headers
        return out

    def add(self, path: str, method: str, op: dict) -> None:
        self.paths.setdefault(path, {})[method] = op


def _variables(rule: str) -> list[tuple[str, str | None, str | None]]:
    return [(m["name"], m["conv"], m["args"]) for m in _VAR.finditer(rule)]


def _fill(rule: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """The OpenAPI path of ``rule`` with ``values`` substituted; the variables left."""
    left: list[str] = []

    def sub(match):
        name = match["name"]
        if name in values:
            return str(values[name])
        left.append(name)
        return "{" + name + "}"
    return _VAR.sub(sub, rule), left


def _choices(args: str) -> list[str]:
    return [a.strip().strip("'\"") for a in args.split(",")]


def _variants(rule: str, decl: Declaration, objects: list[dict]) -> Iterable[tuple[dict | None, dict]]:
    """(object or None, URL values) of each operation ``decl`` stands for."""
    variables = _variables(rule)
    per_object = any(conv == "objpath" for _n, conv, _a in variables)
    if per_object:
        for obj in objects:
            if decl.when is not None and not decl.when(obj):
                continue
            sets = decl.values(obj) if callable(decl.values) else [dict(decl.values or {})]
            for values in sets:
                path_var = next(n for n, conv, _a in variables if conv == "objpath")
                yield obj, {**values, path_var: obj["plural"]}
        return
    base = dict(decl.values or {})
    sets = [base]
    for name, conv, args in variables:
        if conv == "any" and name not in base:
            sets = [{**s, name: c} for s in sets for c in _choices(args)]
    for values in sets:
        yield None, values


def _op_id(view_name: str, values: dict, obj: dict | None, decl: Declaration) -> str:
    if decl.op:
        return decl.op.format(name=obj["name"] if obj else "", plural=(obj or {}).get("plural", ""), **values)
    parts = [view_name] + ([obj["name"]] if obj else []) + [str(v) for k, v in values.items()
                                                             if not (obj and v == obj["plural"])]
    return re.sub(r"[^a-zA-Z0-9_]+", "_", "_".join(parts))


def _plugin_operation(view: Callable, plugin: str, path_vars: list[str]) -> dict:
    """A plugin route without declarations: documented minimally from its docstring."""
    summary = (view.__doc__ or view.__name__).strip().splitlines()[0]
    responses = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    for code in (400, 401, 403, 404, 409, 422, 429, 503):
        responses[str(code)] = {"description": ERROR_TEXT.get(code, "Error"),
                                "content": {"application/problem+json": {"schema": PROBLEM}}}
    responses["429"]["headers"] = RETRY_AFTER
    op = {"operationId": f"x_{plugin}_{view.__name__}", "summary": summary, "tags": [f"plugin: {plugin}"],
          "security": SECURITY["tenant"], "responses": responses,
          "description": "Declared by the plugin without a contract: request and response are not described."}
    if path_vars:
        op["parameters"] = [{"name": v, "in": "path", "required": True, "schema": {"type": "string"}}
                            for v in path_vars]
    return op


def _base_spec() -> APISpec:
    spec = APISpec(title="Mosaic CRM API", version=mosaic.__version__, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Every object — core, plugin or custom — has the same record API. "
                                        "Before login this document shows the core objects with their core "
                                        "fields; authenticated, it shows your tenant's objects, custom fields "
                                        "and plugins, less the fields your roles may not read."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.security_scheme("apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    spec.components.security_scheme("operatorKey", {"type": "apiKey", "in": "header", "name": "X-Operator-Key",
                                                    "description": "the platform operator's key (tenants API)"})
    spec.components.schema("Problem", {
        "type": "object", "required": ["title", "status"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "object", "description": "messages by field path (``admin.email``, ``modules[0]``)",
                       "additionalProperties": {"type": "array", "items": {"type": "string"}}}}})
    return spec


def build(app: Flask, objects: list[dict], plugins: Iterable[str] = (),
          hidden: Callable[[str], Iterable[str]] = lambda _name: ()) -> dict:
    """The document of ``app`` for a caller seeing ``objects`` (each with ``fields``) and
    ``plugins``; ``hidden(object_name)`` names the fields the caller may not read."""
    spec = _base_spec()
    objects = sorted(objects, key=lambda o: o["plural"])
    for obj in objects:
        add_object_schemas(spec, obj, hidden(obj["name"]))
    builder = _Builder(spec)
    plugins = set(plugins)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        bp_name = rule.endpoint.split(".", 1)[0]
        plugin = bp_name[2:] if bp_name.startswith("x_") else None
        if plugin is not None and plugin not in plugins:
            continue
        view = app.view_functions[rule.endpoint]
        methods = sorted(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
        decls = declarations(view)
        if not decls and plugin is not None:
            path, left = _fill(rule.rule, {})
            for method in methods:
                builder.add(path, method, _plugin_operation(view, plugin, left))
            continue
        for decl in decls:
            if decl.hidden:
                continue
            for obj, values in _variants(rule.rule, decl, objects):
                path, left = _fill(rule.rule, values)
                for method in methods:
                    op_id = _op_id(view.__name__, values, obj, decl)
                    builder.add(path, method, builder.operation(decl, method, left, obj, op_id))
    for path, ops in builder.paths.items():
        spec.path(path=path, operations=ops)
    doc = spec.to_dict()
    doc["security"] = SECURITY["tenant"]
    return doc


def undeclared_routes(app: Flask) -> list[str]:
    """Rules of ``app`` (plugins' aside) whose views declare nothing: none may exist."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("x_"):
            continue
        if not declarations(app.view_functions[rule.endpoint]):
            out.append(f"{sorted(rule.methods - {'HEAD', 'OPTIONS'})} {rule.rule}")
    return out
