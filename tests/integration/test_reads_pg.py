"""Transaction blocks begin with their first statement that needs one (mosaic.db.reads), on the
real PostgreSQL: a session of plain SELECTs sends no BEGIN and nothing at its end; the first
statement that needs a block carries its BEGIN, the commit carries the queued statements and the
COMMIT, and from there the transaction behaves as before."""
from __future__ import annotations

import pytest
from psycopg2 import extensions
from sqlalchemy import event, func, select, text

from mosaic.db import make_engine, schema_for, tenant_session
from mosaic.db.batch import defer_insert
from mosaic.db.engine import statement_role
from tests.conftest import fresh_database
from tests.integration.test_batch_pg import rows, stored

pytestmark = [pytest.mark.postgres]

SERVICE = "readstest"
TIMEOUTS = {"request": 5000, "job": 7000, "import": 0, "migration": 0}


@pytest.fixture(scope="module")
def engine():
    eng = make_engine(fresh_database("mosaic_test_reads").replace("postgresql://", "postgresql+psycopg2://"),
                      SERVICE, pool_size=2, statement_timeouts=TIMEOUTS)
    with eng.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_for(SERVICE)}"'))
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE batch_rows (id varchar(36) PRIMARY KEY, tenant_id varchar(64) NOT NULL,"
                          " seq serial, note varchar(50))"))
    yield eng
    eng.dispose()


@pytest.fixture
def sent(engine):
    """What the driver is asked to run, and whether the connection was in a transaction block
    when the statement came back."""
    seen: list[tuple[str, bool]] = []

    def record(_conn, cursor, statement, *_args):
        status = cursor.connection.get_transaction_status()
        verbs = "+".join(part.split()[0].upper() for part in statement.split(";") if part.strip())
        seen.append((verbs, status != extensions.TRANSACTION_STATUS_IDLE))

    event.listen(engine, "after_cursor_execute", record)
    yield seen
    event.remove(engine, "after_cursor_execute", record)


def test_plain_selects_run_outside_a_transaction_block(engine, sent):
    with tenant_session(engine, "a") as s:
        s.execute(select(func.count()).select_from(rows)).scalar()
        s.execute(select(rows.c.id)).all()
        s.commit()
    assert sent == [("SELECT", False), ("SELECT", False)]


def test_the_first_statement_that_needs_one_begins_the_transaction(engine, sent):
    with tenant_session(engine, "a") as s:
        s.execute(select(rows.c.id)).all()
        s.connection().execute(rows.insert(), {"id": "w1", "note": "kept"})
        s.execute(select(rows.c.id).with_for_update()).all()
        s.commit()
    assert sent == [("SELECT", False), ("BEGIN+INSERT", True), ("SELECT", True), ("COMMIT", False)]
    with tenant_session(engine, "a") as s:
        s.connection().execute(rows.insert(), {"id": "w2", "note": "dropped"})
        s.rollback()
    assert ("w1", "kept") in stored(engine) and all(r[0] != "w2" for r in stored(engine))


def test_queued_statements_and_locks_run_in_the_transaction(engine, sent):
    with tenant_session(engine, "a") as s:
        defer_insert(s, rows, {"id": "q1", "note": "queued"})
        s.execute(select(func.count()).select_from(rows)).scalar()  # carries the queued INSERT
        s.rollback()
    assert sent[-1] == ("BEGIN+INSERT+SELECT", True)  # the ROLLBACK goes out on the driver
    assert all(r[0] != "q1" for r in stored(engine))


def test_a_role_timeout_still_applies_to_its_transaction(engine):
    with statement_role("job"), tenant_session(engine, "a") as s:
        assert s.execute(select(func.current_setting("statement_timeout"))).scalar() == "7s"
    with tenant_session(engine, "a") as s:
        assert s.execute(select(func.current_setting("statement_timeout"))).scalar() == "5s"
