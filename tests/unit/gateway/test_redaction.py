"""mosaic_gateway.redaction: every shape that carries record values loses the hidden fields'
names and values, and keeps what the caller may see."""
from __future__ import annotations

import json

from mosaic_gateway.redaction import EMPTY, MASK, WITHHELD, Policy, drop_fields, redact, visible_columns

DEAL = {"name": "deal", "label": "Deal", "title_field": "title",
        "fields": [{"name": "title", "label": "Title"}, {"name": "margin", "label": "Margin %"},
                   {"name": "stage", "label": "Stage"}],
        "processes": [{"name": "flow", "field": "stage"}]}
OBJECTS = {"deal": DEAL}


def policy(hidden=None, templates=(), **others):
    """A policy hiding ``hidden`` ({object: fields}); ``templates`` are the deal's notify
    templates, ``others`` those of other objects."""
    by_object = {"deal": list(templates), **others}
    return Policy(hidden or {"deal": {"margin"}}, OBJECTS.get, lambda name: by_object.get(name, []))


def secret_free(value) -> bool:
    text = json.dumps(value, ensure_ascii=False)
    return "margin" not in text and "S3CR3T" not in text


def test_no_hidden_field_returns_the_same_object():
    body = {"object": "deal", "title": "T", "margin": 40}
    assert redact(body, EMPTY) is body
    assert not EMPTY and policy()
    assert drop_fields(body, ()) is body


def test_records_lose_hidden_fields_wherever_nested():
    body = {"contact": {"object": "deal", "id": "1", "title": "Big", "margin": "S3CR3T"},
            "items": [{"object": "deal", "title": "B", "margin": 1, "nested": {"object": "deal", "margin": 2}}],
            "other": {"object": "account", "margin": "kept: not the deal's field"}}
    out = redact(body, policy())
    assert out["contact"] == {"object": "deal", "id": "1", "title": "Big"}
    assert out["items"][0] == {"object": "deal", "title": "B", "nested": {"object": "deal"}}
    assert out["other"]["margin"] == "kept: not the deal's field"
    assert body["contact"]["margin"] == "S3CR3T"  # the input is left alone


def test_changes_of_audit_entries_and_timeline_items():
    entry = {"object": "deal", "record_id": "1", "action": "update",
             "changes": {"margin": [1, "S3CR3T"], "title": ["a", "b"]}}
    timeline_item = {"kind": "change", "changes": {"margin": [None, "S3CR3T"], "title": [None, "x"]}}
    out = redact({"items": [entry], "timeline": [timeline_item]}, policy(), obj="deal")
    assert out["items"][0]["changes"] == {"title": ["a", "b"]}
    assert out["timeline"][0]["changes"] == {"title": [None, "x"]}
    # an entry whose object is not known is redacted with every object's hidden fields
    unknown = redact({"changes": {"margin": [0, 1], "title": [0, 1]}},
                     policy({"deal": {"margin"}, "account": {"title"}}))
    assert unknown["changes"] == {}


def test_records_embedded_in_changes_are_redacted():
    merged = {"object": "deal", "action": "merge",
              "changes": {"merged": [None, [{"object": "deal", "id": "2", "margin": "S3CR3T", "title": "T"}]]}}
    out = redact(merged, policy())
    assert out["changes"]["merged"][1] == [{"object": "deal", "id": "2", "title": "T"}]


def test_stages_of_a_hidden_process_field_are_nulled():
    approval = {"object": "deal", "record_id": "1", "process": "flow", "from": "S3CR3T", "to": "won",
                "status": "pending"}
    assert redact(approval, policy())["from"] == "S3CR3T"  # stage is visible
    out = redact(approval, policy({"deal": {"stage"}}))
    assert out["from"] is None and out["to"] is None and out["status"] == "pending"
    unknown = redact({**approval, "process": "gone"}, policy())
    assert unknown["from"] is None  # an unknown process: its field cannot be shown visible


def test_notifications_mask_hidden_placeholders_and_keep_visible_ones():
    templates = ["Deal {{title}} has margin {{margin}}!", "Deal {{title}} is big"]
    p = policy(templates=templates)
    hidden = {"object": "deal", "recipient": "user:1", "message": "Deal Acme has margin S3CR3T!"}
    visible = {"object": "deal", "recipient": "user:1", "message": "Deal Acme is big"}
    unknown = {"object": "deal", "recipient": "user:1", "message": "Deal Acme: S3CR3T"}
    out = redact([hidden, visible, unknown], p)
    assert out[0]["message"] == f"Deal Acme has margin {MASK}!"
    assert out[1]["message"] == "Deal Acme is big"
    assert out[2]["message"] == WITHHELD
    other = {"object": "account", "recipient": "user:1", "message": "Account S3CR3T"}
    shown = policy(templates=templates, account=["Account {{name}}"])
    assert redact(other, shown)["message"] == "Account S3CR3T"  # nothing of accounts is hidden
    # a text of no known template (a plugin's own) may quote anything: withheld
    assert redact(other, p)["message"] == WITHHELD
    assert redact({"recipient": "user:1", "message": "S3CR3T", "object": None}, p)["message"] == WITHHELD


def test_approval_announcements_mask_a_hidden_title_or_stage():
    asked = "Deal S3CR3T: win (qualified → won) waits for your approval"
    decided = "Deal S3CR3T: win was approved — fine"
    note = {"object": "deal", "recipient": "role:manager"}
    assert redact({**note, "message": asked}, policy())["message"] == asked
    title_hidden = policy({"deal": {"title"}})
    assert redact({**note, "message": asked}, title_hidden)["message"] == \
        f"Deal {MASK}: win (qualified → won) waits for your approval"
    assert redact({**note, "message": decided}, title_hidden)["message"] == f"Deal {MASK}: win was approved — fine"
    stage_hidden = redact({**note, "message": asked}, policy({"deal": {"stage"}}))["message"]
    assert stage_hidden == f"Deal S3CR3T: win ({MASK} → {MASK}) waits for your approval"


def test_import_job_header_and_columns_by_name_or_label():
    assert visible_columns(policy(), "deal", ["Title", "MARGIN %", "margin", "stage"]) == ["Title", "stage"]
    job = {"id": "j", "object": "deal", "rows_done": 1, "header": ["title", "Margin %"]}
    assert redact(job, policy())["header"] == ["title"]


def test_a_big_mixed_payload_keeps_nothing_hidden():
    body = {"contact": {"object": "deal", "title": "T", "margin": "S3CR3T"},
            "timeline": [{"kind": "change", "changes": {"margin": [None, "S3CR3T"]}},
                         {"kind": "activity", "activity": {"object": "deal", "margin": "S3CR3T"}}],
            "notifications": [{"object": "deal", "recipient": "user:1", "message": "S3CR3T"}]}
    out = redact(body, policy(templates=["{{margin}}"]), obj="deal")
    assert secret_free(out) and out["contact"]["title"] == "T"


def hooked_app(policy_for_request):
    """A Flask app with the response hook, whose requests carry ``policy_for_request`` (None:
    an anonymous request) instead of one computed from the gateway's database."""
    from flask import Flask, Response, g, jsonify

    from mosaic_gateway import redaction

    app = Flask("redaction-test")
    redaction.init_app(app)

    @app.before_request
    def _caller():
        if policy_for_request is not None:
            g.mosaic_identity = object()
            g.mosaic_redaction = policy_for_request

    @app.get("/record")
    def record():
        return jsonify({"object": "deal", "title": "T", "margin": "S3CR3T"})

    @app.get("/not-json-inside")
    def broken():
        return Response("{not json", mimetype="application/json")

    @app.get("/csv")
    def csv_body():
        return Response("margin\nS3CR3T\n", mimetype="text/csv")

    return app.test_client()


def test_the_hook_redacts_json_answers_of_a_caller_with_hidden_fields():
    client = hooked_app(policy())
    resp = client.get("/record")
    assert resp.get_json() == {"object": "deal", "title": "T"}
    assert int(resp.headers["Content-Length"]) == len(resp.data)
    assert client.get("/csv").data == b"margin\nS3CR3T\n"  # CSV has its own paths (export, errors.csv)


def test_the_hook_does_not_parse_bodies_when_nothing_is_hidden():
    """A body that is not even JSON passes untouched: the hook returns before reading it."""
    for client in (hooked_app(EMPTY), hooked_app(None)):
        assert client.get("/not-json-inside").data == b"{not json"
        assert client.get("/record").get_json()["margin"] == "S3CR3T"


def test_rejected_import_rows_lose_hidden_columns_and_their_errors():
    from flask import Flask, g

    from mosaic_gateway.redaction import import_errors_filter

    page = {"header": ["Title", "Margin %"], "next": None,
            "items": [{"row": 2, "raw": {"Title": "T", "Margin %": "S3CR3T"},
                       "errors": {"margin": ["S3CR3T is not a number"], "title": ["too long"]}}]}
    with Flask("errors-test").test_request_context():
        g.mosaic_identity, g.mosaic_redaction = object(), policy()
        clean = import_errors_filter("deal")
        assert import_errors_filter("account")(page) is page  # nothing of accounts is hidden
    out = clean(page)  # also outside the request: the streamed CSV's generator calls it there
    assert out["header"] == ["Title"]
    assert out["items"] == [{"row": 2, "raw": {"Title": "T"}, "errors": {"title": ["too long"]}}]
    assert secret_free(out)
