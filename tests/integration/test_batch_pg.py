"""Write-behind (mosaic.db.batch) on the real PostgreSQL: queued rows leave with the next
statement or the commit, in order, and only with their transaction."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from mosaic.db import make_engine, schema_for, system_session, tenant_session
from mosaic.db.batch import PENDING, QueuedConflict, defer_insert, defer_locks, defer_update
from mosaic.db.core_scope import TenantLeak
from tests.conftest import fresh_database

pytestmark = [pytest.mark.postgres]

SERVICE = "batchtest"
meta = MetaData()
rows = Table("batch_rows", meta, Column("id", String(36), primary_key=True),
             Column("tenant_id", String(64), nullable=False), Column("seq", Integer, autoincrement=True),
             Column("note", String(50)))
locks = Table("batch_marks", meta, Column("id", Integer, primary_key=True, autoincrement=True),
              Column("tenant_id", String(64), nullable=False), Column("who", String(10)))


@pytest.fixture(scope="module")
def engine():
    eng = make_engine(fresh_database("mosaic_test_batch").replace("postgresql://", "postgresql+psycopg2://"),
                      SERVICE, pool_size=4)
    with eng.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_for(SERVICE)}"'))
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE batch_rows (id varchar(36) PRIMARY KEY, tenant_id varchar(64) NOT NULL,"
                          " seq serial, note varchar(50))"))
        conn.execute(text("CREATE TABLE batch_marks (id serial PRIMARY KEY, tenant_id varchar(64) NOT NULL,"
                          " who varchar(10))"))
    yield eng
    eng.dispose()


@pytest.fixture
def statements(engine):
    """The SQL strings the driver receives."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "after_cursor_execute", record)
    yield seen
    event.remove(engine, "after_cursor_execute", record)


def stored(engine, tenant="a") -> list[tuple[str, str]]:
    with system_session(engine) as s:
        return [tuple(r) for r in s.execute(text(
            "SELECT id, note FROM batch_rows WHERE tenant_id = :t ORDER BY seq"), {"t": tenant})]


def clear(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE batch_rows, batch_marks"))


def test_queued_rows_ride_with_the_next_statement_in_order(engine, statements):
    clear(engine)
    statements.clear()
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "r1", "note": "first"})
        defer_insert(s, rows, {"id": "r2", "tenant_id": "a", "note": "second"})
        assert statements == []  # nothing sent yet
        # The next statement carries them, and answers its own rows: it sees the queued ones.
        assert s.execute(select(func.count()).select_from(rows)).scalar() == 2
        assert len(statements) == 1 and statements[0].count("INSERT INTO batch_rows") == 2
        defer_update(s, rows, {"tenant_id": "a", "id": "r1"}, {"note": "changed"})
        s.commit()  # the update leaves just before COMMIT
    assert stored(engine) == [("r1", "changed"), ("r2", "second")]


def test_a_shape_compiled_once_is_not_built_again(engine, monkeypatch):
    import mosaic.db.batch as batch

    clear(engine)
    built = []
    monkeypatch.setattr(batch, "insert", lambda table: built.append(table) or insert(table))
    with tenant_session(engine, "a") as s:
        for n in range(3):
            defer_insert(s, rows, {"id": f"s{n}", "note": f"shape {n}"})
        s.commit()
    assert len(built) <= 1  # none if an earlier test compiled this shape
    assert stored(engine) == [("s0", "shape 0"), ("s1", "shape 1"), ("s2", "shape 2")]


def test_rollback_drops_the_queue_and_the_connection_comes_back_clean(engine):
    clear(engine)
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "gone", "note": "x"})
        s.rollback()
        defer_insert(s, rows, {"id": "kept", "note": "y"})
        s.commit()
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "closed", "note": "z"})
    # a session closed without commit rolled back; the pooled connection carries nothing over
    with tenant_session(engine, "a") as s:
        assert not s.connection().info.get(PENDING)
        s.commit()
    assert stored(engine) == [("kept", "y")]


def test_a_rollback_to_a_savepoint_drops_only_what_was_queued_inside_it(engine):
    clear(engine)
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "outer", "note": "before"})
        nested = s.begin_nested()
        defer_insert(s, rows, {"id": "inner", "note": "inside"})
        nested.rollback()
        s.commit()
    assert stored(engine) == [("outer", "before")]


def test_a_queued_row_that_fails_fails_its_transaction(engine):
    clear(engine)
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "dup", "note": "1"})
        s.commit()
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "dup", "note": "2"})
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
    assert stored(engine) == [("dup", "1")]


def test_a_queued_row_names_its_sessions_tenant(engine):
    with tenant_session(engine, "a") as s:
        with pytest.raises(TenantLeak):
            defer_insert(s, rows, {"id": "x", "tenant_id": "b", "note": "leak"})
        with pytest.raises(TenantLeak):
            defer_update(s, rows, {"tenant_id": "b", "id": "x"}, {"note": "leak"})


def test_executemany_and_driver_level_work_send_the_queue_first(engine, statements):
    clear(engine)
    statements.clear()
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "q", "note": "queued"})
        s.connection().execute(insert(locks), [{"who": "m1"}, {"who": "m2"}])
        assert statements[0].startswith("BEGIN;\nINSERT INTO batch_rows")  # on its own, first
        s.commit()
    assert stored(engine) == [("q", "queued")]


def test_queued_locks_are_held_before_the_statement_they_ride_with_reads(engine):
    """Two transactions lock the same key then count marks and add one: the second waits for the
    first's commit and, its count taking its snapshot after the lock, sees the first's mark."""
    clear(engine)
    seen: dict[str, int] = {}
    first_locked = threading.Event()
    release = threading.Event()

    def writer(name: str, hold: bool):
        with tenant_session(engine, "a") as s:
            defer_locks(s, ["same-key"])
            seen[name] = s.execute(select(func.count()).select_from(locks)).scalar()
            s.connection().execute(insert(locks), {"who": name})
            if hold:
                first_locked.set()
                release.wait(10)
            s.commit()

    t1 = threading.Thread(target=writer, args=("one", True))
    t1.start()
    assert first_locked.wait(10)
    t2 = threading.Thread(target=writer, args=("two", False))
    t2.start()
    t2.join(0.5)
    assert t2.is_alive(), "the second writer did not wait for the lock"
    release.set()
    t1.join(10)
    t2.join(10)
    assert seen == {"one": 0, "two": 1}


def test_a_queued_insert_that_asked_is_told_of_its_conflict_wherever_it_went_out(engine):
    clear(engine)
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "held", "note": "first"})
        s.commit()
    # with the next statement
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "held", "note": "again"}, conflict_tag="t1")
        with pytest.raises(QueuedConflict) as seen:
            s.execute(select(func.count()).select_from(locks)).scalar()
        assert seen.value.tag == "t1"
        s.rollback()
    # at the commit
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "held", "note": "again"}, conflict_tag="t2")
        with pytest.raises(QueuedConflict) as seen:
            s.commit()
        assert seen.value.tag == "t2"
        s.rollback()
    # a conflict nobody asked about stays the database's error
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "held", "note": "again"})
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
    assert stored(engine) == [("held", "first")]
