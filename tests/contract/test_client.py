"""A client generated with openapi-python-client from a tenant's document drives the main flows
through the generated code only: log in, create / get / list (with a filter) / change / delete a
contact whose picklists are unset, and a record of a custom object. It proves the document is
usable by an integrator's tooling, not merely valid."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import OPERATOR_KEY, PASSWORD

GENERATOR = str(Path(sys.executable).parent / "openapi-python-client")
#: no formatter run after generation (ruff need not be installed); CSV bodies sent as bytes
CONFIG = {"post_hooks": [], "content_type_overrides": {"text/csv": "application/octet-stream"}}


@pytest.fixture(scope="module")
def client_package(rich_tenant, embedded_stack, tmp_path_factory):
    """The generated package ``mosaic_client`` (imported from a temporary directory)."""
    tmp = tmp_path_factory.mktemp("client")
    (tmp / "openapi.json").write_text(json.dumps(rich_tenant.get("openapi.json").json()))
    (tmp / "config.json").write_text(json.dumps(CONFIG))
    result = subprocess.run([GENERATOR, "generate", "--path", str(tmp / "openapi.json"), "--meta", "none",
                             "--config", str(tmp / "config.json"), "--output-path", str(tmp / "mosaic_client")],
                            capture_output=True, text=True, timeout=300, cwd=tmp)
    assert (tmp / "mosaic_client" / "client.py").exists(), result.stdout + result.stderr
    sys.path.insert(0, str(tmp))
    try:
        yield importlib.import_module("mosaic_client")
    finally:
        sys.path.remove(str(tmp))
        for name in [m for m in sys.modules if m == "mosaic_client" or m.startswith("mosaic_client.")]:
            del sys.modules[name]


def _mod(name: str):
    return importlib.import_module(f"mosaic_client.{name}")


def test_generated_client_drives_the_main_flows(client_package, rich_tenant, embedded_stack):
    base = embedded_stack.url
    # a user of the tenant, so the client logs in by itself
    email = f"rep-{uuid.uuid4().hex[:6]}@example.test"
    assert rich_tenant.post("admin/users", {"email": email, "password": PASSWORD, "roles": ["admin"]}).status_code == 201
    models = _mod("models")
    login = _mod("api.auth.login")
    pair = login.sync(client=client_package.Client(base_url=base),
                      body=models.Login(tenant=rich_tenant.tenant, email=email, password=PASSWORD))
    assert isinstance(pair, models.TokenPair), pair
    client = client_package.AuthenticatedClient(base_url=base, token=pair.access_token)

    # a contact with every picklist unset: the generated model must read the nulls back
    name = "Client" + uuid.uuid4().hex[:8]
    made = _mod("api.contact.create_contact").sync(client=client, body=models.ContactInput(
        first_name="Ada", last_name=name))
    assert isinstance(made, models.Contact), made
    assert made.source is None and made.cf_segment is None and made.last_name == name
    got = _mod("api.contact.get_contact").sync(made.id, client=client)
    assert isinstance(got, models.Contact) and got.id == made.id and got.source is None

    page = _mod("api.contact.list_contacts").sync(client=client, filter_=f'last_name = "{name}"', limit=10)
    assert [c.id for c in page.items] == [made.id]

    changed = _mod("api.contact.update_contact").sync(made.id, client=client, body=models.ContactPatch(
        first_name="Grace", cf_budget=1200))
    assert isinstance(changed, models.Contact) and changed.first_name == "Grace" and changed.cf_budget == 1200
    assert changed.cf_budget_twice == 2400  # the formula, computed and documented read-only

    gone = _mod("api.contact.delete_contact").sync_detailed(made.id, client=client)
    assert gone.status_code == 204
    missing = _mod("api.contact.get_contact").sync(made.id, client=client)
    assert isinstance(missing, models.Problem) and missing.status == 404

    # a record of the tenant's custom object
    project = _mod("api.project.create_project").sync(client=client, body=models.ProjectInput(name="Roof"))
    assert isinstance(project, models.Project) and project.name == "Roof" and project.stage is None
    again = _mod("api.project.get_project").sync(project.id, client=client)
    assert isinstance(again, models.Project) and again.id == project.id


def test_generated_client_reads_problems(client_package, embedded_stack):
    models = _mod("models")
    login = _mod("api.auth.login")
    refused = login.sync(client=client_package.Client(base_url=embedded_stack.url),
                         body=models.Login(tenant="no-such-tenant", email="x@example.test", password="wrong password"))
    assert isinstance(refused, models.Problem) and refused.status == 401
    # the operator API, with its own key
    operator = client_package.Client(base_url=embedded_stack.url, headers={"X-Operator-Key": OPERATOR_KEY})
    tenants = _mod("api.operator.list_tenants").sync(client=operator)
    assert tenants.items and all(isinstance(t, models.Tenant) for t in tenants.items)
    anonymous = _mod("api.operator.list_tenants").sync(client=client_package.Client(base_url=embedded_stack.url))
    assert isinstance(anonymous, models.Problem) and anonymous.status == 401
