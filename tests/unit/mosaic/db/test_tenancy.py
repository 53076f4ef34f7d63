"""Tenant scoping is enforced by the session, whatever query the caller writes."""
from __future__ import annotations

import pytest
from sqlalchemy import String, create_engine, delete, func, select, text, update
from sqlalchemy.orm import Mapped, aliased, mapped_column

from mosaic.db import Base, TenantLeak, TenantScoped, system_session, tenant_session
from mosaic.db.base import new_id


class Note(TenantScoped, Base):
    __tablename__ = "tenancy_test_notes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    body: Mapped[str] = mapped_column(String(100))


@pytest.fixture
def engine():
    eng = create_engine("sqlite://")
    Base.metadata.create_all(eng, tables=[Note.__table__])
    with system_session(eng) as s:
        s.add_all([Note(tenant_id="a", body="a1"), Note(tenant_id="a", body="a2"), Note(tenant_id="b", body="b1")])
        s.commit()
    return eng


def bodies(session, stmt=None):
    return sorted(n.body for n in session.scalars(stmt if stmt is not None else select(Note)))


def test_selects_see_only_their_tenant(engine):
    with tenant_session(engine, "a") as s:
        assert bodies(s) == ["a1", "a2"]
        assert bodies(s, select(Note).where(Note.body == "b1")) == []
        assert s.scalar(select(func.count()).select_from(Note)) == 2
        other = aliased(Note)
        assert bodies(s, select(other).where(other.tenant_id == "b")) == []  # even naming tenant b
        assert s.get(Note, _id_of(engine, "b1")) is None


def test_updates_and_deletes_cannot_reach_another_tenant(engine):
    with tenant_session(engine, "a") as s:
        s.execute(update(Note).values(body="x"))
        s.execute(delete(Note).where(Note.body == "b1"))
        s.commit()
    with system_session(engine) as s:
        assert bodies(s) == ["b1", "x", "x"]


def test_inserts_are_stamped_and_foreign_tenants_refused(engine):
    with tenant_session(engine, "a") as s:
        s.add(Note(body="new"))
        s.commit()
        s.add(Note(tenant_id="b", body="smuggled"))
        with pytest.raises(TenantLeak):
            s.flush()
    with system_session(engine) as s:
        assert s.scalar(select(Note.tenant_id).where(Note.body == "new")) == "a"
        assert s.scalar(select(Note).where(Note.body == "smuggled")) is None


def test_a_loaded_row_cannot_be_moved_to_another_tenant(engine):
    with tenant_session(engine, "a") as s:
        note = s.scalars(select(Note)).first()
        note.tenant_id = "b"
        with pytest.raises(TenantLeak):
            s.flush()


def test_textual_sql_is_refused_and_sessions_need_a_scope(engine):
    with tenant_session(engine, "a") as s:
        with pytest.raises(TenantLeak):
            s.execute(text("SELECT * FROM tenancy_test_notes"))
    with pytest.raises(TenantLeak):
        tenant_session(engine, "")
    from sqlalchemy.orm import Session

    with Session(engine) as bare:
        with pytest.raises(TenantLeak):
            bare.scalars(select(Note)).all()


def _id_of(engine, body):
    with system_session(engine) as s:
        return s.scalar(select(Note.id).where(Note.body == body))
