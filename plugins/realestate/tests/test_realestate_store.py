"""The plugin inside the contacts service's record store (SQLite, the whole write pipeline, the
tenant's logic compiled from the plugin's declarations): formulas, validation, the listing
process and its guard, the positive-viewing count, new-listing notifications, the reservation
timer, the seed — and nothing of it for a tenant without the plugin."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from mosaic.automation.jobs import run_due_jobs
from mosaic.automation.notifications import requested
from mosaic.errors import NotFound, ValidationFailed
from mosaic.events.outbox import OutboxEvent
from mosaic.filters import evaluate, parse
from mosaic.plugins.seeding import SeedClient
from mosaic.processes.engine import transition
from mosaic_realestate.logic import CONTRACT_GUARD_MESSAGE
from mosaic_realestate.matching import property_filter, requirement_of
from mosaic_realestate.seed import BUYERS, PROPERTIES
from realestate_factories import make_buyer, make_property, make_viewing

PROPERTY, VIEWING = "realestate__property", "realestate__viewing"


def positive_viewings(store, property_id):
    return store.get(PROPERTY, property_id)["positive_viewings"]


def test_the_tenant_logic_compiles_every_declaration(store):
    assert store.logic.errors == {}
    assert [p.name for p in store.logic.processes(PROPERTY)] == ["realestate__listing"]
    assert [r.name for r in store.logic.validation_rules(PROPERTY)] == ["realestate__positive_price_area"]
    assert [r.name for r in store.logic.rules(PROPERTY)] == ["realestate__contract_paperwork"]


def test_create_computes_commission_and_starts_available(store):
    p = make_property(store, price=400000, commission_rate=2.5)
    assert p["status"] == "available" and p["commission"] == 10000.0 and p["owner_id"] == "u1"
    q = make_property(store, price=250000)
    assert q["commission_rate"] == 3.0 and q["commission"] == 7500.0
    updated = store.update(PROPERTY, q["id"], {"price": 300000})
    assert updated["commission"] == 9000.0
    with pytest.raises(ValidationFailed) as exc:
        store.update(PROPERTY, q["id"], {"commission": 1})
    assert "commission" in exc.value.errors


def test_validation_rule_refuses_non_positive_price_or_area(store):
    for bad in ({"price": 0}, {"price": -5}, {"area_m2": 0}):
        with pytest.raises(ValidationFailed) as exc:
            make_property(store, **bad)
        assert exc.value.errors == {"price": ["Price and area must be positive."]}
    p = make_property(store, area_m2=None)  # unknown passes, like an SQL CHECK
    with pytest.raises(ValidationFailed):
        store.update(PROPERTY, p["id"], {"area_m2": -1})


def test_status_moves_only_by_transition(store):
    with pytest.raises(ValidationFailed) as exc:
        make_property(store, status="sold")
    assert "status" in exc.value.errors
    p = make_property(store)
    with pytest.raises(ValidationFailed):
        store.update(PROPERTY, p["id"], {"status": "reserved"})


def test_contract_needs_a_positive_viewing_then_the_property_sells(store):
    p = make_property(store)
    buyer = make_buyer(store)
    assert transition(store, PROPERTY, p["id"], to="reserved")["record"]["status"] == "reserved"
    with pytest.raises(ValidationFailed) as exc:
        transition(store, PROPERTY, p["id"], to="under_contract")
    assert exc.value.detail == CONTRACT_GUARD_MESSAGE

    v = make_viewing(store, p["id"], buyer["id"])
    assert v["outcome"] == "pending" and not positive_viewings(store, p["id"])
    store.update(VIEWING, v["id"], {"outcome": "positive", "feedback": "Loved it"})
    assert positive_viewings(store, p["id"]) == 1

    moved = transition(store, PROPERTY, p["id"], transition="contract", comment="signed")
    assert moved["record"]["status"] == "under_contract"
    assert transition(store, PROPERTY, p["id"], to="sold")["record"]["status"] == "sold"
    with pytest.raises(ValidationFailed):
        transition(store, PROPERTY, p["id"], to="available")  # sold is final


def test_positive_viewings_follow_outcomes_and_moves(store):
    a, b = make_property(store, title="A"), make_property(store, title="B")
    buyer = make_buyer(store)
    v1 = make_viewing(store, a["id"], buyer["id"], outcome="positive")
    v2 = make_viewing(store, a["id"], buyer["id"], outcome="positive")
    make_viewing(store, a["id"], buyer["id"], outcome="negative")
    assert positive_viewings(store, a["id"]) == 2
    store.update(VIEWING, v1["id"], {"outcome": "neutral"})
    assert positive_viewings(store, a["id"]) == 1
    store.update(VIEWING, v2["id"], {"property_id": b["id"]})
    assert (positive_viewings(store, a["id"]), positive_viewings(store, b["id"])) == (0, 1)
    version = store.get(PROPERTY, b["id"])["version"]
    store.update(VIEWING, v2["id"], {"feedback": "second visit planned"})
    assert store.get(PROPERTY, b["id"])["version"] == version  # nothing to recount, nothing written


def test_no_viewing_of_a_sold_property(store):
    p = make_property(store)
    buyer = make_buyer(store)
    make_viewing(store, p["id"], buyer["id"], outcome="positive")
    for to in ("reserved", "under_contract", "sold"):
        transition(store, PROPERTY, p["id"], to=to)
    with pytest.raises(ValidationFailed) as exc:
        make_viewing(store, p["id"], buyer["id"])
    assert list(exc.value.errors) == ["property_id"]
    with pytest.raises(ValidationFailed) as exc:
        make_viewing(store, "no-such-property", buyer["id"])
    assert list(exc.value.errors) == ["property_id"]  # the platform's reference check, not a 404


def test_budget_bounds_are_checked(store):
    with pytest.raises(ValidationFailed) as exc:
        make_buyer(store, realestate__budget_min=500000, realestate__budget_max=400000)
    assert list(exc.value.errors) == ["realestate__budget_min"]
    c = make_buyer(store, realestate__budget_min=None)
    with pytest.raises(ValidationFailed):
        store.update("contact", c["id"], {"realestate__budget_min": 900000})
    assert store.update("contact", c["id"], {"realestate__budget_min": 100000})["realestate__budget_min"] == 100000.0


def test_property_filter_in_sql_agrees_with_memory(store):
    titles = []
    for i, (district, price, rooms) in enumerate([("riverside", 400000, 3), ("harbour", 300000, 2),
                                                  ("riverside", 460000, 4), ("lakeside", 350000, 3),
                                                  ("harbour", 420000, 1), ("riverside", 320000, None)]):
        titles.append(make_property(store, title=f"P{i}", district=district, price=price, rooms=rooms)["title"])
    reserved = make_property(store, title="reserved one")
    transition(store, PROPERTY, reserved["id"], to="reserved")
    requirement = requirement_of(make_buyer(store))
    flt = property_filter(requirement)
    found = store.list(PROPERTY, filter=flt, sort="price")["items"]
    assert [p["title"] for p in found] == ["P1", "P0"]
    parsed = parse(flt, {f.name: f for f in store.obj(PROPERTY).fields})
    everything = store.list(PROPERTY, limit=100)["items"]
    assert {p["title"] for p in everything if evaluate(parsed, p, store.now())} == {"P0", "P1"}


def _envelopes(store, kind):
    rows = store.session.scalars(select(OutboxEvent).where(OutboxEvent.type == kind).order_by(OutboxEvent.seq))
    return [row.envelope() for row in rows]


def _handle(host, store, envelope):
    host.hook("mosaic_handle_event", host.enabled(store.ctx.plugins))(store=store, event=envelope,
                                                                       service="contacts")


def test_new_listing_notifies_each_owner_of_fitting_buyers_once(open_store, host):
    with open_store("agent1", ("sales",)) as s:
        fitting = [make_buyer(s, first_name="Mia")["id"],
                   make_buyer(s, first_name="Ola", realestate__budget_min=None)["id"]]
        make_buyer(s, first_name="Too", last_name="Small", realestate__budget_min=None,
                   realestate__budget_max=100000)
        s.session.commit()
    with open_store("agent2", ("sales",)) as s:
        make_buyer(s, first_name="Jonas", last_name="Berg", realestate__districts=["riverside"],
                   realestate__budget_min=None, realestate__budget_max=None, realestate__rooms_min=None)
        make_buyer(s, first_name="Elsewhere", realestate__districts=["lakeside"])
        s.session.commit()
    with open_store("lister", ("sales",)) as s:
        make_property(s, title="Riverside loft", price=400000)
        s.session.commit()
    with open_store(None, ("system",)) as s:
        (created,) = _envelopes(s, f"{PROPERTY}.created")
        _handle(host, s, created)
        s.session.commit()
        notes = {n["recipient"]: n for n in requested(s.session)}
    assert set(notes) == {"user:agent1", "user:agent2"}
    n1 = notes["user:agent1"]
    assert (n1["object"], n1["record_id"], n1["source"]) == ("contact", min(fitting), "realestate")
    assert "Riverside loft" in n1["message"] and "400,000" in n1["message"]
    assert "Mia Novak" in n1["message"] and "Ola Novak" in n1["message"] and "Small" not in n1["message"]
    assert "Jonas Berg" in notes["user:agent2"]["message"]


def test_no_notification_for_a_listing_no_longer_available(open_store, host):
    with open_store("agent1", ("sales",)) as s:
        make_buyer(s)
        p = make_property(s)
        transition(s, PROPERTY, p["id"], to="reserved")
        s.session.commit()
    with open_store(None, ("system",)) as s:
        _handle(host, s, _envelopes(s, f"{PROPERTY}.created")[0])
        assert requested(s.session) == []


def test_deleting_a_positive_viewing_is_recounted_from_its_event(open_store, host):
    with open_store() as s:
        p = make_property(s)
        v = make_viewing(s, p["id"], make_buyer(s)["id"], outcome="positive")
        s.delete(VIEWING, v["id"])
        s.session.commit()
        assert positive_viewings(s, p["id"]) == 1  # deletes run no write hooks
    with open_store(None, ("system",)) as s:
        _handle(host, s, _envelopes(s, f"{VIEWING}.deleted")[0])
        s.session.commit()
        assert positive_viewings(s, p["id"]) == 0


def test_a_reservation_expires_after_7_days_and_tells_the_owner(open_store, engine, clock, tenant):
    with open_store() as s:
        p = make_property(s, title="Harbour house")
        transition(s, PROPERTY, p["id"], to="reserved")
        s.session.commit()

    def system_store(tenant_id):
        return open_store(None, ("system",), tenant_id=tenant_id)

    assert run_due_jobs(engine, system_store, now=clock.now + timedelta(days=6)) == 0
    clock.now += timedelta(days=7, minutes=1)
    assert run_due_jobs(engine, system_store, now=clock.now) >= 1  # the timer: moves, queues notify
    run_due_jobs(engine, system_store, now=clock.now)              # the queued notify action
    with open_store() as s:
        assert s.get(PROPERTY, p["id"])["status"] == "available"
        (note,) = requested(s.session)
    assert note["recipient"] == "user:u1"
    assert note["message"] == "Reservation of Harbour house expired after 7 days; it is available again."


def _seed_client(store):
    def call(service, method, *args, **kwargs):
        assert service == "contacts"
        if method == "create_record":
            object_name, data = args
            return {"record": store.create(object_name, data), "duplicates": []}
        return store.list(*args, **kwargs)
    return SeedClient(call, lambda object_name: "contacts")


def test_seed_creates_demo_data_once(store, host):
    client = _seed_client(store)
    host.hook("mosaic_seed_demo", host.enabled(("realestate",)))(client=client)
    props = store.list(PROPERTY, limit=100)["items"]
    assert len(props) == len(PROPERTIES) == 6 and len({p["district"] for p in props}) == 6
    buyers = store.list("contact", filter="realestate__purpose is not null", limit=100)["items"]
    assert len(buyers) == len(BUYERS) == 3
    viewings = store.list(VIEWING, limit=100)["items"]
    assert [v["outcome"] for v in viewings].count("positive") == 1
    loft = next(p for p in props if p["title"] == PROPERTIES[0]["title"])
    assert loft["positive_viewings"] == 1
    mia = next(b for b in buyers if b["first_name"] == "Mia")
    found = store.list(PROPERTY, filter=property_filter(requirement_of(mia)), sort="price")["items"]
    assert [p["title"] for p in found] == [PROPERTIES[0]["title"]]

    again = _seed_client(store)
    host.hook("mosaic_seed_demo", host.enabled(("realestate",)))(client=again)
    assert again.created == [] and len(store.list(PROPERTY, limit=100)["items"]) == 6


def test_a_tenant_without_the_plugin_has_none_of_it(open_store):
    with open_store(plugins=(), tenant_id="plain") as s:
        with pytest.raises(NotFound):
            s.obj(PROPERTY)
        assert s.obj("contact").field("realestate__budget_min") is None
        assert s.logic.processes(PROPERTY) == [] and s.logic.validation_rules(PROPERTY) == []
        c = s.create("contact", {"last_name": "Plain"})
        assert not any(k.startswith("realestate__") for k in c)
        with pytest.raises(ValidationFailed):
            s.create("contact", {"last_name": "X", "realestate__budget_min": 1})


def test_disabling_the_plugin_hides_its_contact_fields_at_once(open_store):
    with open_store() as s:
        s.create("contact", {"last_name": "With", "realestate__budget_min": 1})
        s.session.commit()
    with open_store(plugins=()) as s:
        with pytest.raises(ValidationFailed):
            s.create("contact", {"last_name": "Without", "realestate__budget_min": 1})
