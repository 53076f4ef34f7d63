"""Configuration export and import (metadata as code): planning, idempotency, dry runs, conflicts
and requirements over an in-memory backend that runs the services' own checks, then the HTTP
routes over the same backend."""
from __future__ import annotations

import copy
import itertools
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from mosaic.errors import Conflict, ValidationFailed
from mosaic.logic.definitions import compile_definition
from mosaic.metadata.definitions import validate_field, validate_field_change, validate_object
from mosaic.metadata.fields import FieldDef, FieldType
from mosaic.logic.secrets import MASK, public_definition, seal_secrets
from mosaic.webhooks.egress import STRICT, EgressPolicy
from mosaic.webhooks.sealing import SecretBox
from mosaic.webhooks.subscriptions import validate_subscription
from mosaic_contacts.objects import ACCOUNT, CONTACT
from mosaic_gateway import config_io, routes_config

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
KINDS = ("process", "automation_rule", "validation_rule")
_ids = itertools.count(1)
BOX = SecretBox("k" * 48)
#: the documents' webhooks point at loopback, which only an allow-list lets webhooks call
LOCAL = EgressPolicy.parse(["127.0.0.1/32"])

# A plugin's field on a core object and a plugin's rule: never exported.
PLUGIN_FIELD = FieldDef("realestate__budget_min", FieldType.DECIMAL, "Budget min", namespace="realestate")
PLUGIN_RULE = {"name": "realestate__hot", "object": "contact", "plugin": "realestate",
               "trigger": {"type": "created"}, "actions": [{"type": "emit_event", "event": "hot"}]}


class FakeBackend:
    """A tenant in memory. Writes run the same checks the services do (metadata validation,
    definition compilers, webhook validation) and are logged in ``writes``; ``fail`` maps a
    method name to the error its next call raises."""

    def __init__(self, slug="acme", modules=("contacts",), plugins=()):
        self.slug, self._modules, self._plugins = slug, tuple(modules), tuple(plugins)
        self.objs = {o.name: o for o in (ACCOUNT, CONTACT)}
        self.defs: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
        self.plugin_defs: dict[str, list[dict]] = {k: [] for k in KINDS}
        self.hooks: list[dict] = []
        self.writes: list[tuple] = []
        self.fail: dict[str, Exception] = {}
        self.egress = LOCAL

    def _write(self, method, *args):
        if method in self.fail:
            raise self.fail.pop(method)
        self.writes.append((method, *args))

    # -- reads
    def tenant_slug(self):
        return self.slug

    def modules(self):
        return self._modules

    def plugins(self):
        return self._plugins

    def objects(self):
        return [o.to_dict() for o in self.objs.values()]

    def egress_policy(self):
        return self.egress

    def list_definitions(self, kind):
        own = [public_definition({**d, "active": bool(d.get("active", True))}) for d in self.defs[kind].values()]
        return own + self.plugin_defs[kind]

    def list_webhooks(self):
        return [{k: v for k, v in h.items() if k != "secret"} for h in self.hooks]

    # -- writes
    def create_object(self, service, definition):
        self._write("create_object", definition["name"])
        obj = validate_object(definition, service=service, taken_names=self.objs.keys(),
                              taken_paths={o.path for o in self.objs.values()}, known_objects=self.objs.keys())
        self.objs[obj.name] = obj
        return obj.to_dict()

    def add_field(self, service, object_name, definition):
        self._write("add_field", object_name, definition["name"])
        obj = self.objs[object_name]
        fdef = validate_field(definition, obj, self.objs.keys())
        self.objs[object_name] = obj.with_fields([fdef])
        return fdef.to_dict()

    def change_field(self, service, object_name, field_name, changes):
        self._write("change_field", object_name, field_name, changes)
        obj = self.objs[object_name]
        fdef = validate_field_change(obj.field(field_name), changes, obj, self.objs.keys())
        fields = tuple(fdef if f.name == field_name else f for f in obj.fields)
        self.objs[object_name] = replace(obj, fields=fields, _index={})
        return fdef.to_dict()

    def put_definition(self, service, kind, definition):
        self._write("put_definition", kind, definition["name"])
        sealed = seal_secrets(definition, self.defs[kind].get(definition["name"]), BOX, self.egress)
        stored = dict(compile_definition(kind, sealed, self.objs).definition)
        stored.pop("plugin", None)
        self.defs[kind][stored["name"]] = stored
        return public_definition(stored)

    def create_webhook(self, data):
        self._write("create_webhook", data["url"])
        clean = validate_subscription(data, policy=self.egress)
        hook = {"id": f"wh-{next(_ids)}", **clean, "secret": f"secret-{next(_ids)}"}
        self.hooks.append(hook)
        return hook

    def enable_plugin(self, name):
        self._write("enable_plugin", name)
        self._plugins += (name,)


def configure_source(backend: FakeBackend) -> FakeBackend:
    """A tenant with one of everything an admin can define (through the backend's own writes)."""
    backend.add_field("contacts", "contact", {"name": "loyalty_tier", "type": "picklist",
                                              "choices": ["bronze", "silver", "gold"], "label": "Loyalty tier"})
    backend.add_field("contacts", "contact", {"name": "score", "type": "integer", "min_value": 0})
    backend.add_field("contacts", "account", {"name": "vip", "type": "boolean", "default": False})
    backend.create_object("contacts", {"name": "project", "label": "Project", "fields": [
        {"name": "name", "type": "text", "required": True},
        {"name": "budget", "type": "decimal"},
        {"name": "client_id", "type": "lookup", "lookup": "account"}]})
    backend.put_definition("contacts", "validation_rule", {
        "name": "positive_budget", "object": "project", "condition": "budget > 0",
        "message": "The budget must be positive.", "field": "budget"})
    backend.put_definition("contacts", "automation_rule", {
        "name": "gold_leads", "object": "contact", "trigger": {"type": "field_changed", "fields": ["score"]},
        "condition": "score > 90", "actions": [{"type": "set_field", "field": "loyalty_tier", "value": "gold"}]})
    backend.put_definition("contacts", "process", {
        "name": "tiering", "object": "contact", "field": "loyalty_tier", "initial": "bronze",
        "stages": [{"name": "bronze"}, {"name": "silver"}, {"name": "gold", "final": True}],
        "transitions": [{"name": "up", "from": ["bronze"], "to": "silver"},
                        {"name": "top", "from": ["silver"], "to": "gold"}]})
    backend.create_webhook({"url": "http://127.0.0.1:9000/hooks", "events": ["contact.created", "project.*"],
                            "description": "ERP sync"})
    # What the tenant did not define itself.
    backend.objs["contact"] = backend.objs["contact"].with_fields([PLUGIN_FIELD])
    backend.plugin_defs["automation_rule"].append(PLUGIN_RULE)
    backend.writes.clear()
    return backend


@pytest.fixture
def source():
    return configure_source(FakeBackend(slug="source"))


@pytest.fixture
def document(source):
    return config_io.export_config(source, now=NOW)


def names(items):
    return sorted((i["kind"], i["name"]) for i in items)


# ---------------------------------------------------------------- export

def test_export_holds_only_what_the_tenant_defined(document):
    assert document["format"] == "mosaic-config" and document["version"] == 1
    assert document["source_tenant"] == "source" and document["exported_at"].startswith("2024-05-01T12:00:00")
    assert [o["name"] for o in document["objects"]] == ["project"]
    project = document["objects"][0]
    assert [f["name"] for f in project["fields"]] == ["name", "budget", "client_id"]  # no system fields
    assert project["service"] == "contacts" and project["title_field"] == "name"
    assert {o: [f["name"] for f in fs] for o, fs in document["fields"].items()} == {
        "account": ["vip"], "contact": ["loyalty_tier", "score"]}  # no core or plugin fields
    assert document["fields"]["contact"][0] == {"name": "loyalty_tier", "type": "picklist", "label": "Loyalty tier",
                                                "choices": ["bronze", "silver", "gold"]}
    assert [d["name"] for d in document["automation_rules"]] == ["gold_leads"]  # not the plugin's rule
    assert all("plugin" not in d for k in ("processes", "automation_rules", "validation_rules") for d in document[k])
    assert document["webhooks"] == [{"url": "http://127.0.0.1:9000/hooks", "events": ["contact.created", "project.*"],
                                     "description": "ERP sync", "active": True}]  # no id, no secret


def test_export_order_is_stable(source, document):
    shuffled = copy.copy(source)
    shuffled.objs = dict(reversed(list(source.objs.items())))
    shuffled.objs["contact"] = replace(source.objs["contact"], fields=tuple(reversed(source.objs["contact"].fields)),
                                       _index={})
    shuffled.defs = {k: dict(reversed(list(v.items()))) for k, v in source.defs.items()}
    shuffled.add_field("contacts", "contact", {"name": "alpha", "type": "text"})
    shuffled.put_definition("contacts", "validation_rule", {"name": "a_rule", "object": "contact",
                                                            "condition": "score >= 0", "message": "No."})
    again = config_io.export_config(shuffled, now=NOW)
    assert [f["name"] for f in again["fields"]["contact"]] == ["alpha", "loyalty_tier", "score"]
    assert [d["name"] for d in again["validation_rules"]] == ["a_rule", "positive_budget"]
    del again["fields"]["contact"][0], again["validation_rules"][0]
    assert again == document


# ---------------------------------------------------------------- import

def test_import_into_an_empty_tenant_then_again_changes_nothing(source, document):
    target = FakeBackend(slug="target")
    report = config_io.import_config(target, document)
    assert report["applied"] and report["errors"] == [] and report["updated"] == []
    assert names(report["created"]) == [
        ("automation_rule", "gold_leads"), ("field", "account.vip"), ("field", "contact.loyalty_tier"),
        ("field", "contact.score"), ("object", "project"), ("process", "tiering"),
        ("validation_rule", "positive_budget"), ("webhook", "http://127.0.0.1:9000/hooks")]
    # Dependency order: objects and fields, then validation rules, processes, automation rules, webhooks.
    assert [w[0] for w in target.writes] == ["create_object"] + ["add_field"] * 3 + [
        "put_definition"] * 3 + ["create_webhook"]
    assert [w[1] for w in target.writes if w[0] == "put_definition"] == ["validation_rule", "process",
                                                                         "automation_rule"]
    webhook = next(i for i in report["created"] if i["kind"] == "webhook")
    assert webhook["secret"].startswith("secret-")  # shown once, here
    target.writes.clear()
    second = config_io.import_config(target, document)
    assert target.writes == []
    assert second["created"] == second["updated"] == second["errors"] == []
    project_fields = [("field", "project.budget"), ("field", "project.client_id"), ("field", "project.name")]
    assert names(second["unchanged"]) == sorted(names(report["created"]) + project_fields)
    # The target now exports what the source did.
    exported = config_io.export_config(target, now=NOW)
    assert {**exported, "source_tenant": "source"} == document


def test_dry_run_writes_nothing_and_shows_the_same_plan(document):
    target = FakeBackend()
    dry = config_io.import_config(target, document, dry_run=True)
    assert target.writes == [] and dry["dry_run"] and not dry["applied"] and dry["errors"] == []
    real = config_io.import_config(FakeBackend(), document)
    assert names(dry["created"]) == names([{k: v for k, v in i.items() if k != "secret"} for i in real["created"]])


def test_changed_fields_and_definitions_are_updated(document):
    target = FakeBackend()
    config_io.import_config(target, document)
    doc = copy.deepcopy(document)
    doc["fields"]["contact"][0]["choices"].append("platinum")
    doc["fields"]["contact"][1]["help_text"] = "0 to 100"
    doc["validation_rules"][0]["message"] = "Budgets are positive."
    target.writes.clear()
    report = config_io.import_config(target, doc)
    assert names(report["updated"]) == [("field", "contact.loyalty_tier"), ("field", "contact.score"),
                                        ("validation_rule", "positive_budget")]
    assert ("change_field", "contact", "loyalty_tier",
            {"choices": ["bronze", "silver", "gold", "platinum"]}) in target.writes
    assert target.objs["contact"].field("score").help_text == "0 to 100"
    assert config_io.import_config(target, doc)["updated"] == []


def test_an_option_absent_from_the_document_is_removed(document):
    target = FakeBackend()
    target.add_field("contacts", "contact", {"name": "score", "type": "integer", "min_value": 0, "max_value": 100})
    report = config_io.import_config(target, document)
    assert ("change_field", "contact", "score", {"max_value": None}) in target.writes
    assert ("field", "contact.score") in names(report["updated"])
    assert target.objs["contact"].field("score").max_value is None


def test_a_type_conflict_is_an_error_and_nothing_is_written(document):
    target = FakeBackend()
    target.add_field("contacts", "account", {"name": "vip", "type": "text"})
    target.writes.clear()
    report = config_io.import_config(target, document)
    assert [(e["kind"], e["name"]) for e in report["errors"]] == [("field", "account.vip")]
    assert "type is text here and boolean in the document" in report["errors"][0]["error"]
    assert target.writes == [] and not report["applied"] and report["created"] == []
    assert ("object", "project") in names(report["skipped"])
    dry = config_io.import_config(target, document, dry_run=True)
    assert dry["errors"] == report["errors"] and ("object", "project") in names(dry["created"])


def test_fields_clashing_with_core_fields_and_objects_are_errors(document):
    doc = copy.deepcopy(document)
    doc["fields"]["contact"].append({"name": "email", "type": "email"})
    doc["fields"]["nothing"] = [{"name": "x", "type": "text"}]
    doc["objects"].append({"name": "account", "fields": []})
    report = config_io.import_config(FakeBackend(), doc, dry_run=True)
    errors = {(e["kind"], e["name"]): e["error"] for e in report["errors"]}
    assert "core or system field" in errors[("field", "contact.email")]
    assert "no such object" in errors[("object", "nothing")]
    assert "core object here" in errors[("object", "account")]


def test_an_invalid_definition_is_reported_with_its_paths(document):
    doc = copy.deepcopy(document)
    doc["automation_rules"][0]["condition"] = "no_such_field > 1"
    report = config_io.import_config(FakeBackend(), doc, dry_run=True)
    [error] = report["errors"]
    assert (error["kind"], error["name"]) == ("automation_rule", "gold_leads") and "condition" in error["errors"]


def test_definitions_may_use_fields_the_same_import_adds(document):
    # gold_leads needs contact.score and contact.loyalty_tier, which the target does not have yet:
    # the plan checks it against the metadata as it will be.
    report = config_io.import_config(FakeBackend(), document, dry_run=True)
    assert ("automation_rule", "gold_leads") in names(report["created"])


def test_lookups_between_new_objects_in_any_order():
    doc = {"format": "mosaic-config", "version": 1, "objects": [
        {"name": "task_list", "fields": [{"name": "name", "type": "text"},
                                         {"name": "board_id", "type": "lookup", "lookup": "board"}]},
        {"name": "board", "fields": [{"name": "name", "type": "text"}]}]}
    target = FakeBackend()
    report = config_io.import_config(target, doc)
    assert report["errors"] == []
    assert [w[:2] for w in target.writes] == [("create_object", "task_list"), ("create_object", "board"),
                                              ("add_field", "task_list")]
    assert target.objs["task_list"].field("board_id").lookup == "board"
    again = config_io.import_config(target, doc)
    assert again["created"] == again["updated"] == [] and names(again["unchanged"]) == [
        ("field", "board.name"), ("field", "task_list.board_id"), ("field", "task_list.name"),
        ("object", "board"), ("object", "task_list")]


def test_a_failing_write_stops_the_import_and_earlier_writes_stay(document):
    target = FakeBackend()
    target.fail["put_definition"] = Conflict("the database said no")
    report = config_io.import_config(target, document)
    assert report["applied"]
    assert report["errors"] == [{"kind": "validation_rule", "name": "positive_budget",
                                 "error": "the database said no"}]
    assert names(report["skipped"]) == [("automation_rule", "gold_leads"), ("process", "tiering"),
                                        ("webhook", "http://127.0.0.1:9000/hooks")]
    assert "project" in target.objs and target.defs["validation_rule"] == {}
    retry = config_io.import_config(target, document)  # fixed: the rest goes in, nothing twice
    assert names(retry["created"]) == sorted(names(report["skipped"]) + [("validation_rule", "positive_budget")])
    assert ("object", "project") in names(retry["unchanged"])


def test_webhooks_match_on_url_and_events_and_are_never_deleted(document):
    target = FakeBackend()
    target.create_webhook({"url": "http://127.0.0.1:9000/hooks", "events": ["project.*", "contact.created"],
                           "description": "set up by hand", "active": False})
    target.create_webhook({"url": "http://other.example/hook", "events": ["*"]})
    report = config_io.import_config(target, document)
    assert ("webhook", "http://127.0.0.1:9000/hooks") in names(report["unchanged"])
    assert len(target.hooks) == 2


def test_missing_plugins_and_modules_are_refused(document):
    doc = {**document, "plugins": ["realestate"], "modules": ["contacts", "sales"]}
    with pytest.raises(ValidationFailed) as exc:
        config_io.import_config(FakeBackend(), doc, dry_run=True)
    assert set(exc.value.errors) == {"plugins", "modules"}
    assert exc.value.extra == {"missing_modules": ["sales"], "missing_plugins": ["realestate"]}


def test_missing_plugins_are_enabled_when_asked(document):
    doc = {**document, "plugins": ["realestate"]}
    target = FakeBackend()
    dry = config_io.import_config(target, doc, dry_run=True, enable_plugins=True)
    assert {"kind": "plugin", "name": "realestate"} in dry["created"] and target.writes == []
    assert dry["warnings"][0]["kind"] == "plugin"
    report = config_io.import_config(target, doc, enable_plugins=True)
    assert target.writes[0] == ("enable_plugin", "realestate") and report["errors"] == []
    assert target.plugins() == ("realestate",)


@pytest.mark.parametrize("doc, paths", [
    ([], {"$"}),
    ({"format": "other", "version": 2}, {"format", "version"}),
    ({"format": "mosaic-config", "version": 1, "objects": [{"fields": [{"name": "x"}]}], "colour": 1,
      "fields": {"contact": [{"type": "text"}]}, "processes": [{"name": "p"}], "modules": "contacts",
      "webhooks": [{"events": ["*"]}], "validation_rules": [{"name": "a", "object": "contact"},
                                                             {"name": "a", "object": "contact"}]},
     {"objects[0].name", "objects[0].fields[0].type", "colour", "fields.contact[0].name", "processes[0].object",
      "modules", "webhooks[0].url", "validation_rules[1].name"}),
])
def test_malformed_documents_name_each_problem_by_path(doc, paths):
    with pytest.raises(ValidationFailed) as exc:
        config_io.import_config(FakeBackend(), doc)
    assert set(exc.value.errors) == paths


# ---------------------------------------------------------------- HTTP

@pytest.fixture
def http(make_app, admin_headers, make_user, login, bearer):
    """(client, admin headers, sales-user headers, the backend the routes use)."""
    app = make_app(blueprints=(routes_config.bp,))
    backend = FakeBackend()
    app.extensions["mosaic"]["config_backend"] = lambda: backend
    client = app.test_client()
    tenant, _admin, headers = admin_headers("acme")
    user = make_user(tenant)
    return client, headers, bearer(login("acme", user.email, client=client)), backend


def test_export_is_a_json_attachment_for_admins_only(http, source):
    client, headers, user_headers, backend = http
    configure_source(backend)
    r = client.get("/api/v1/admin/config", headers=headers)
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["Content-Disposition"] == 'attachment; filename="mosaic-config-acme.json"'
    assert [o["name"] for o in r.get_json()["objects"]] == ["project"]
    assert client.get("/api/v1/admin/config", headers=user_headers).status_code == 403
    assert client.put("/api/v1/admin/config", json=r.get_json(), headers=user_headers).status_code == 403


def test_import_over_http(http, document):
    client, headers, _user, backend = http
    r = client.put("/api/v1/admin/config?dry_run=true", json=document, headers=headers)
    assert r.status_code == 200 and r.get_json()["dry_run"] is True and backend.writes == []
    r = client.put("/api/v1/admin/config", json=document, headers=headers)
    assert r.status_code == 200 and ("object", "project") in names(r.get_json()["created"])
    r = client.put("/api/v1/admin/config?dry_run=false", json=document, headers=headers)
    assert r.status_code == 200 and r.get_json()["created"] == []
    assert client.put("/api/v1/admin/config?dry_run=maybe", json=document, headers=headers).status_code == 400


def test_import_problems_over_http(http, document):
    client, headers, _user, backend = http
    r = client.put("/api/v1/admin/config", json={"format": "csv"}, headers=headers)
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"format", "version"}
    r = client.put("/api/v1/admin/config", json={**document, "plugins": ["realestate"]}, headers=headers)
    assert r.status_code == 422 and r.get_json()["missing_plugins"] == ["realestate"]
    backend.add_field("contacts", "account", {"name": "vip", "type": "integer"})
    r = client.put("/api/v1/admin/config", json=document, headers=headers)
    body = r.get_json()
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert body["applied"] is False and [e["name"] for e in body["failed"]] == ["account.vip"]
    assert list(body["errors"]) == ["field.account.vip"] and all(isinstance(m, str) for m in body["errors"]["field.account.vip"])
    assert client.put("/api/v1/admin/config?dry_run=true", json=document, headers=headers).status_code == 200


# ---------------------------------------------------------------- secrets and where webhooks go

SIGNED = {"name": "erp_push", "object": "contact", "trigger": {"type": "created"},
          "actions": [{"type": "emit_event", "event": "pushed"},
                      {"type": "webhook", "url": "http://127.0.0.1:9000/push", "secret": "p" * 24}]}


def test_an_export_holds_no_secret_and_says_which_were_left_out(source):
    source.put_definition("contacts", "automation_rule", SIGNED)
    doc = config_io.export_config(source, now=NOW)
    assert "p" * 24 not in str(doc) and "sealed:" not in str(doc) and MASK not in str(doc)
    rule = next(d for d in doc["automation_rules"] if d["name"] == "erp_push")
    assert rule["actions"][1] == {"type": "webhook", "url": "http://127.0.0.1:9000/push"}
    assert doc["secrets_omitted"] == [{"kind": "automation_rule", "name": "erp_push", "path": "actions[1].secret"}]


def test_an_import_says_which_secrets_to_set_and_keeps_those_the_target_has(source):
    source.put_definition("contacts", "automation_rule", SIGNED)
    doc = config_io.export_config(source, now=NOW)
    target = FakeBackend(slug="target")
    dry = config_io.import_config(target, doc, dry_run=True)
    report = config_io.import_config(target, doc)
    for answer in (dry, report):
        assert [(s["kind"], s["name"], s["path"]) for s in answer["secrets_to_set"]] == [
            ("automation_rule", "erp_push", "actions[1].secret")]
    assert "set it again" in report["secrets_to_set"][0]["detail"]
    # The admin sets it; importing the same document again keeps it and asks for nothing.
    target.put_definition("contacts", "automation_rule",
                          {**SIGNED, "actions": [SIGNED["actions"][0], {**SIGNED["actions"][1], "secret": "t" * 24}]})
    again = config_io.import_config(target, doc)
    assert again["secrets_to_set"] == [] and ("automation_rule", "erp_push") in names(again["unchanged"])
    assert BOX.open(target.defs["automation_rule"]["erp_push"]["actions"][1]["secret"]) == "t" * 24


def test_webhooks_pointing_inside_are_plan_errors_without_the_allow_list(source):
    source.egress = EgressPolicy.parse(["127.0.0.1/32", "169.254.0.0/16"])  # the source allowed them
    source.put_definition("contacts", "automation_rule", {**SIGNED, "actions": SIGNED["actions"][:1] + [
        {"type": "webhook", "url": "http://169.254.169.254/latest/meta-data/"}]})
    target = FakeBackend(slug="target")
    target.egress = STRICT
    report = config_io.import_config(target, config_io.export_config(source, now=NOW), dry_run=True)
    errors = {(e["kind"], e["name"]): e for e in report["errors"]}
    assert "public address" in errors[("automation_rule", "erp_push")]["errors"]["actions[1].url"][0]
    assert "public address" in errors[("webhook", "http://127.0.0.1:9000/hooks")]["errors"]["url"][0]
