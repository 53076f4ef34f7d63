"""Indexes of custom fields, built in the background without blocking writes.

A plain ``CREATE INDEX`` inside the request that added an indexed field would lock the table
against writes, for every tenant, for as long as the build takes. Instead the request records
the wanted index as a :class:`FieldIndex` row (``pending``) and queues an automation job
(:data:`FIELD_INDEX_JOB`) in its own transaction; the service's job timer runs
:func:`build_field_index_job`, which builds it ``CREATE INDEX CONCURRENTLY`` on a connection of
its own (``building``, then ``ready`` or ``failed`` with the error; a failed build is retried by
the job queue's backoff, and asking for the index again re-queues it).

Several replicas may run the same job (an expired lease, two queued requests for one index):
the build holds a PostgreSQL advisory lock named after the index, so one builds and the others
step aside; a builder that dies releases the lock with its connection, and the next attempt
drops the INVALID index a broken concurrent build leaves behind.

The state is per index, and an index is shared by every tenant with a field of that name on
that table, so each state change bumps the metadata version of those tenants: their field dicts
(``index_status``, ``index_error``) show it at their next request. SQLite has no expression
indexes: there nothing is queued and the status stays null.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.schema import CreateIndex

from mosaic.db import Base, JSONType, UTCDateTime, new_id, utcnow
from mosaic.errors import ValidationFailed
from mosaic.metadata.fields import FieldDef, ObjectDef
from mosaic.metadata.indexes import RECORDS_TABLE, expression_index, field_index_name, storage_of

log = logging.getLogger(__name__)

PENDING, BUILDING, READY, FAILED = "pending", "building", "ready", "failed"
FIELD_INDEX_JOB = "field_index"
#: field indexes one shared table may carry, whatever tenant asked for them: each one slows
#: every write to the table for every tenant.
MAX_TABLE_INDEXES = 64


class FieldIndex(Base):
    """The wanted expression index of a custom field on a shared table, and its build state.

    Not tenant-scoped: one index serves every tenant with a field of that name on that table.
    """

    __tablename__ = "field_indexes"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(63), nullable=False, index=True)
    #: {"json_column", "keys", "field", "object"}: enough to build it again
    spec: Mapped[dict] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def request_field_index(session: Session, obj: ObjectDef, fdef: FieldDef) -> str | None:
    """Ask for the index of ``fdef`` (an indexed JSON field of ``obj``) in ``session``'s
    transaction: a pending :class:`FieldIndex` row and a build job, unless it is already ready,
    pending or building. Returns the index's status (None where nothing is built: SQLite,
    column fields, unindexed fields). :class:`ValidationFailed` when the table already carries :data:`MAX_TABLE_INDEXES`.
    """
    if fdef.is_column or not fdef.indexed or not _is_postgres(session):
        return None
    table_name, _schema, json_col, keys = storage_of(obj)
    name = field_index_name(table_name, fdef.name)
    row = session.get(FieldIndex, name, with_for_update=True)
    if row is not None and row.status in (READY, PENDING, BUILDING):
        return row.status
    if row is None:
        taken = session.scalar(select(func.count()).select_from(FieldIndex)
                               .where(FieldIndex.table_name == table_name)) or 0
        if taken >= MAX_TABLE_INDEXES:
            raise ValidationFailed(
                f"'{fdef.name}' cannot be indexed: the {obj.name} table already carries "
                f"{taken} field indexes (at most {MAX_TABLE_INDEXES}).",
                errors={"indexed": [f"At most {MAX_TABLE_INDEXES} field indexes per table."]})
        spec = {"json_column": json_col, "keys": list(keys), "field": fdef.name,
                "object": None if table_name == RECORDS_TABLE else obj.name}
        # Two tenants may ask for the same index at once: the second insert does nothing.
        session.execute(postgresql.insert(FieldIndex).values(
            name=name, table_name=table_name, spec=spec, status=PENDING, attempts=0,
            requested_at=utcnow(), updated_at=utcnow()).on_conflict_do_nothing())
    else:  # failed before: ask again
        row.status, row.error, row.updated_at = PENDING, None, utcnow()
    from mosaic.automation.jobs import enqueue  # here: automation imports the metadata package

    enqueue(session, FIELD_INDEX_JOB, f"{name}:{new_id()}", object=obj.name, record_id=None,
            payload={"index": name})
    return PENDING


def index_states(session: Session, names: list[str]) -> dict[str, tuple[str, str | None]]:
    """``{index name: (status, error)}`` of the given indexes that were ever requested."""
    if not names or not _is_postgres(session):
        return {}
    rows = session.execute(select(FieldIndex.name, FieldIndex.status, FieldIndex.error)
                           .where(FieldIndex.name.in_(names)))
    return {name: (status, error) for name, status, error in rows}


def with_index_states(session: Session, objects: dict[str, ObjectDef]) -> dict[str, ObjectDef]:
    """``objects`` with ``index_status``/``index_error`` set on their indexed JSON fields."""
    wanted = {}
    for obj in objects.values():
        for f in obj.fields:
            if f.indexed and not f.is_column:
                wanted[(obj.name, f.name)] = field_index_name(storage_of(obj)[0], f.name)
    states = index_states(session, sorted(set(wanted.values())))
    if not states:
        return objects
    out = {}
    for name, obj in objects.items():
        fields = []
        for f in obj.fields:
            state = states.get(wanted.get((name, f.name), ""))
            fields.append(f.evolve(index_status=state[0], index_error=state[1]) if state else f)
        out[name] = replace(obj, fields=tuple(fields), _index={})
    return out


# -- the build job (run by the service's job timer) ---------------------------------------------

def _set_state(conn: Connection, name: str, **values: Any) -> None:
    conn.execute(update(FieldIndex).where(FieldIndex.name == name)
                 .values(updated_at=utcnow(), **values))


def _bump_tenants(conn: Connection, spec: dict) -> None:
    """Bump the metadata version of every tenant with a field the index serves, so their
    cached field dicts show the new state."""
    from mosaic.metadata.store import FieldDefinition, MetadataVersion

    fields = select(FieldDefinition.tenant_id).where(FieldDefinition.name == spec["field"])
    if spec.get("object"):
        fields = fields.where(FieldDefinition.object == spec["object"])
    conn.execute(update(MetadataVersion).where(MetadataVersion.tenant_id.in_(fields))
                 .values(version=MetadataVersion.version + 1))


def _drop_invalid(conn: Connection, name: str) -> None:
    """A concurrent build that died leaves an INVALID index behind; IF NOT EXISTS would keep it."""
    invalid = conn.scalar(text(
        "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace"),
        {"name": name})
    if invalid:
        conn.exec_driver_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


def build_field_index(conn: Connection, name: str) -> str:
    """Build the requested index ``name`` on ``conn`` (an AUTOCOMMIT connection of its own);
    returns the state it ends in (``ready``, or the state another builder holds it in).
    Raises the build's error after recording it as ``failed``."""
    if not conn.scalar(select(func.pg_try_advisory_lock(func.hashtext(name)))):
        return BUILDING  # another replica is building it right now
    try:
        row = conn.execute(select(FieldIndex.spec, FieldIndex.status, FieldIndex.table_name)
                           .where(FieldIndex.name == name)).first()
        if row is None or row.status == READY:
            return READY if row is not None else FAILED
        spec = row.spec
        _set_state(conn, name, status=BUILDING, error=None, attempts=FieldIndex.attempts + 1)
        _bump_tenants(conn, spec)
        try:
            # An index build takes what it takes; CONCURRENTLY keeps writes going meanwhile.
            conn.exec_driver_sql("SET statement_timeout = 0")
            _drop_invalid(conn, name)
            index = expression_index(row.table_name, None, spec["json_column"],
                                     tuple(spec["keys"]), spec["field"], concurrently=True)
            conn.execute(CreateIndex(index, if_not_exists=True))
        except Exception as exc:
            _set_state(conn, name, status=FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
            _bump_tenants(conn, spec)
            raise
        finally:
            conn.exec_driver_sql("RESET statement_timeout")
        _set_state(conn, name, status=READY, error=None)
        _bump_tenants(conn, spec)
        log.info("field index %s built", name)
        return READY
    finally:
        conn.scalar(select(func.pg_advisory_unlock(func.hashtext(name))))


def build_field_index_job(store: Any, job: Any) -> None:
    """The :data:`FIELD_INDEX_JOB` handler: builds the job's index on a connection of its own
    (CREATE INDEX CONCURRENTLY cannot run inside the job's transaction)."""
    bind = store.session.get_bind()
    engine = getattr(bind, "engine", bind)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        build_field_index(conn, job.payload["index"])
