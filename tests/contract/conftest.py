"""Fixtures of the contract tests (the API is what its OpenAPI document says): one embedded ``mosaic run`` process per module, and a tenant
with a custom field of every type on contacts, a custom object and the realestate plugin."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack, _base_env, make_tenant

#: one custom field of every type the platform has (formula included)
EVERY_TYPE = [
    {"name": "cf_nickname", "type": "text", "max_length": 40},
    {"name": "cf_bio", "type": "long_text"},
    {"name": "cf_budget", "type": "integer", "min_value": 0},
    {"name": "cf_ratio", "type": "decimal"},
    {"name": "cf_deal_size", "type": "money", "currency": "EUR"},
    {"name": "cf_discount", "type": "percent"},
    {"name": "cf_signed_on", "type": "date"},
    {"name": "cf_met_at", "type": "datetime"},
    {"name": "cf_vip", "type": "boolean"},
    {"name": "cf_work_email", "type": "email"},
    {"name": "cf_mobile", "type": "phone"},
    {"name": "cf_homepage", "type": "url"},
    {"name": "cf_segment", "type": "picklist", "choices": ["smb", "mid", "ent"]},
    {"name": "cf_channels", "type": "multi_picklist", "choices": ["mail", "phone", "chat"]},
    {"name": "cf_company_ref", "type": "lookup", "lookup": "account"},
    {"name": "cf_budget_twice", "type": "formula", "formula": "cf_budget * 2"},
]


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory):
    """A real ``mosaic run`` (embedded mode) of this module's own."""
    tmp = tmp_path_factory.mktemp("contract-stack")
    env = _base_env(tmp)
    env["MOSAIC_MODE"] = "embedded"
    stack = Stack("embedded", env, tmp)
    stack.spawn("run")
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()


def token_of(api) -> str:
    return api.http.headers["Authorization"].split(" ", 1)[1]


@pytest.fixture(scope="module")
def rich_tenant(embedded_stack):
    """The admin of a tenant with every field type on contacts, a custom object ``project`` and
    the realestate plugin enabled."""
    api = make_tenant(embedded_stack)
    api.token = token_of(api)
    for field in EVERY_TYPE:
        resp = api.post("metadata/objects/contact/fields", field)
        assert resp.status_code == 201, (field, resp.text)
    resp = api.post("metadata/objects", {"name": "project", "label": "Project", "plural": "projects", "fields": [
        {"name": "name", "type": "text", "required": True},
        {"name": "stage", "type": "picklist", "choices": ["plan", "build", "done"]},
        {"name": "budget", "type": "money", "currency": "EUR"},
        {"name": "due", "type": "date"}]})
    assert resp.status_code == 201, resp.text
    resp = api.put("admin/plugins/realestate")
    assert resp.status_code == 200, resp.text
    return api
