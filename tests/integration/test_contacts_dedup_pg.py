"""Duplicate detection on PostgreSQL stays an index lookup at any table size: the one candidate
query the code sends (captured as it runs, then EXPLAINed) uses the email, phone and name-prefix
indexes, never a scan of the tenant's contacts."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db import get_engine, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate
from mosaic.db.tenancy import unscoped
from mosaic.metadata.store import tenant_objects_versioned
from mosaic.records.store import RecordStore
from mosaic_contacts import dedup
from mosaic_contacts.behaviours import build_behaviours
from mosaic_contacts.objects import build_registry
from tests.conftest import fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def engine():
    settings = load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_dedup")})
    migrate(settings, "contacts")
    yield get_engine(settings, "contacts")
    dispose_engines()


def test_candidate_query_uses_indexes_and_finds_the_right_people(engine):
    reg, ctx = build_registry(), RequestContext(tenant_id="t", user_id="u", roles=("admin",), modules=("contacts",))
    with tenant_session(engine, "t") as s:
        objects, version = tenant_objects_versioned(s, reg)
        store = RecordStore(s, objects, ctx, module="contacts", metadata_version=version, behaviours=build_behaviours())
        for i in range(300):
            store.create("contact", {"first_name": f"Person{i}", "last_name": f"Number{i}", "email": f"p{i}@x.test",
                                     "phone": f"+1 555 {i:07d}"})
        target = store.create("contact", {"first_name": "Zoe", "last_name": "Quinn", "company_name": "Acme"})
        s.commit()
        with unscoped(s) as conn:  # driver SQL is refused on a tenant connection otherwise
            conn.exec_driver_sql("ANALYZE contacts")

        probe = {"first_name": "Zoë", "last_name": "Quinn", "company_name": "ACME Inc", "email": "p7@X.test",
                 "phone": "001 555 0000042"}
        with captured_statements(engine) as statements:
            found = {d["id"]: d["reason"] for d in dedup.find_contact_duplicates(s, probe, threshold=85)}
        assert found[target["id"]] == "name_company"
        assert sorted(found.values()).count("email") == 1 and sorted(found.values()).count("phone") == 1

        # EXPLAIN the very statement the code sent, with its parameters. Seq scans are off
        # because 300 rows are cheapest to scan: the question is whether indexes *can* serve
        # every branch of the OR — a branch no index serves still shows as a Seq Scan.
        [(statement, parameters)] = [(st, p) for st, p in statements if "email_key" in st and "FROM" in st]
        with unscoped(s) as conn:  # driver SQL is refused on a tenant connection otherwise
            conn.exec_driver_sql("SET enable_seqscan = off")
            try:
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            finally:
                conn.exec_driver_sql("RESET enable_seqscan")
        assert "Seq Scan" not in plan, plan
        for index in ("ix_contacts_tenant_email_key", "ix_contacts_tenant_phone_key", "ix_contacts_tenant_name_key"):
            assert index in plan, plan

        # Without a company only the same words can match: the name part is an equality lookup
        # of their orders, each a plain parameter, served by the name index as well.
        with captured_statements(engine) as statements:
            found = dedup.find_contact_duplicates(s, {"first_name": "Zoe", "last_name": "Quinn"}, threshold=90)
        assert [(d["id"], d["reason"]) for d in found] == [(target["id"], "name_company")]
        [(statement, parameters)] = [(st, p) for st, p in statements if "name_key IN" in st]
        with unscoped(s) as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")
            try:
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            finally:
                conn.exec_driver_sql("RESET enable_seqscan")
        assert "Seq Scan" not in plan and "ix_contacts_tenant_name_key" in plan, plan


@contextmanager
def captured_statements(engine):
    """The (SQL, DBAPI parameters) of every statement ``engine`` runs meanwhile."""
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)
