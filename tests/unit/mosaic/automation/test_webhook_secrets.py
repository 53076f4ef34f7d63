"""Webhook secrets of definitions: sealed when saved, never read back, kept when a write leaves
them out or masked, replaced by a new one, opened only to sign a delivery."""
from __future__ import annotations

import json

import pytest
from automation_factories import OBJECTS
from sqlalchemy import select

from mosaic.errors import ServiceUnavailable, ValidationFailed
from mosaic.logic.definitions import list_definitions, put_definition
from mosaic.logic.models import BehaviourDefinition
from mosaic.logic.secrets import MASK, public_definition, without_secrets
from mosaic.webhooks import WebhookDelivery, run_due_deliveries, verify
from mosaic.webhooks.delivery import UNREADABLE_SECRET
from mosaic.webhooks.egress import EgressPolicy
from mosaic.webhooks.sealing import SecretBox, is_sealed

BOX = SecretBox("k" * 48)
LOCAL = EgressPolicy.parse(["127.0.0.1/32"])
SECRET = "whsec_" + "a1" * 12
HOOK = "http://127.0.0.1:9/hook"
OTHER = "http://127.0.0.1:9/other"


def rule(*actions, name="notify_erp"):
    return {"name": name, "object": "contact", "trigger": {"type": "created"}, "actions": list(actions)}


def put(session, definition, box=BOX, policy=LOCAL):
    out = put_definition(session, OBJECTS, "automation_rule", definition, box=box, policy=policy)
    session.commit()
    return out


def stored(session, name="notify_erp") -> dict:
    return session.scalars(select(BehaviourDefinition).where(BehaviourDefinition.name == name)).one().definition


def test_a_secret_is_sealed_at_rest_and_masked_on_read(session):
    returned = put(session, rule({"type": "webhook", "url": HOOK, "secret": SECRET}))
    assert returned["actions"] == [{"type": "webhook", "url": HOOK, "secret": MASK}]
    raw = stored(session)
    assert is_sealed(raw["actions"][0]["secret"]) and SECRET not in json.dumps(raw)
    assert BOX.open(raw["actions"][0]["secret"]) == SECRET
    [row] = list_definitions(session, "automation_rule")
    assert public_definition(row.definition)["actions"][0]["secret"] == MASK


def test_a_reader_who_is_not_admin_sees_neither_secret_nor_url_path(session):
    put(session, rule({"type": "webhook", "url": "http://127.0.0.1:9/services/T0/B0/token", "secret": SECRET}))
    shown = public_definition(stored(session), admin=False)
    assert shown["actions"][0] == {"type": "webhook", "url": "http://127.0.0.1:9/…", "secret": MASK}


def test_left_out_or_masked_keeps_new_replaces_null_removes(session):
    put(session, rule({"type": "webhook", "url": HOOK, "secret": SECRET}))
    sealed = stored(session)["actions"][0]["secret"]
    put(session, rule({"type": "webhook", "url": HOOK}))
    assert stored(session)["actions"][0]["secret"] == sealed
    put(session, rule({"type": "webhook", "url": HOOK, "secret": MASK}))
    assert stored(session)["actions"][0]["secret"] == sealed
    put(session, rule({"type": "webhook", "url": HOOK, "secret": "n" * 20}))
    assert BOX.open(stored(session)["actions"][0]["secret"]) == "n" * 20
    put(session, rule({"type": "webhook", "url": HOOK, "secret": None}))
    assert "secret" not in stored(session)["actions"][0]


def test_reordered_actions_keep_their_own_secrets(session):
    put(session, rule({"type": "webhook", "url": HOOK, "secret": "h" * 20},
                      {"type": "webhook", "url": OTHER, "secret": "o" * 20}))
    put(session, rule({"type": "webhook", "url": OTHER}, {"type": "emit_event", "event": "pinged"},
                      {"type": "webhook", "url": HOOK, "secret": MASK}))
    first, _, last = stored(session)["actions"]
    assert (BOX.open(first["secret"]), BOX.open(last["secret"])) == ("o" * 20, "h" * 20)


@pytest.mark.parametrize("secret, message", [
    ("short", "must be 16 to 64 characters"), ("x" * 65, "must be 16 to 64 characters"),
    (MASK, "no secret is stored for this action"), (12345, "must be the secret itself"),
    ("sealed:v1:gAAAAforged", "must be the secret itself"),
])
def test_bad_secrets_are_refused_by_path(session, secret, message):
    with pytest.raises(ValidationFailed) as info:
        put(session, rule({"type": "emit_event", "event": "x"}, {"type": "webhook", "url": HOOK, "secret": secret}))
    assert message in info.value.errors["actions[1].secret"][0]


def test_a_url_pointing_inside_is_refused_without_the_allow_list(session):
    with pytest.raises(ValidationFailed) as info:
        put(session, rule({"type": "webhook", "url": "http://169.254.169.254/latest/meta-data/"}), policy=None)
    assert "public address" in info.value.errors["actions[0].url"][0]
    with pytest.raises(ValidationFailed) as info:
        put(session, rule({"type": "webhook", "url": "http://localhost:9/h"}), policy=None)
    assert "does not resolve to a public address" in info.value.errors["actions[0].url"][0]


def test_no_key_no_secret_stored(session):
    with pytest.raises(ServiceUnavailable, match="MOSAIC_SECRET_KEY"):
        put(session, rule({"type": "webhook", "url": HOOK, "secret": SECRET}), box=None)
    put(session, rule({"type": "webhook", "url": HOOK}), box=None)  # nothing to seal: fine


def test_export_form_drops_secrets_and_says_where(session):
    put(session, rule({"type": "webhook", "url": HOOK, "secret": SECRET}, {"type": "webhook", "url": OTHER}))
    out, paths = without_secrets(public_definition(stored(session)))
    assert paths == ["actions[0].secret"] and "secret" not in json.dumps(out)


def _queue_delivery(engine, store, open_store, session):
    from test_automation_execute import run_actions

    put(session, rule({"type": "webhook", "url": HOOK, "secret": SECRET}))
    action = stored(session)["actions"][0]
    contact = store.create("contact", {"last_name": "Lee"})
    run_actions(engine, store, open_store, contact, [action])
    delivery = session.scalars(select(WebhookDelivery)).one()
    queued = (delivery.id, delivery.secret)
    session.rollback()  # SQLite's one pooled connection goes back to the runner
    return queued


def test_the_delivery_is_signed_with_the_plain_secret_which_is_never_stored(engine, store, session, open_store):
    _id, secret = _queue_delivery(engine, store, open_store, session)
    assert is_sealed(secret)  # the queue holds it sealed too
    calls = []
    assert run_due_deliveries(engine, post=lambda *a: calls.append(a) or (200, None), box=BOX, policy=LOCAL) == 1
    [(url, body, headers, _timeout)] = calls
    assert url == HOOK and verify(SECRET, body, headers["Mosaic-Signature"])


def test_a_secret_the_key_cannot_open_fails_the_attempt_unsent(engine, store, session, open_store):
    delivery_id, _secret = _queue_delivery(engine, store, open_store, session)
    calls = []
    run_due_deliveries(engine, post=lambda *a: calls.append(a) or (200, None), box=SecretBox("z" * 48))
    row = session.get(WebhookDelivery, delivery_id)
    assert calls == [] and (row.status, row.last_error) == ("pending", UNREADABLE_SECRET)
