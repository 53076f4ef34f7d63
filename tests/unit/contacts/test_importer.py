"""CSV import jobs and CSV export on SQLite, without a broker: upload in chunks, processing in
batches, dedup policies, per-row errors, resume after a crash between batches, export."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from mosaic.audit import AuditEntry
from mosaic.context import RequestContext
from mosaic.db import Base, make_engine, system_session, tenant_session
from mosaic.db.migrate import load_models, owned_tables
from mosaic.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mosaic.events.outbox import OutboxEvent
from mosaic.metadata.schema_factory import clear_schema_cache
from mosaic.metadata.store import add_field, metadata_version, tenant_objects
from mosaic.records.store import RecordStore
from mosaic.imports import export as exporter, jobs as importer
from mosaic_contacts.behaviours import build_behaviours
from mosaic.imports.models import ImportChunk, ImportJob, ImportRowError
from mosaic_contacts.models import Activity, Contact, LifecycleChange
from mosaic_contacts.objects import build_registry

TENANT = "t1"
HEADER = ["First name", "last_name", "Email", "phone", "vip_level", "segment"]


@pytest.fixture
def registry():
    return build_registry()


@pytest.fixture
def engine(tmp_path):
    load_models()
    eng = make_engine(f"sqlite:///{tmp_path / 'contacts.db'}", "contacts")
    tables = [Base.metadata.tables[t] for t in owned_tables("contacts")]
    Base.metadata.create_all(eng, tables=tables)
    clear_schema_cache()
    yield eng
    eng.dispose()


@pytest.fixture
def make_store(engine, registry):
    """``make_store(user="u1", roles=("admin",), tenant=TENANT)``: a record store on a new session."""
    sessions = []

    def factory(user: str = "u1", roles=("admin",), tenant: str = TENANT) -> RecordStore:
        session = tenant_session(engine, tenant)
        sessions.append(session)
        ctx = RequestContext(tenant_id=tenant, user_id=user, roles=tuple(roles), modules=("contacts",))
        store = RecordStore(session, tenant_objects(session, registry), ctx, module="contacts",
                            metadata_version=metadata_version(session), behaviours=build_behaviours())
        session.commit()  # SQLite has one connection: never hold it between steps of a test
        return store
    yield factory
    for s in sessions:
        s.close()


@pytest.fixture
def custom_fields(engine, registry):
    """The tenant's custom fields on contacts: an integer and a picklist."""
    with tenant_session(engine, TENANT) as session:
        add_field(session, registry, "contact", {"name": "vip_level", "type": "integer", "label": "VIP level",
                                                  "min_value": 0, "max_value": 5})
        add_field(session, registry, "contact", {"name": "segment", "type": "picklist",
                                                  "choices": ["smb", "enterprise"], "default": "smb"})
        session.commit()


def csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


@pytest.fixture
def upload(make_store):
    """``upload(rows, header=HEADER, policy="skip", chunk_rows=3, **start_kw)`` -> job dict
    (queued): what the gateway does over RPC, as direct domain calls."""
    def factory(rows, header=HEADER, policy="skip", chunk_rows=3, store=None, object_name="contacts", **kw):
        store = store or make_store()
        job = importer.start_import(store, object_name, policy, "people.csv", header, **kw)
        for seq, start in enumerate(range(0, len(rows), chunk_rows)):
            piece = rows[start:start + chunk_rows]
            importer.add_chunk(store.session, store.ctx, job["id"], seq, csv_text(piece), len(piece))
        job = importer.commit_import(store.session, store.ctx, job["id"], len(rows))
        store.session.commit()
        return job
    return factory


@pytest.fixture
def run(engine, registry):
    """``run(batch_size=2, **kw)``: timer ticks until no job is left to work on; last status."""
    def factory(batch_size: int = 2, **kw):
        status = None
        for _ in range(100):
            got = importer.run_pending(engine, registry, build_behaviours(), module="contacts", batch_size=batch_size, **kw)
            if got is None:
                return status
            status = got
        raise AssertionError("import never finished")
    return factory


def job_row(engine, job_id) -> ImportJob:
    with system_session(engine) as s:
        return s.get(ImportJob, job_id)


def contacts(engine) -> list[Contact]:
    with tenant_session(engine, TENANT) as s:
        return list(s.scalars(select(Contact).order_by(Contact.email_key)))


def count(engine, model) -> int:
    with tenant_session(engine, TENANT) as s:
        return s.scalar(select(func.count()).select_from(model))


GOOD = [
    ["Ann", "Lee", "Ann@Example.com", "+86 138 0013 8000", "3", ""],
    ["Bob", "Ng", "bob@example.com", "", "", ""],
    ["", "", "carol@example.com", "", "0", "enterprise"],
]


def test_good_rows_land_with_keys_audit_events_and_lifecycle(engine, upload, run, custom_fields, make_store):
    store = make_store()
    job = upload(GOOD, chunk_rows=2)
    assert job["status"] == "queued" and job["total_rows"] == 3
    assert run() == "finished"
    done = job_row(engine, job["id"])
    assert (done.status, done.rows_done, done.created, done.failed, done.skipped) == ("finished", 3, 3, 0, 0)
    people = contacts(engine)
    ann = next(c for c in people if c.first_name == "Ann")
    assert ann.email == "Ann@example.com" and ann.email_key == "ann@example.com"
    assert ann.phone == "+8613800138000" and ann.phone_key == "8613800138000" and ann.name_key == "ann lee"
    assert ann.custom == {"vip_level": 3, "segment": "smb"}  # default applied to the empty column
    assert ann.owner_id == "u1" and ann.lifecycle_stage == "subscriber" and ann.email_consent is False
    assert ann.version == 1
    record = store.get("contact", ann.id)
    store.session.commit()
    assert record["vip_level"] == 3 and record["segment"] == "smb"
    with tenant_session(engine, TENANT) as s:
        events = list(s.scalars(select(OutboxEvent).order_by(OutboxEvent.seq)))
        audits = list(s.scalars(select(AuditEntry)))
        stages = list(s.scalars(select(LifecycleChange)))
        assert not list(s.scalars(select(ImportChunk)))  # chunks go when the job is done
    assert [e.type for e in events] == ["contact.created"] * 3
    ann_event = next(e for e in events if e.record_id == ann.id)
    assert ann_event.payload["data"]["record"]["email"] == "Ann@example.com"
    assert ann_event.payload["data"]["import_job"] == job["id"] and ann_event.payload["actor"] == "user:u1"
    assert {a.action for a in audits} == {"import"} and len(audits) == 3
    ann_audit = next(a for a in audits if a.record_id == ann.id)
    assert ann_audit.changes["vip_level"] == [None, 3] and "version" not in ann_audit.changes
    assert sorted((lc.to_stage, lc.contact_id == ann.id) for lc in stages)[-1] == ("subscriber", True)
    assert len(stages) == 3


def test_bad_rows_are_reported_and_good_rows_still_land(engine, upload, run, custom_fields, make_store):
    rows = [
        ["Ann", "Lee", "ann@example.com", "", "3", ""],
        ["Bad", "Email", "not-an-email", "", "9", ""],    # two bad cells
        ["", "", "", "", "2", ""],                          # nobody: no name, email or phone
        ["Dan", "Wu", "dan@example.com", "12", "x", "", "extra"],
    ]
    job = upload(rows, header=["first_name", "last_name", "email", "phone", "vip_level", ""])
    assert run() == "finished"
    done = job_row(engine, job["id"])
    assert (done.rows_done, done.created, done.failed) == (4, 1, 3)
    assert [c.email for c in contacts(engine)] == ["ann@example.com"]
    store = make_store()
    page = importer.job_errors(store.session, store.ctx, job["id"])
    store.session.commit()
    by_row = {e["row"]: e for e in page["items"]}
    assert sorted(by_row) == [3, 4, 5]  # the header is row 1
    assert set(by_row[3]["errors"]) == {"email", "vip_level"}
    assert by_row[3]["raw"]["email"] == "not-an-email"
    assert "last_name" in by_row[4]["errors"]
    assert set(by_row[5]["errors"]) == {"_row", "phone", "vip_level"}
    assert by_row[5]["raw"]["_extra"] == ["extra"]


def test_dedup_skip_policy_skips_existing_and_in_file_duplicates(engine, upload, run, make_store):
    store = make_store()
    store.create("contact", {"first_name": "Old", "email": "ann@example.com"})
    store.session.commit()
    rows = [["Ann", "Lee", "ANN@example.com", ""], ["Eve", "Ko", "eve@example.com", "+1 555 0100 22"],
            ["Eve2", "Ko", "", "001 555 0100 22"], ["Zed", "A", "zed@example.com", ""]]
    job = upload(rows, header=["first_name", "last_name", "email", "phone"], chunk_rows=4)
    assert run(batch_size=10) == "finished"
    done = job_row(engine, job["id"])
    assert (done.created, done.skipped, done.updated, done.failed) == (2, 2, 0, 0)
    names = sorted(c.first_name for c in contacts(engine))
    assert names == ["Eve", "Old", "Zed"]


def test_dedup_update_policy_updates_through_the_record_engine(engine, upload, run, make_store):
    store = make_store()
    old = store.create("contact", {"first_name": "Old", "last_name": "Name", "email": "ann@example.com",
                                   "title": "CTO"})
    store.session.commit()
    rows = [["Ann", "", "ann@example.com", ""],                     # updates Old, keeps last name/title
            ["Eve", "Ko", "eve@example.com", ""],
            ["", "Kovacs", "eve@example.com", "+1 555 0100 22"]]   # same file: folded into Eve
    job = upload(rows, header=["first_name", "last_name", "email", "phone"], policy="update", chunk_rows=5)
    assert run(batch_size=10) == "finished"
    done = job_row(engine, job["id"])
    assert (done.created, done.updated, done.skipped) == (1, 2, 0)
    fresh = make_store()
    ann = fresh.get("contact", old["id"])
    fresh.session.commit()
    assert (ann["first_name"], ann["last_name"], ann["title"], ann["version"]) == ("Ann", "Name", "CTO", 2)
    eve = next(c for c in contacts(engine) if c.email == "eve@example.com")
    assert (eve.first_name, eve.last_name, eve.phone_key) == ("Eve", "Kovacs", "15550100" + "22")
    with tenant_session(engine, TENANT) as s:
        types = sorted(e.type for e in s.scalars(select(OutboxEvent)))
        actions = sorted(a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.record_id == old["id"])))
    assert types == ["contact.created", "contact.created", "contact.updated"]
    assert actions == ["create", "import"]


def test_update_policy_matches_by_id_and_reports_unknown_ids(engine, upload, run, make_store):
    store = make_store()
    old = store.create("contact", {"first_name": "Old", "email": "old@example.com"})
    store.session.commit()
    rows = [[old["id"], "New"], ["0190-no-such-id", "Ghost"]]
    job = upload(rows, header=["ID", "first_name"], policy="update")
    assert run() == "finished"
    done = job_row(engine, job["id"])
    assert (done.updated, done.failed, done.created) == (1, 1, 0)
    fresh = make_store()
    assert fresh.get("contact", old["id"])["first_name"] == "New"
    fresh.session.commit()


def test_create_policy_inserts_duplicates_anyway(engine, upload, run, make_store):
    store = make_store()
    store.create("contact", {"first_name": "Old", "email": "ann@example.com"})
    store.session.commit()
    rows = [["Ann", "ann@example.com"], ["Ann again", "ann@example.com"]]
    job = upload(rows, header=["first_name", "email"], policy="create")
    assert run() == "finished"
    assert job_row(engine, job["id"]).created == 2
    assert count(engine, Contact) == 3


def test_header_errors_name_each_bad_column(make_store, custom_fields):
    store = make_store()
    with pytest.raises(ValidationFailed) as err:
        importer.start_import(store, "contacts", "skip", None, ["email", "Shoe size", "version", "EMAIL"])
    problems = err.value.errors["header"]
    assert any("Shoe size" in p for p in problems)
    assert any("read-only" in p and "version" in p for p in problems)
    assert any("both set 'email'" in p for p in problems)
    with pytest.raises(ValidationFailed):
        importer.start_import(store, "contacts", "skip", None, [])
    with pytest.raises(ValidationFailed):
        importer.start_import(store, "contacts", "sometimes", None, ["email"])
    with pytest.raises(Forbidden):
        importer.start_import(store, "contacts", "skip", None, ["email", "vip level"], forbidden=["vip_level"])
    store.session.rollback()
    viewer = make_store(roles=("readonly",))
    with pytest.raises(Forbidden):  # a role that may not create contacts may not import them
        importer.start_import(viewer, "contacts", "skip", None, ["email"])
    viewer.session.rollback()
    job = importer.start_import(store, "contacts", "skip", None, ["E-MAIL".replace("-", ""), "VIP Level"])
    assert job["status"] == "uploading"


def test_upload_rules_chunks_in_order_and_only_by_the_uploader(make_store, upload):
    store = make_store()
    job = importer.start_import(store, "contacts", "skip", None, ["email"])
    importer.add_chunk(store.session, store.ctx, job["id"], 0, "a@example.com\n", 1)
    with pytest.raises(Conflict):
        importer.add_chunk(store.session, store.ctx, job["id"], 0, "b@example.com\n", 1)
    importer.add_chunk(store.session, store.ctx, job["id"], 2, "c@example.com\n", 1)
    with pytest.raises(Conflict):  # chunk 1 never came
        importer.commit_import(store.session, store.ctx, job["id"], 2)
    store.session.commit()
    other = make_store(user="u2", roles=("sales",))
    with pytest.raises(NotFound):
        importer.get_job(other.session, other.ctx, job["id"])
    assert importer.list_jobs(other.session, other.ctx) == []
    other.session.commit()
    assert [j["id"] for j in importer.list_jobs(store.session, store.ctx)] == [job["id"]]
    aborted = importer.abort_import(store.session, store.ctx, job["id"], "client went away")
    assert (aborted["status"], aborted["error"]) == ("failed", "client went away")


def test_resume_after_a_crash_between_batches_duplicates_nothing(engine, registry, upload, run, monkeypatch):
    rows = [[f"P{i}", f"p{i}@example.com"] for i in range(10)]
    rows[4][1] = "broken"
    job = upload(rows, header=["first_name", "email"], chunk_rows=3)
    calls = {"n": 0}
    real = importer._run_batch

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("process killed")  # not an Exception: nothing marks the job failed
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "_run_batch", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        importer.run_pending(engine, registry, build_behaviours(), module="contacts", batch_size=2, worker="w1")
    half = job_row(engine, job["id"])
    assert (half.status, half.rows_done, half.created, half.failed) == ("running", 4, 4, 0)
    assert count(engine, Contact) == 4 and count(engine, OutboxEvent) == 4 and count(engine, AuditEntry) == 4
    monkeypatch.setattr(importer, "_run_batch", real)
    # a fresh heartbeat is not taken over; a stale one is (another process resumes)
    assert importer.run_pending(engine, registry, build_behaviours(), module="contacts", worker="w2") is None
    assert run(worker="w2", stale_after=0) == "finished"
    done = job_row(engine, job["id"])
    assert (done.rows_done, done.created, done.failed, done.total_rows) == (10, 9, 1, 10)
    assert count(engine, Contact) == 9 and count(engine, OutboxEvent) == 9 and count(engine, AuditEntry) == 9
    with tenant_session(engine, TENANT) as s:
        assert [e.row_number for e in s.scalars(select(ImportRowError))] == [6]


def test_a_taken_over_job_is_not_written_by_its_old_worker(engine, registry, upload):
    job = upload([["a@example.com"], ["b@example.com"]], header=["email"])
    assert importer.claim_job(engine, "w1") == (job["id"], TENANT)
    assert importer.claim_job(engine, "w2", stale_after=0) == (job["id"], TENANT)
    status = importer.process_job(engine, registry, build_behaviours(), job["id"], TENANT, module="contacts", worker="w1")
    assert status == "running" and count(engine, Contact) == 0
    assert importer.process_job(engine, registry, build_behaviours(), job["id"], TENANT, module="contacts", worker="w2") == "finished"
    assert count(engine, Contact) == 2


def test_export_with_a_filter_formats_cells_for_reimport(make_store, custom_fields):
    store = make_store()
    store.create("contact", {"first_name": "Ann", "email": "ann@example.com", "vip_level": 3,
                             "tags": [], "email_consent": True, "birthday": "1990-05-01"})
    store.create("contact", {"first_name": "Bob", "email": "bob@example.com", "vip_level": 1})
    store.session.commit()
    page = exporter.export_page(store, "contacts", filter="vip_level >= 2",
                                fields=["first_name", "email", "vip_level", "email_consent", "birthday"])
    assert page["columns"] == ["first_name", "email", "vip_level", "email_consent", "birthday"]
    assert page["rows"] == [["Ann", "ann@example.com", "3", "true", "1990-05-01"]]
    assert page["next_cursor"] is None
    first = exporter.export_page(store, "contacts", sort="first_name", fields=["first_name"], limit=1)
    assert first["rows"] == [["Ann"]] and first["next_cursor"]
    second = exporter.export_page(store, "contacts", sort="first_name", fields=["first_name"], limit=1,
                                  cursor=first["next_cursor"])
    assert second["rows"] == [["Bob"]] and second["next_cursor"] is None
    everything = exporter.export_page(store, "contacts")
    assert everything["columns"][0] == "id" and len(everything["rows"]) == 2
    with pytest.raises(ValidationFailed):
        exporter.export_page(store, "contacts", fields=["shoe_size"])


def test_export_round_trips_through_import(engine, make_store, upload, run, custom_fields):
    store = make_store()
    store.create("contact", {"first_name": "Ann", "email": "ann@example.com", "vip_level": 3,
                             "email_consent": True, "birthday": "1990-05-01", "segment": "enterprise"})
    store.session.commit()
    fields = ["first_name", "email", "vip_level", "email_consent", "birthday", "segment"]
    page = exporter.export_page(store, "contacts", fields=fields)
    store.session.commit()
    row = page["rows"][0]
    row[1] = "ann2@example.com"
    upload([row], header=page["columns"])
    assert run() == "finished"
    copy = next(c for c in contacts(engine) if c.email == "ann2@example.com")
    assert copy.email_consent is True and str(copy.birthday) == "1990-05-01"
    assert copy.custom == {"vip_level": 3, "segment": "enterprise"}


def test_imported_rows_run_the_tenants_formulas_and_validation_rules(engine, registry, upload, run, custom_fields):
    """A tenant with low-code logic on contacts: the import takes the record engine's full write
    pipeline (not the bulk path), so a formula is computed and a validation rule refuses rows."""
    from mosaic.logic.definitions import put_definition
    from mosaic.metadata.store import tenant_objects as objects_of

    with tenant_session(engine, TENANT) as session:
        add_field(session, registry, "contact", {"name": "vip_score", "type": "formula",
                                                  "formula": "COALESCE(vip_level, 0) * 10"})
        put_definition(session, objects_of(session, registry), "validation_rule",
                       {"name": "named", "object": "contact", "condition": "last_name is not null",
                        "message": "Imported contacts need a last name."})
        session.commit()
    job = upload(GOOD)
    assert run() == "finished"
    done = job_row(engine, job["id"])
    assert (done.created, done.failed) == (2, 1)  # carol has no last name
    by_name = {c.first_name: c for c in contacts(engine)}
    assert by_name["Ann"].custom["vip_score"] == 30 and by_name["Bob"].custom["vip_score"] == 0
    with tenant_session(engine, TENANT) as s:
        errors = [e.errors for e in s.scalars(select(ImportRowError))]
    assert errors == [{"_record": ["Imported contacts need a last name."]}]


def test_owners_must_be_users_of_the_tenant_checked_once_per_batch(engine, upload, run, make_store):
    from mosaic.users import sync_users

    with tenant_session(engine, TENANT) as s:
        sync_users(s, [{"id": "rep", "active": True}, {"id": "gone", "active": False}])
        s.commit()
    rows = [["Ann", "Lee", "rep"], ["Bob", "Ng", "ghost"], ["Cy", "Po", ""], ["Di", "Xu", "gone"]]
    job = upload(rows, header=["first_name", "last_name", "owner_id"])
    assert run(batch_size=10) == "finished"
    assert sorted((c.last_name, c.owner_id) for c in contacts(engine)) == [("Lee", "rep"), ("Po", "u1"), ("Xu", "gone")]
    store = make_store()
    page = importer.job_errors(store.session, store.ctx, job["id"])
    store.session.commit()
    assert [(e["row"], e["errors"]) for e in page["items"]] == [(3, {"owner_id": ["no user 'ghost' in this tenant"]})]


class FakeRemote:
    """Stands in for ``mosaic.records.references.RemoteRecords``: answers what the hosting service
    would, records each question, and can be down."""

    def __init__(self, records: dict[str, set[str]], down: int = 0):
        self.records, self.down, self.asked = records, down, []

    def errors(self, ctx, object_name, record_id, *, object_field, id_field):
        from mosaic.errors import ServiceUnavailable

        self.asked.append((ctx.modules, object_name, record_id))
        if self.down:
            self.down -= 1
            raise ServiceUnavailable("the sales service is not running")
        if object_name not in self.records:
            return {object_field: [f"no object {object_name!r} in this tenant"]}
        if record_id not in self.records[object_name]:
            return {id_field: [f"no {object_name} with id {record_id}"]}
        return {}


ACTIVITY_HEADER = ["type", "subject", "related_object", "related_id"]


def test_related_pairs_name_records_that_exist_here_or_in_the_hosting_service(engine, upload, run, make_store):
    store = make_store()
    ann = store.create("contact", {"first_name": "Ann", "last_name": "Lee"})["id"]
    store.session.commit()
    remote = FakeRemote({"opportunity": {"o1"}})
    rows = [["note", "About Ann", "contact", ann], ["note", "About nobody", "contact", "nope"],
            ["note", "Half", "", ann], ["note", "Deal", "opportunity", "o1"],
            ["note", "Lost deal", "opportunity", "o2"], ["note", "Deal again", "opportunity", "o1"],
            ["note", "Odd", "spaceship", "x"], ["note", "Plain", "", ""]]
    job = upload(rows, header=ACTIVITY_HEADER, object_name="activity")
    assert run(batch_size=10, remote=remote) == "finished"
    with tenant_session(engine, TENANT) as s:
        landed = sorted(s.scalars(select(Activity.subject)))
    assert landed == ["About Ann", "Deal", "Deal again"]
    store = make_store()
    page = importer.job_errors(store.session, store.ctx, job["id"])
    store.session.commit()
    assert [(e["row"], e["errors"]) for e in page["items"]] == [
        (3, {"related_id": ["no Contact with id nope"]}),
        (4, {"related_object": ["required with related_id"]}),
        (6, {"related_id": ["no opportunity with id o2"]}),
        (8, {"related_object": ["no object 'spaceship' in this tenant"]}),
        (9, {"contact_id": ["link the activity to a contact, an account or a record"]})]
    # the hosting service is asked of its records only, as the uploader (with its modules) could ask
    assert set(remote.asked) == {(("contacts",), "opportunity", "o1"), (("contacts",), "opportunity", "o2"),
                                 (("contacts",), "spaceship", "x")}


def test_a_batch_naming_a_service_that_is_down_waits_and_lands_once_it_answers(engine, upload, run, make_store):
    store = make_store()
    ann = store.create("contact", {"first_name": "Ann", "last_name": "Lee"})["id"]
    store.session.commit()
    remote = FakeRemote({"opportunity": {"o1"}}, down=1)
    upload([["note", "Deal", "opportunity", "o1"], ["note", "Call", "contact", ann]], header=ACTIVITY_HEADER,
           object_name="activity")
    first = importer.run_pending(engine, build_registry(), build_behaviours(), module="contacts", batch_size=10,
                                 remote=remote)
    assert first == "running" and count(engine, Activity) == 0  # the batch rolled back, the job waits
    assert run(batch_size=10, remote=remote) == "finished"
    assert count(engine, Activity) == 2


def test_a_batch_is_sorted_with_its_references_checked_once_each_before_any_write(make_store):
    from mosaic.imports.batches import BatchSorter
    from mosaic.imports.rows import RowPlan

    store = make_store()
    store.remote = FakeRemote({"opportunity": {"o1"}})
    obj = store.obj("activity")
    plan = RowPlan(obj, ACTIVITY_HEADER, importer.map_header(obj, ACTIVITY_HEADER))
    rows = [(2, ["note", "Deal", "opportunity", "o1"]), (3, ["note", "Lost", "opportunity", "o2"]),
            (4, ["note", "Deal again", "opportunity", "o1"])]
    out = BatchSorter(store, obj, plan, "create").sort(rows)
    assert [c.row for c in out.creates] == [2, 4]
    assert [(number, errors) for number, _cells, errors in out.errors] == [
        (3, {"related_id": ["no opportunity with id o2"]})]
    assert sorted(r for _m, _o, r in store.remote.asked) == ["o1", "o2"]  # one question per record
