"""What the document shows whom, against a real ``mosaic run``: before login, the core objects
with their core fields (so /api/docs is useful without a token); a tenant's caller, its custom
fields, custom objects and plugins, less the fields the caller's roles may not read."""
from __future__ import annotations

import uuid

import requests
from openapi_spec_validator import validate

from tests.e2e.conftest import PASSWORD, login


def test_anonymous_document_shows_core_objects(embedded_stack, rich_tenant):
    resp = requests.get(embedded_stack.url + "/api/v1/openapi.json", timeout=30)
    assert resp.status_code == 200
    doc = resp.json()
    validate(doc)
    assert {"/api/v1/contacts", "/api/v1/accounts/{record_id}", "/api/v1/contacts/{record_id}/360"} <= set(doc["paths"])
    contact = doc["components"]["schemas"]["Contact"]["properties"]
    assert {"first_name", "last_name", "email", "source"} <= set(contact)
    assert not [f for f in contact if f.startswith("cf_") or f.startswith("realestate__")]
    assert not [p for p in doc["paths"] if "/x/" in p or "realestate" in p or "projects" in p]
    assert doc["paths"]["/api/v1/auth/login"]["post"]["security"] == []
    assert doc["paths"]["/api/v1/me"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]


def test_tenant_document_leaves_out_fields_the_role_may_not_read(embedded_stack, rich_tenant):
    admin = rich_tenant
    rules = {"rules": [{"object": "contact", "field": "email", "role": "sales", "access": "none"},
                       {"object": "contact", "field": "cf_budget", "role": "sales", "access": "none"}]}
    assert admin.put("admin/field-permissions", rules).status_code == 200
    email = f"sales-{uuid.uuid4().hex[:6]}@example.test"
    made = admin.post("admin/users", {"email": email, "password": PASSWORD, "roles": ["sales"]})
    assert made.status_code == 201, made.text
    try:
        sales = login(embedded_stack.url, admin.tenant, email)
        seen = sales.get("openapi.json").json()["components"]["schemas"]
        assert "email" not in seen["Contact"]["properties"] and "cf_budget" not in seen["Contact"]["properties"]
        assert "email" not in seen["ContactInput"]["properties"]
        assert "cf_segment" in seen["Contact"]["properties"] and "Project" in seen
        full = admin.get("openapi.json").json()["components"]["schemas"]["Contact"]["properties"]
        assert {"email", "cf_budget", "cf_segment"} <= set(full)
    finally:
        assert admin.put("admin/field-permissions", {"rules": []}).status_code == 200
