"""The OpenAPI document is generated from the routes' declarations: every registered route
declares itself, the document is valid OpenAPI 3, record routes are expanded per object of the
tenant with its custom fields, and what the API answers (201/204, 403, 409, 412, 429 …) is
documented."""
import pytest
from flask import Blueprint
from openapi_spec_validator import validate

from mosaic.config import Settings
from mosaic.errors import BadRequest, ValidationFailed, flatten_errors
from mosaic_contacts.objects import CONTACT, build_registry
from mosaic_gateway import openapi
from mosaic_gateway.app import create_app
from mosaic_gateway.contract import declare


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = Settings(mode="embedded", data_dir=tmp_path_factory.mktemp("gw"), secret_key="s" * 48)
    return create_app(settings, None)


def core() -> list[dict]:
    return [obj.to_dict() for obj in build_registry().all()]


def test_every_registered_route_declares_its_contract(app):
    assert openapi.undeclared_routes(app) == []


def test_a_route_without_declarations_is_caught(app, tmp_path):
    app2 = create_app(Settings(mode="embedded", data_dir=tmp_path, secret_key="s" * 48), None)
    bp = Blueprint("stray", __name__)
    bp.add_url_rule("/api/v1/stray", "stray", lambda: "", methods=["GET"])
    app2.register_blueprint(bp)
    assert openapi.undeclared_routes(app2) == ["['GET'] /api/v1/stray"]


def test_documents_are_valid_openapi(app):
    with app.app_context():
        validate(openapi.build(app, core()))
        validate(openapi.build(app, []))


def test_fixed_endpoints(app):
    with app.app_context():
        doc = openapi.build(app, [])
    paths = doc["paths"]
    login = paths["/api/v1/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Login"}
    assert login["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenPair"}
    assert login["security"] == [] and paths["/healthz"]["get"]["security"] == []
    assert "Retry-After" in login["responses"]["429"]["headers"]
    assert set(doc["components"]["schemas"]["Login"]["required"]) == {"tenant", "email", "password"}
    # formerly missing routes, statuses and parameters
    for path, method in (("/api/v1/metadata/objects/{name}", "get"), ("/api/v1/metadata/objects/{name}", "delete"),
                         ("/api/v1/admin/field-permissions", "get"), ("/api/v1/admin/users/{user_id}", "get"),
                         ("/api/v1/admin/users/{user_id}", "delete"), ("/api/v1/admin/api-keys/{key_id}", "delete"),
                         ("/api/v1/tenants/{tenant_id}", "get"), ("/api/v1/tenants/{tenant_id}", "patch"),
                         ("/api/v1/metadata/validation-rules/{name}", "put")):
        assert method in paths[path], (path, method)
    assert "201" in paths["/api/v1/admin/users"]["post"]["responses"]
    assert "204" in paths["/api/v1/auth/logout"]["post"]["responses"]
    assert paths["/api/v1/tenants"]["post"]["security"] == [{"operatorKey": []}]
    assert "operatorKey" in doc["components"]["securitySchemes"]
    params = {p["name"] for p in paths["/api/v1/admin/config"]["put"]["parameters"]}
    assert {"dry_run", "enable_plugins"} <= params
    notes = {p["name"]: p["schema"] for p in paths["/api/v1/notifications"]["get"]["parameters"]}
    assert notes["limit"]["type"] == "integer" and notes["limit"]["maximum"] == 200 and "cursor" in notes
    page = paths["/api/v1/notifications"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"items", "next_cursor", "unread"} <= set(page["properties"])
    assert "cursor" in {p["name"] for p in paths["/api/v1/approvals"]["get"]["parameters"]}
    assert not any(p.startswith("/api/v1/contacts") for p in paths)


def test_tenant_objects_with_custom_fields(app):
    contact = CONTACT.to_dict()
    contact["fields"].append({"name": "region", "type": "picklist", "choices": ["n", "s"], "required": True,
                              "label": "Region", "custom": True})
    contact["fields"].append({"name": "tier", "type": "picklist", "choices": ["a", "b"], "label": "Tier"})
    with app.app_context():
        doc = openapi.build(app, [contact], hidden=lambda name: {"email"} if name == "contact" else ())
    validate(doc)
    schema = doc["components"]["schemas"]["Contact"]["properties"]
    assert schema["region"]["enum"] == ["n", "s"]
    assert schema["tier"]["enum"] == ["a", "b", None] and schema["tier"]["nullable"] is True
    assert "email" not in schema  # hidden from the caller's roles
    assert schema["tags"]["type"] == "array" and schema["id"]["readOnly"] is True
    assert "region" in doc["components"]["schemas"]["ContactInput"]["required"]
    assert "required" not in doc["components"]["schemas"]["ContactPatch"]
    assert "id" not in doc["components"]["schemas"]["ContactInput"]["properties"]
    paths = doc["paths"]
    for path in ("/api/v1/contacts", "/api/v1/contacts/{record_id}", "/api/v1/contacts/{record_id}/merge",
                 "/api/v1/contacts/{record_id}/360", "/api/v1/contacts/{record_id}/history",
                 "/api/v1/contacts/{record_id}/timeline", "/api/v1/contacts/{record_id}/duplicates",
                 "/api/v1/contacts/imports", "/api/v1/contacts/export.csv"):
        assert path in paths, path
    one = paths["/api/v1/contacts/{record_id}"]
    assert {"403", "404", "412", "422"} <= set(one["patch"]["responses"])
    assert {"204", "409", "412", "422"} <= set(one["delete"]["responses"])
    assert "400" in paths["/api/v1/contacts"]["post"]["responses"]
    assert {p["name"] for p in paths["/api/v1/contacts"]["post"]["parameters"]} >= {"dedup", "Idempotency-Key"}
    assert "pick" in paths["/api/v1/contacts/{record_id}/merge"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]
    limit = next(p for p in paths["/api/v1/contacts"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["type"] == "integer"


def test_process_routes_follow_the_object(app):
    obj = CONTACT.to_dict()
    obj["processes"] = [{"name": "lifecycle", "stages": ["new", "won"]}]
    with app.app_context():
        doc = openapi.build(app, [obj])
    for verb in ("transition", "approve", "reject"):
        assert f"/api/v1/contacts/{{record_id}}/{verb}" in doc["paths"]
    assert "newest first" in doc["paths"]["/api/v1/contacts/{record_id}/transitions"]["get"]["summary"]
    with app.app_context():
        assert "/api/v1/contacts/{record_id}/transitions" not in openapi.build(app, [CONTACT.to_dict()])["paths"]


def test_plugin_routes_with_and_without_declarations(app, tmp_path):
    app2 = create_app(Settings(mode="embedded", data_dir=tmp_path, secret_key="s" * 48), None)
    bp = Blueprint("plug", __name__)

    @declare("Declared", tag="plugin: plug", responses={200: {"type": "object"}})
    def declared():
        return {}

    def bare(thing_id):
        """Bare route."""
        return {}
    bp.add_url_rule("/declared", "declared", declared)
    bp.add_url_rule("/things/<thing_id>", "bare", bare)
    app2.register_blueprint(bp, url_prefix="/api/v1/x/plug", name="x_plug")
    with app2.app_context():
        doc = openapi.build(app2, [], plugins=("plug",))
        assert "/api/v1/x/plug/declared" not in openapi.build(app2, [])["paths"]
    validate(doc)
    assert doc["paths"]["/api/v1/x/plug/declared"]["get"]["summary"] == "Declared"
    assert doc["paths"]["/api/v1/x/plug/things/{thing_id}"]["get"]["summary"] == "Bare route."


def test_problem_errors_are_flat_field_paths():
    assert flatten_errors({"modules": {0: ["bad"]}}) == {"modules[0]": ["bad"]}
    assert flatten_errors({"admin": {"email": ["x"]}, "rules": {"2": {"role": ["y"]}}}) == {
        "admin.email": ["x"], "rules[2].role": ["y"]}
    assert flatten_errors({"a": "one"}) == {"a": ["one"]}
    assert ValidationFailed("no", errors={"modules": {0: ["bad"]}}).to_problem()["errors"] == {"modules[0]": ["bad"]}
    assert BadRequest("no", errors={"x": ["y"]}).errors == {"x": ["y"]}


def test_api_key_creation_declares_its_idempotency(app):
    with app.app_context():
        doc = openapi.build(app, [])
    create = doc["paths"]["/api/v1/admin/api-keys"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    assert {"201", "409", "422"} <= set(create["responses"])
    created = doc["components"]["schemas"]["ApiKeyCreated"]["properties"]
    assert created["secret"]["nullable"] is True and created["redacted"]["type"] == "object"
