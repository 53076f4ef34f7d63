"""Rules in the write pipeline: triggers, conditions, inline set_field, queued jobs, the recursion
guard, stage_entered and scheduled rules with a controllable ``now``."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from mosaic.automation import AutomationJob, fire_stage_entered, run_due_jobs, run_scheduled
from mosaic.automation.notifications import requested
from mosaic.errors import ValidationFailed
from automation_factories import NOW, emitted


def notify_rule(name, trigger, condition=None, **extra):
    """A rule whose actions are queued as a job: a webhook first (it calls out, so it never runs
    inside the write), then a notification."""
    definition = {"name": name, "trigger": trigger,
                  "actions": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"},
                              {"type": "notify", "to": "owner", "message": f"{name}: {{{{last_name}}}}"}]}
    if condition:
        definition["condition"] = condition
    definition.update(extra)
    return definition


def jobs(session):
    return list(session.scalars(select(AutomationJob).order_by(AutomationJob.created_at, AutomationJob.key)))


def messages(session):
    return sorted(n["message"] for n in requested(session))


def test_created_rule_queues_one_job_per_rule_and_event(store, session, logic):
    logic.add(notify_rule("welcome", {"type": "created"}))
    c = store.create("contact", {"last_name": "Lee"})
    store.update("contact", c["id"], {"title": "CEO"})
    queued = jobs(session)
    assert len(queued) == 1
    job = queued[0]
    created_event = emitted(session)[0]
    assert created_event["type"] == "contact.created"
    assert job.key == f"rule:welcome:{created_event['id']}" and job.record_id == c["id"]
    assert job.payload["context"] == {"rule": "welcome", "event_id": created_event["id"]}
    assert [a["type"] for a in job.payload["actions"]] == ["webhook", "notify"]


def test_local_actions_run_inside_the_write_and_the_rest_is_queued(store, session, logic):
    logic.add({"name": "local", "trigger": {"type": "created"},
               "actions": [{"type": "notify", "to": "owner", "message": "hi {{last_name}}"},
                           {"type": "emit_event", "event": "greeted"},
                           {"type": "webhook", "url": "http://127.0.0.1:9/hook"},
                           {"type": "notify", "to": "owner", "message": "after the webhook"}]})
    store.create("contact", {"last_name": "Lee"})
    # the leading local actions ran in the write's transaction, before any job ran
    assert [n["message"] for n in requested(session)] == ["hi Lee"]
    assert "contact.greeted" in [e["type"] for e in emitted(session)]
    queued = jobs(session)
    assert len(queued) == 1 and [a["type"] for a in queued[0].payload["actions"]] == ["webhook", "notify"]


def test_updated_and_field_changed_triggers(store, session, logic):
    logic.add(notify_rule("any_update", {"type": "updated"}))
    logic.add(notify_rule("stage_moved", {"type": "field_changed", "fields": ["lifecycle_stage"]}))
    c = store.create("contact", {"last_name": "Lee", "lifecycle_stage": "lead"})
    assert jobs(session) == []  # field_changed is for updates; new records use "created"
    store.update("contact", c["id"], {"title": "CEO"})
    assert [j.key.split(":")[1] for j in jobs(session)] == ["any_update"]
    store.update("contact", c["id"], {"lifecycle_stage": "customer"})
    assert sorted(j.key.split(":")[1] for j in jobs(session)) == ["any_update", "any_update", "stage_moved"]
    store.update("contact", c["id"], {"lifecycle_stage": "customer"})  # no change, no write
    assert len(jobs(session)) == 3


def test_the_condition_sees_the_record_as_it_will_be_saved(store, session, logic, clock):
    logic.add(notify_rule("hot", {"type": "updated"}, 'lifecycle_stage = "lead" and email is not null'))
    c = store.create("contact", {"last_name": "Lee", "email": "lee@x.test"})
    store.update("contact", c["id"], {"title": "x"})
    assert jobs(session) == []
    store.update("contact", c["id"], {"lifecycle_stage": "lead"})
    assert len(jobs(session)) == 1
    logic.add(notify_rule("recent", {"type": "updated"}, "birthday within last 3 days"))
    store.update("contact", c["id"], {"birthday": "2024-05-04"})  # relative to the store's clock
    assert sorted(j.key.split(":")[1] for j in jobs(session)) == ["hot", "hot", "recent"]


def test_set_field_applies_inline_in_order_without_a_job(store, session, logic):
    logic.add({"name": "second", "order": 20, "trigger": {"type": "created"}, "condition": 'source = "web"',
               "actions": [{"type": "set_field", "field": "lifecycle_stage", "value": "lead"}]})
    logic.add({"name": "first", "order": 10, "trigger": {"type": "created"}, "condition": "email is not null",
               "actions": [{"type": "set_field", "field": "source", "value": "web"}]})
    c = store.create("contact", {"last_name": "Lee", "email": "l@x.test"})
    assert (c["source"], c["lifecycle_stage"], c["version"]) == ("web", "lead", 1)
    assert jobs(session) == []
    assert emitted(session)[0]["data"]["record"]["source"] == "web"  # part of the one write and its event
    plain = store.create("contact", {"last_name": "NoEmail"})
    assert (plain["source"], plain["lifecycle_stage"]) == (None, "subscriber")


def test_inactive_rules_do_nothing(store, session, logic):
    logic.add(notify_rule("off", {"type": "created"}, active=False))
    store.create("contact", {"last_name": "Lee"})
    assert jobs(session) == []


def test_a_set_field_the_field_refuses_fails_the_write_clearly(store, logic):
    rule = logic.add({"name": "stale", "trigger": {"type": "created"},
                      "actions": [{"type": "set_field", "field": "source", "value": "web"}]})
    rule.actions[0]["value"] = "television"  # the picklist changed after the rule was saved
    with pytest.raises(ValidationFailed) as exc:
        store.create("contact", {"last_name": "Lee"})
    assert "source" in exc.value.errors


def test_set_field_with_a_formula(store, logic):
    pytest.importorskip("mosaic.formulas")
    logic.add({"name": "greet", "trigger": {"type": "created"},
               "actions": [{"type": "set_field", "field": "title", "formula": "UPPER(last_name)"}]})
    assert store.create("contact", {"last_name": "Lee"})["title"] == "LEE"


def test_recursion_guard_automation_writes_trigger_nothing(engine, store, session, logic, open_store):
    logic.add({"name": "on_update", "trigger": {"type": "updated"},
               "actions": [{"type": "set_field", "field": "title", "value": "touched"},
                           {"type": "assign_owner", "strategy": "round_robin", "users": ["u1", "u2"]}]})
    c = store.create("contact", {"last_name": "Lee"})
    store.update("contact", c["id"], {"first_name": "Ann"})
    session.commit()
    assert len(jobs(session)) == 1
    session.rollback()
    # the job's owner update is an automation write: it queues no further job
    assert run_due_jobs(engine, open_store, now=NOW) == 1
    assert len(jobs(session)) == 1
    assert store.get("contact", c["id"])["owner_id"] == "u1"
    # an explicit automation write does not trigger rules either
    store.update_values(store.obj("contact"), store.load_row(store.obj("contact"), c["id"]),
                        {"first_name": "Bo"}, action="automation")
    assert len(jobs(session)) == 1 and store.get("contact", c["id"])["title"] == "touched"


def test_rules_that_trigger_each_other_through_moves_are_cut_after_max_depth(engine, store, session, logic,
                                                                           open_store, monkeypatch):
    import sys
    import types

    from mosaic.automation.jobs import MAX_DEPTH

    def transition_system(store, obj, row, to, comment):  # a move is a "transition" write, not automation
        store.update_values(obj, row, {"title": f"{to}{row.version}"}, action="transition")

    fake = types.ModuleType("mosaic.processes.engine")
    fake.transition_system = transition_system
    monkeypatch.setitem(sys.modules, "mosaic.processes.engine", fake)
    logic.add({"name": "ping", "trigger": {"type": "field_changed", "fields": ["title"]},
               "actions": [{"type": "transition", "to": "pong"}]})
    c = store.create("contact", {"last_name": "Lee"})
    store.update("contact", c["id"], {"title": "start"})
    session.commit()
    ran = 0
    while (n := run_due_jobs(engine, open_store, now=NOW)):
        ran += n
    assert ran == MAX_DEPTH  # each move queued the next, until the chain was cut
    assert [j.payload["depth"] for j in jobs(session)] == list(range(1, MAX_DEPTH + 1))
    assert {j.status for j in jobs(session)} == {"done"}


def test_no_rules_is_cheap_and_inactive(store, logic):
    step = store.steps[0]
    assert step.active(store, store.obj("contact")) is False
    logic.add(notify_rule("x", {"type": "created"}))
    assert step.active(store, store.obj("contact")) is True
    assert step.active(store, store.obj("account")) is False


def test_stage_entered_rules_queue_all_their_actions(engine, store, session, logic, open_store):
    logic.add({"name": "reserved", "trigger": {"type": "stage_entered", "process": "nurture", "stage": "hot"},
               "condition": "email is not null",
               "actions": [{"type": "set_field", "field": "title", "value": "Hot"},
                           {"type": "notify", "to": "role:manager", "message": "{{last_name}} is hot"}]})
    logic.add(notify_rule("other_stage", {"type": "stage_entered", "process": "nurture", "stage": "cold"}))
    obj = store.obj("contact")
    c = store.create("contact", {"last_name": "Lee", "email": "l@x.test"})
    no_mail = store.create("contact", {"last_name": "Kim"})
    row = store.load_row(obj, c["id"])
    event = {"id": "evt-1"}
    assert fire_stage_entered(store, obj, row, "nurture", "hot", event) == 1
    assert fire_stage_entered(store, obj, row, "nurture", "hot", event) == 0  # same event: once
    assert fire_stage_entered(store, obj, store.load_row(obj, no_mail["id"]), "nurture", "hot", {"id": "e2"}) == 0
    assert fire_stage_entered(store, obj, row, "other", "hot", {"id": "e3"}) == 0
    session.commit()
    assert [j.key for j in jobs(session)] == ["rule:reserved:evt-1"]
    session.rollback()
    assert run_due_jobs(engine, open_store, now=NOW) == 1
    assert store.get("contact", c["id"])["title"] == "Hot"  # set_field ran in the job
    assert messages(session) == ["Lee is hot"]


# -- scheduled rules -----------------------------------------------------------------------------

def _rules(logic, tenant, since=None):
    return {tenant: [(r, since) for r in logic.rules("contact")]}


def test_scheduled_rule_fires_once_per_record_and_date(engine, store, session, logic, open_store, tenant):
    logic.add(notify_rule("birthday", {"type": "scheduled", "field": "birthday", "offset": {"days": -3}},
                          condition='lifecycle_stage != "churned"'))
    logic.add(notify_rule("on_create", {"type": "created"}))  # not scheduled: ignored by the timer
    soon = store.create("contact", {"last_name": "Soon", "birthday": "2024-05-08"})    # due 05-05 00:00
    store.create("contact", {"last_name": "Later", "birthday": "2024-05-20"})          # due 05-17
    store.create("contact", {"last_name": "Old", "birthday": "2024-04-20"})            # due 04-17: > 7 days ago
    store.create("contact", {"last_name": "Churned", "birthday": "2024-05-08", "lifecycle_stage": "churned"})
    store.create("contact", {"last_name": "NoDate"})
    session.commit()
    before = len(jobs(session))
    session.rollback()

    assert run_scheduled(engine, open_store, _rules(logic, tenant), now=NOW) == 1
    assert run_scheduled(engine, open_store, _rules(logic, tenant), now=NOW + timedelta(hours=1)) == 0
    new = jobs(session)[before:]
    assert [j.key for j in new] == [f"rule:birthday:{soon['id']}:2024-05-08"]
    assert new[0].run_at == NOW and new[0].payload["context"]["due_at"].startswith("2024-05-05T00:00")
    session.rollback()

    assert run_scheduled(engine, open_store, _rules(logic, tenant), now=datetime(2024, 5, 17, tzinfo=timezone.utc)) == 1
    # moving the date makes it due again, once
    store.update("contact", soon["id"], {"birthday": "2024-05-21"})
    session.commit()
    later = datetime(2024, 5, 18, 1, tzinfo=timezone.utc)
    assert run_scheduled(engine, open_store, _rules(logic, tenant), now=later) == 1
    assert run_scheduled(engine, open_store, _rules(logic, tenant), now=later) == 0
    assert run_due_jobs(engine, open_store, now=later) == 3 + 5  # and the five "created" ones
    assert messages(session) == ["birthday: Later", "birthday: Soon", "birthday: Soon", "on_create: Churned",
                                 "on_create: Later", "on_create: NoDate", "on_create: Old", "on_create: Soon"]


def test_scheduled_rule_looks_back_only_since_it_became_active(engine, store, session, logic, open_store, tenant):
    logic.add(notify_rule("renewal", {"type": "scheduled", "field": "lifecycle_changed_at", "offset": {"hours": 2}}))
    store.create("contact", {"last_name": "Changed"})  # lifecycle_changed_at is set by the contacts behaviour
    session.commit()
    session.rollback()
    # lifecycle_changed_at is read-only and without the contacts behaviours stays empty: set it directly
    row = store.load_row(store.obj("contact"), store.list("contact")["items"][0]["id"])
    row.lifecycle_changed_at = NOW - timedelta(hours=3)  # + 2 h = one hour ago
    session.commit()
    assert run_scheduled(engine, open_store, _rules(logic, tenant, since=NOW - timedelta(minutes=30)), now=NOW) == 0
    assert run_scheduled(engine, open_store, _rules(logic, tenant, since=NOW - timedelta(hours=2)), now=NOW) == 1


def test_scheduled_business_days_offset(engine, store, session, logic, open_store, tenant):
    logic.add(notify_rule("nudge", {"type": "scheduled", "field": "birthday", "offset": {"business_days": 2}}))
    # Thursday 2 May + 2 business days = Monday 6 May 00:00 (due); Friday 3 May -> Tuesday 7 May (not yet)
    store.create("contact", {"last_name": "Thu", "birthday": "2024-05-02"})
    store.create("contact", {"last_name": "Fri", "birthday": "2024-05-03"})
    session.commit()
    assert run_scheduled(engine, open_store, lambda: _rules(logic, tenant), now=NOW) == 1
    assert run_due_jobs(engine, open_store, now=NOW) == 1
    assert messages(session) == ["nudge: Thu"]


def test_one_tenants_failure_does_not_stop_the_others(engine, store, session, logic, open_store, tenant):
    logic.add(notify_rule("birthday", {"type": "scheduled", "field": "birthday", "offset": {"days": 0}}))
    store.create("contact", {"last_name": "A", "birthday": date(2024, 5, 6).isoformat()})
    session.commit()
    rules = {"auto-broken": [(logic.rules("contact")[0], None)], **_rules(logic, tenant)}

    def flaky_open(tenant_id):
        if tenant_id == "auto-broken":
            raise RuntimeError("cannot open")
        return open_store(tenant_id)

    assert run_scheduled(engine, flaky_open, rules, now=NOW) == 1
