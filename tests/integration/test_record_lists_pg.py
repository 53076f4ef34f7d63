"""Record lists on the real PostgreSQL: sorting by a money field's amount (a JSONB number) pages
to the end in order with NULLs last, and ``count`` is exact up to the store's limit and the
planner's estimate beyond it, saying so."""
from __future__ import annotations

import pytest

from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db import get_engine, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate
from mosaic.db.tenancy import unscoped
from mosaic.metadata.store import add_field, tenant_objects_versioned
from mosaic.records.store import RecordStore
from mosaic_contacts.behaviours import build_behaviours
from mosaic_contacts.objects import build_registry
from tests.conftest import fresh_database

pytestmark = pytest.mark.postgres

REGISTRY = build_registry()
AMOUNTS = [250.0, None, 12.5, 99.0, 250.0, 1000.0, None, 0.5, 42.0, 12.5] * 3


def make_store(session, tenant="lists") -> RecordStore:
    ctx = RequestContext(tenant_id=tenant, user_id="u1", roles=("admin",), modules=("contacts",))
    objects, version = tenant_objects_versioned(session, REGISTRY)
    return RecordStore(session, objects, ctx, module="contacts", metadata_version=version,
                       behaviours=build_behaviours())


@pytest.fixture(scope="module")
def engine():
    settings = load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_lists")})
    migrate(settings, "contacts")
    eng = get_engine(settings, "contacts")
    with tenant_session(eng, "lists") as s:
        add_field(s, REGISTRY, "contact", {"name": "budget", "type": "money", "currency": "EUR"})
        s.commit()
    with tenant_session(eng, "lists") as s:
        store = make_store(s)
        for i, amount in enumerate(AMOUNTS):
            store.create("contact", {"last_name": f"L{i}", **({"budget": {"amount": amount}} if amount else {})})
        s.commit()
        with unscoped(s) as conn:  # driver SQL is refused on a tenant connection otherwise
            conn.exec_driver_sql("ANALYZE contacts")
    with tenant_session(eng, "other") as s:
        make_store(s, "other").create("contact", {"last_name": "Elsewhere"})
        s.commit()
    yield eng
    dispose_engines()


@pytest.mark.parametrize("descending", [False, True])
def test_sorting_by_the_amount_pages_in_order_with_nulls_last(engine, descending):
    with tenant_session(engine, "lists") as s:
        store, items, cursor = make_store(s), [], None
        while True:
            page = store.list("contact", sort=("-" if descending else "") + "budget.amount", limit=4, cursor=cursor)
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
    amounts = [(r["budget"] or {}).get("amount") for r in items]
    present = sorted((a for a in AMOUNTS if a is not None), reverse=descending)
    assert amounts == present + [None] * AMOUNTS.count(None)
    assert len({r["id"] for r in items}) == len(AMOUNTS)


def test_count_is_exact_up_to_the_limit_then_an_estimate(engine):
    with tenant_session(engine, "lists") as s:
        store = make_store(s)
        assert store.list("contact", limit=1, count=True)["total"] == len(AMOUNTS)
        assert store.list("contact", limit=1, count=True)["total_is_estimate"] is False
        assert store.count(store.obj("contact"), "budget.amount > 100") == (9, False)
        store.count_exact_limit = 10
        total, estimated = store.count(store.obj("contact"), None)
        assert estimated is True and total >= 11  # at least what was counted before giving up
        assert store.count(store.obj("contact"), "budget.amount = 1000") == (3, False)
