"""emit(): the outbox row is part of the caller's transaction and of the caller's tenant."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from mosaic.db import TenantLeak, system_session, tenant_session
from mosaic.errors import ValidationFailed
from mosaic.events import OutboxEvent, emit


def _rows(engine):
    with system_session(engine) as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq)))


def test_emit_in_a_tenant_session_commits_with_the_change(engine, make_env):
    env = make_env(tenant_id="t1")
    with tenant_session(engine, "t1") as session:
        row = emit(session, env, traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
        session.commit()
    [stored] = _rows(engine)
    assert stored.seq == row.seq
    assert (stored.id, stored.type, stored.object, stored.record_id, stored.tenant_id) == (
        env["id"], "contact.created", "contact", env["record_id"], "t1")
    assert stored.payload == env
    assert stored.traceparent.startswith("00-aaaa")
    assert stored.created_at.tzinfo is not None
    assert stored.published_at is None


def test_emit_does_not_commit(engine, make_env):
    with tenant_session(engine, "t1") as session:
        emit(session, make_env())
        session.rollback()
    assert _rows(engine) == []


def test_emit_refuses_another_tenants_event(engine, make_env):
    with tenant_session(engine, "t1") as session:
        emit(session, make_env(tenant_id="t2"))
        with pytest.raises(TenantLeak):
            session.flush()


def test_emit_validates_the_envelope(engine, make_env):
    with tenant_session(engine, "t1") as session, pytest.raises(ValidationFailed):
        emit(session, {**make_env(), "type": "nodot"})


def test_seq_increases_in_insert_order(engine, add_events):
    envs = add_events(5)
    rows = _rows(engine)
    assert [r.id for r in rows] == [e["id"] for e in envs]
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)


def test_event_ids_are_unique(engine, make_env):
    env = make_env()
    with system_session(engine) as session:
        emit(session, env)
        session.commit()
        emit(session, dict(env))
        with pytest.raises(Exception):
            session.commit()


def test_unpublished_index_is_partial(engine):
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("outbox")}
    assert "ix_outbox_unpublished" in indexes
    with engine.connect() as conn:
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'ix_outbox_unpublished'").scalar()
    assert "WHERE published_at IS NULL" in sql


def test_write_event_stores_what_emit_stores_in_write_order(engine, make_env):
    from mosaic.events.outbox import write_event

    first, second, third = make_env(record_id="r1"), make_env(record_id="r2"), make_env(record_id="r3")
    with tenant_session(engine, "t1") as session:
        emit(session, first, traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
        session.flush()
        write_event(session, second, traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
        write_event(session, third)
        session.commit()
    rows = _rows(engine)
    assert [r.id for r in rows] == [first["id"], second["id"], third["id"]]
    a, b = rows[0], rows[1]
    for col in ("tenant_id", "type", "object", "traceparent", "published_at"):
        assert getattr(a, col) == getattr(b, col), col
    assert (b.record_id, b.payload) == ("r2", second) and b.created_at.tzinfo is not None


def test_write_event_refuses_another_tenants_event_and_validates(engine, make_env):
    from mosaic.events.outbox import write_event

    with tenant_session(engine, "t1") as session:
        with pytest.raises(TenantLeak):
            write_event(session, make_env(tenant_id="t2"))
        with pytest.raises(ValidationFailed):
            write_event(session, {**make_env(), "type": "nodot"})
        session.rollback()
    assert _rows(engine) == []


def test_an_envelope_make_envelope_checked_is_not_checked_again(engine, make_env, monkeypatch):
    from mosaic.events import outbox
    from mosaic.events.outbox import write_event

    checked = []
    monkeypatch.setattr(outbox, "validate_envelope", lambda e: checked.append(e) or e)
    with tenant_session(engine, "t1") as session:
        write_event(session, make_env(), validated=True)
        assert checked == []
        write_event(session, make_env())
        assert len(checked) == 1
        with pytest.raises(TenantLeak):  # the tenant is checked all the same
            write_event(session, make_env(tenant_id="t2"), validated=True)
        session.rollback()
