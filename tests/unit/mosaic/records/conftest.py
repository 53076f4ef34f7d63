"""A small laboratory of objects for the record engine's own tests, on SQLite: ``gadget``, a core
object with a table of its own (columns, and JSON-stored money, date and tags), and ``part``, a
custom object in the generic records table. Nothing here is a contacts object, so the engine is
tested for what it is — generic — and not only through the contacts service."""
from __future__ import annotations

import pytest
from sqlalchemy import Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mosaic.audit import AuditEntry
from mosaic.context import RequestContext
from mosaic.db import tenant_session
from mosaic.events.outbox import OutboxEvent
from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType
from mosaic.metadata.fields import ObjectDef
from mosaic.records.models import CoreRecord, Record
from mosaic.records.store import RecordStore
from mosaic.users import TenantUser, sync_users

T = FieldType


class LabBase(DeclarativeBase):
    """The lab's own tables, kept out of the platform's metadata (and its migrations)."""


class Gadget(CoreRecord, LabBase):
    __tablename__ = "lab_gadgets"

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    part_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    related_object: Mapped[str | None] = mapped_column(String(64), nullable=True)
    related_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


def col(name: str, type_: FieldType, **kw) -> FieldDef:
    return FieldDef(name, type_, name.replace("_", " ").title(), storage="column", **kw)


GADGET = ObjectDef(
    name="gadget", label="Gadget", plural="gadgets", service="lab", model=Gadget,
    fields=SYSTEM_FIELDS + (
        col("name", T.TEXT, required=True, unique=True, max_length=100),
        col("size", T.INTEGER),
        col("part_id", T.LOOKUP, lookup="part"),
        col("related_object", T.TEXT, max_length=64),
        col("related_id", T.TEXT, max_length=64),
        FieldDef("price", T.MONEY, "Price", currency="EUR"),
        FieldDef("made_on", T.DATE, "Made on"),
        FieldDef("tags", T.MULTI_PICKLIST, "Tags", choices=("red", "blue")),
        FieldDef("notes", T.LONG_TEXT, "Notes"),
    ),
)
PART = ObjectDef(
    name="part", label="Part", plural="parts", service="lab", kind="custom",
    fields=SYSTEM_FIELDS + (FieldDef("label", T.TEXT, "Label", required=True),
                            FieldDef("weight", T.DECIMAL, "Weight")),
)
OBJECTS = {"gadget": GADGET, "part": PART}


@pytest.fixture
def engine(tmp_path):
    eng = create_engine(f"sqlite:///{tmp_path / 'lab.db'}")
    LabBase.metadata.create_all(eng)
    for table in (Record.__table__, AuditEntry.__table__, OutboxEvent.__table__, TenantUser.__table__):
        table.create(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def make_store(engine):
    """``make_store(tenant="t1", user="u1", roles=("admin",), module="lab")``: a store on a session of its own
    (closed after the test); the caller commits."""
    sessions = []

    def factory(tenant: str = "t1", user: str = "u1", roles=("admin",), module: str = "lab", **kw) -> RecordStore:
        session = tenant_session(engine, tenant)
        sessions.append(session)
        ctx = RequestContext(tenant_id=tenant, user_id=user, roles=tuple(roles), modules=(module,))
        return RecordStore(session, OBJECTS, ctx, module=module, **kw)

    yield factory
    for session in sessions:
        session.close()


@pytest.fixture
def users(engine):
    """``users("t1", "u2", "u3")``: make them users of the tenant, as the gateway's sync does."""

    def add(tenant: str, *user_ids: str) -> None:
        with tenant_session(engine, tenant) as session:
            sync_users(session, [{"id": u, "active": True} for u in user_ids])
            session.commit()

    return add


@pytest.fixture
def store(make_store) -> RecordStore:
    """An admin's store of tenant t1."""
    return make_store()


def make_gadget(store: RecordStore, **overrides) -> dict:
    """A gadget with a unique name unless given."""
    make_gadget.seq += 1
    return store.create("gadget", {"name": f"g{make_gadget.seq}", **overrides})


make_gadget.seq = 0
