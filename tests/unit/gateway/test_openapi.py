"""The OpenAPI document: a valid OpenAPI 3 structure, fixed endpoints from their marshmallow
schemas, and one set of record paths per object of the caller's tenant, custom fields included."""
from openapi_spec_validator import validate

from mosaic_contacts.objects import CONTACT, build_registry
from mosaic_gateway import openapi


def test_documents_are_valid_openapi():
    validate(openapi.build(None))
    validate(openapi.build([obj.to_dict() for obj in build_registry().all()]))


def test_fixed_document_without_a_tenant():
    doc = openapi.build(None)
    assert doc["openapi"].startswith("3.")
    login = doc["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert login == {"$ref": "#/components/schemas/Login"}
    assert set(doc["components"]["schemas"]["Login"]["required"]) == {"tenant", "email", "password"}
    assert not any(p.startswith("/api/v1/contacts") for p in doc["paths"])


def test_tenant_objects_with_custom_fields():
    contact = CONTACT.to_dict()
    contact["fields"].append({"name": "region", "type": "picklist", "choices": ["n", "s"], "required": True,
                              "label": "Region", "custom": True})
    doc = openapi.build([contact])
    schema = doc["components"]["schemas"]["Contact"]["properties"]
    assert schema["region"]["enum"] == ["n", "s"] and schema["email"]["format"] == "email"
    assert schema["tags"]["type"] == "array" and schema["id"]["readOnly"] is True
    assert "region" in doc["components"]["schemas"]["ContactInput"]["required"]
    assert "id" not in doc["components"]["schemas"]["ContactInput"]["properties"]
    for path in ("/api/v1/contacts", "/api/v1/contacts/{record_id}", "/api/v1/contacts/{record_id}/merge",
                 "/api/v1/contacts/{record_id}/360", "/api/v1/contacts/imports", "/api/v1/contacts/export.csv"):
        assert path in doc["paths"], path
    assert "412" in doc["paths"]["/api/v1/contacts/{record_id}"]["patch"]["responses"]
