"""CSV imports on the real PostgreSQL server: the COPY path at volume, and a process killed in
the middle of an import leaving only whole batches, which another process then completes."""
from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import func, select, text

from mosaic.audit import AuditEntry
from mosaic.context import RequestContext
from mosaic.db import Base, make_engine, system_session, tenant_session
from mosaic.db.migrate import load_models, owned_tables
from mosaic.events.outbox import OutboxEvent
from mosaic.localdev import ensure_database, checkout_database
from mosaic.metadata.schema_factory import clear_schema_cache
from mosaic.metadata.store import add_field, metadata_version, tenant_objects
from mosaic.records.store import RecordStore
from mosaic.imports import jobs as importer
from mosaic_contacts.behaviours import build_behaviours
from mosaic.imports.models import ImportJob, ImportRowError
from mosaic_contacts.models import Contact, LifecycleChange
from mosaic_contacts.objects import build_registry

pytestmark = pytest.mark.postgres

DB = checkout_database("mosaic_test_f")
PG = os.environ.get("MOSAIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
URL = f"{PG}/{DB}"
TENANT = "tenant-f"
HEADER = ["first_name", "last_name", "email", "phone", "Loyalty points", "tier", "joined"]


def _ensure_database() -> None:
    ensure_database(DB, PG)


@pytest.fixture
def engine():
    """A clean ``mosaic_contacts`` schema in the test database, with the contacts tables."""
    _ensure_database()
    load_models()
    eng = make_engine(URL, "contacts")
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS mosaic_contacts CASCADE"))
        conn.execute(text("CREATE SCHEMA mosaic_contacts"))
    Base.metadata.create_all(eng, tables=[Base.metadata.tables[t] for t in owned_tables("contacts")])
    clear_schema_cache()
    yield eng
    eng.dispose()


@pytest.fixture
def registry(engine):
    reg = build_registry()
    with tenant_session(engine, TENANT) as session:
        add_field(session, reg, "contact", {"name": "loyalty_points", "type": "integer",
                                            "label": "Loyalty points", "min_value": 0})
        add_field(session, reg, "contact", {"name": "tier", "type": "picklist", "choices": ["bronze", "gold"]})
        add_field(session, reg, "contact", {"name": "joined", "type": "date"})
        session.commit()
    return reg


def make_rows(n: int, bad_every: int = 0, dup_every: int = 0) -> list[list[str]]:
    """``n`` people; every ``bad_every``-th has a bad email, every ``dup_every``-th repeats the
    previous row's email."""
    rows = []
    for i in range(n):
        email = f"person{i}@example.com"
        if bad_every and i % bad_every == bad_every - 1:
            email = f"person{i}-at-example.com"
        elif dup_every and i % dup_every == dup_every - 1:
            email = f"person{i - 1}@example.com"
        rows.append([f"First{i}", f"Ünïcode\t{i}", email, f"+1 555 {i:07d}", str(i % 1000),
                     "gold" if i % 2 else "bronze", "2024-02-29"])
    return rows


def upload(engine, registry, rows: list[list[str]], chunk_rows: int = 4000, policy: str = "skip") -> str:
    """The gateway's part, as domain calls: start, chunks, commit. Returns the job id."""
    with tenant_session(engine, TENANT) as session:
        ctx = RequestContext(tenant_id=TENANT, user_id="importer", roles=("admin",), modules=("contacts",))
        store = RecordStore(session, tenant_objects(session, registry), ctx, module="contacts",
                            metadata_version=metadata_version(session), behaviours=build_behaviours())
        job = importer.start_import(store, "contacts", policy, "people.csv", HEADER)
        for seq, start in enumerate(range(0, len(rows), chunk_rows)):
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(rows[start:start + chunk_rows])
            importer.add_chunk(session, ctx, job["id"], seq, buf.getvalue(), len(rows[start:start + chunk_rows]))
        importer.commit_import(session, ctx, job["id"], len(rows))
        session.commit()
        return job["id"]


def counts(engine) -> dict:
    with tenant_session(engine, TENANT) as s:
        return {name: s.scalar(select(func.count()).select_from(model)) for name, model in
                (("contacts", Contact), ("audit", AuditEntry), ("outbox", OutboxEvent),
                 ("lifecycle", LifecycleChange), ("errors", ImportRowError))}


def job_of(engine, job_id) -> ImportJob:
    with system_session(engine) as s:
        return s.get(ImportJob, job_id)


def test_copy_path_imports_20k_rows_with_custom_fields(engine, registry):
    rows = make_rows(20_000, bad_every=1000, dup_every=500)
    job_id = upload(engine, registry, rows)
    status = importer.run_pending(engine, registry, build_behaviours(), module="contacts", budget=None, batch_size=5000)
    assert status == "finished"
    job = job_of(engine, job_id)
    bad = 20  # data rows 999, 1999, ... have a bad email
    dups = sum(1 for i in range(20_000) if i % 500 == 499 and i % 1000 != 999)  # repeat the row before
    assert (job.rows_done, job.failed, job.skipped, job.created) == (20_000, bad, dups, 20_000 - bad - dups)
    seen = counts(engine)
    assert seen == {"contacts": job.created, "audit": job.created, "outbox": job.created,
                    "lifecycle": job.created, "errors": bad}
    with tenant_session(engine, TENANT) as s:
        c = s.scalars(select(Contact).where(Contact.email_key == "person12345@example.com")).one()
        assert (c.first_name, c.last_name, c.phone, c.phone_key) == ("First12345", "Ünïcode\t12345",
                                                                      "+15550012345", "15550012345")
        assert c.custom == {"loyalty_points": 345, "tier": "gold", "joined": "2024-02-29"}
        assert c.name_key == "first12345 unicode 12345" and c.owner_id == "importer"
        assert c.lifecycle_stage == "subscriber" and c.lifecycle_changed_at is not None and c.version == 1
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.record_id == c.id)).one()
        assert event.type == "contact.created" and event.published_at is None and event.seq > 0
        assert event.payload["data"]["record"]["loyalty_points"] == 345
        assert event.payload["data"]["record"]["last_name"] == "Ünïcode\t12345"
        audit = s.scalars(select(AuditEntry).where(AuditEntry.record_id == c.id)).one()
        assert audit.action == "import" and audit.changes["joined"] == [None, "2024-02-29"]
        error = s.scalars(select(ImportRowError).order_by(ImportRowError.row_number)).first()
        assert error.row_number == 1001 and "email" in error.errors  # data row 999 is file row 1001
        # the filter language sees imported custom values like any others
        store = RecordStore(s, tenant_objects(s, registry), RequestContext(tenant_id=TENANT, roles=("admin",)),
                            module="contacts", behaviours=build_behaviours())
        page = store.list("contact", filter='loyalty_points = 345 and tier = "gold"', limit=100)
        assert len(page["items"]) == 20


KILLED_PROCESS = textwrap.dedent("""
    import sys
    from mosaic.db import make_engine
    from mosaic.imports import jobs as importer
    from mosaic_contacts.behaviours import build_behaviours
    from mosaic_contacts.objects import build_registry

    engine = make_engine(sys.argv[1], "contacts")
    registry = build_registry()
    importer.run_pending(engine, registry, build_behaviours(), module="contacts", worker="doomed", budget=None,
                         batch_size=int(sys.argv[2]))
""")


def test_a_killed_import_leaves_whole_batches_and_resumes(engine, registry):
    rows = make_rows(30_000, bad_every=700)
    valid = sum(1 for r in rows if "@" in r[2])
    job_id = upload(engine, registry, rows)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PROCESS, URL, "1000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while job_of(engine, job_id).rows_done < 3000:  # a few batches are in: kill it mid-way
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the import process made no progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    job = job_of(engine, job_id)
    assert job.status == "running" and job.claimed_by == "doomed" and job.rows_done < 30_000
    # Every committed batch is whole: 1000 rows each, and the counters match what is in the tables.
    assert job.rows_done % 1000 == 0
    assert job.created + job.failed + job.skipped == job.rows_done
    seen = counts(engine)
    assert seen["contacts"] == seen["audit"] == seen["outbox"] == seen["lifecycle"] == job.created
    assert seen["errors"] == job.failed
    # Another process takes the stale job over and finishes it, duplicating nothing.
    status = importer.run_pending(engine, registry, build_behaviours(), module="contacts", worker="survivor", budget=None,
                                  stale_after=0, batch_size=5000)
    assert status == "finished"
    job = job_of(engine, job_id)
    assert (job.rows_done, job.created, job.failed) == (30_000, valid, 30_000 - valid)
    seen = counts(engine)
    assert seen["contacts"] == seen["outbox"] == seen["audit"] == valid
    with tenant_session(engine, TENANT) as s:
        assert s.scalar(select(func.count(func.distinct(Contact.email_key)))) == valid
