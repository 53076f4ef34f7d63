"""Bulk writes of an import batch: the new records, their audit entries, their ``created``
events and (for contacts) their lifecycle rows, built in Python and written with PostgreSQL's
COPY — or with one executemany INSERT per table on SQLite.

This is what :meth:`RecordStore.insert_values` does for one record, done for thousands at once:
the same hidden columns (``Behaviour.columns``), the same audit entry and event per record, in
the caller's transaction. Objects whose behaviour does something after a save that is not
reproduced here take the record store's own per-row path instead (see :func:`bulk_capable`).
Rows matched for an update always go through :meth:`RecordStore.update_values` (:func:`apply_updates`).
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, Callable, Iterable

from psycopg2 import extensions as psycopg_extensions
from sqlalchemy import JSON, Table, insert, inspect, select
from sqlalchemy.orm import Session

from mosaic.audit import IGNORED_FIELDS, AuditEntry
from mosaic.db import utcnow
from mosaic.db.batch import flush_session
from mosaic.errors import MosaicError, NotFound
from mosaic.events.envelope import validate_envelope
from mosaic.events.outbox import OutboxEvent
from mosaic.metadata.fields import FieldDef, FieldType, ObjectDef
from mosaic.metadata.values import format_datetime, to_api_value, to_json_value
from mosaic.records.models import Record
from mosaic.records.store import Behaviour, RecordStore
from mosaic.telemetry import current_traceparent
from mosaic.imports.batches import BatchSorter
from mosaic.imports.rows import error_dict

AUDIT_ACTION = "import"


def bulk_capable(obj: ObjectDef, behaviour: Behaviour | None) -> bool:
    """Whether this module reproduces everything a create of ``obj`` does (a behaviour's
    ``after_save`` only when its ``bulk_rows`` stands for it); if not, the import inserts
    through :meth:`RecordStore.insert_values`, one row at a time."""
    if behaviour is None or type(behaviour).after_save is Behaviour.after_save:
        return True
    return type(behaviour).bulk_rows is not Behaviour.bulk_rows


_VARIANT = {h: "89ab"[int(h, 16) & 3] for h in "0123456789abcdef"}


def new_ids(n: int) -> list[str]:
    """``n`` ids of :func:`mosaic.db.new_id`'s layout (UUID version 7) for one moment, from one
    call to the OS's random source: several times cheaper per id, and a batch writes 3-4 per row."""
    ms = f"{int(time.time() * 1000) & 0xFFFFFFFFFFFF:012x}"
    head = f"{ms[:8]}-{ms[8:]}-7"
    rand = os.urandom(10 * n).hex()
    return [f"{head}{rand[i:i + 3]}-{_VARIANT[rand[i + 3]]}{rand[i + 4:i + 7]}-{rand[i + 7:i + 19]}"
            for i in range(0, 20 * n, 20)]


def _api_converter(fd: FieldDef) -> Callable[[Any], Any] | None:
    """How a checked value becomes its API form; None where it already is (check_value returns
    JSON types for every type but dates and datetimes)."""
    if fd.type is FieldType.DATETIME:
        return lambda v: format_datetime(v) if isinstance(v, datetime) else to_api_value(fd, v)
    if fd.type is FieldType.DATE:
        return lambda v: v.isoformat() if isinstance(v, date) else to_api_value(fd, v)
    return lambda v: to_api_value(fd, v) if isinstance(v, (tuple, set, Decimal)) else v


# -- COPY ----------------------------------------------------------------------------------------
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def copy_rows(session: Session, table: Table, rows: list[dict]) -> None:
    """COPY ``rows`` (dicts by column name) into ``table`` on the session's own connection, so
    they commit or roll back with the rest of the session's transaction.

    COPY's CSV format lets the C ``csv`` writer do the quoting: per row, Python only picks the
    values and encodes the JSON columns. Python's ``str`` of a datetime, date or bool is input
    PostgreSQL reads; None is written as an unquoted empty field, which COPY reads as NULL (an
    empty string would read as NULL too: imports never store one, an empty cell is null).
    """
    if not rows:
        return
    names = [c.name for c in table.columns if c.name in rows[0]]
    pick = itemgetter(*names)
    json_at = [i for i, n in enumerate(names) if isinstance(table.c[n].type, JSON)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if json_at:
        out = []
        for row in rows:
            values = list(pick(row))
            for i in json_at:
                if values[i] is not None:
                    values[i] = _dumps(values[i])
            out.append(values)
        writer.writerows(out)
    else:
        writer.writerows(map(pick, rows))
    buf.seek(0)
    flush_session(session)  # queued rows first (mosaic.db.batch): no event sees a COPY
    dbapi = session.connection().connection.dbapi_connection
    quoted = ", ".join(f'"{n}"' for n in names)
    with dbapi.cursor() as cur, _blocking_libpq():
        cur.copy_expert(f'COPY "{table.name}" ({quoted}) FROM STDIN WITH (FORMAT csv)', buf)


@contextmanager
def _blocking_libpq():
    """psycopg2 refuses COPY while a green wait callback (psycogreen, under eventlet) is set.
    Lift it for the COPY: the callback is process-wide, but nothing else runs meanwhile — this
    greenlet does not yield until the COPY returns, so no other query can start — and a batch's
    COPY blocks the hub for less time than building the batch's rows in Python already does."""
    callback = psycopg_extensions.get_wait_callback()
    if callback is None:
        yield
        return
    psycopg_extensions.set_wait_callback(None)
    try:
        yield
    finally:
        psycopg_extensions.set_wait_callback(callback)


def insert_rows(session: Session, table: Table, rows: list[dict]) -> None:
    """One executemany INSERT of ``rows`` (SQLite and other databases without COPY)."""
    if rows:
        session.connection().execute(insert(table), rows)


class BulkWriter:
    """Writes the creates of a batch for one object, in the session's transaction."""

    def __init__(self, store: RecordStore, obj: ObjectDef, *, job_id: str):
        self.store, self.obj, self.job_id = store, obj, job_id
        self.session = store.session
        self.tenant_id = self.session.info["tenant_id"]
        self.actor = store.ctx.actor
        self.behaviour = store.behaviours.get(obj.name)
        behaviour = self.behaviour
        self.after = (behaviour.bulk_rows if behaviour is not None
                      and type(behaviour).bulk_rows is not Behaviour.bulk_rows else None)
        self.copy = store.dialect == "postgresql"
        model = obj.model if obj.model is not None else Record
        self.table: Table = model.__table__
        mapper = inspect(model)
        self.json_col = "custom" if obj.model is not None else "data"
        # (field, column name) of column fields; every other field lives in the JSON column
        self.column_fields = [(f, mapper.attrs[f.attr].columns[0].name) for f in obj.fields
                              if f.is_column and f.name not in ("id", "version", "created_at", "updated_at")]
        self.json_fields = [f for f in obj.fields if not f.is_column]
        self.api_fields = [(f.name, _api_converter(f)) for f in obj.fields
                           if f.name not in ("id", "version", "created_at", "updated_at")]
        # Columns nobody sets from values get their column default, as an ORM insert would.
        given = {"id", "version", "created_at", "updated_at", "tenant_id", self.json_col, "object"}
        given |= {c for _, c in self.column_fields}
        self.fill: list[tuple[str, Any]] = []  # (column, its ColumnDefault or None)
        for column in self.table.columns:
            if column.name in given or column.autoincrement is True:
                continue
            self.fill.append((column.name, column.default))
        self.now = utcnow()
        self._ids: Iterable[str] = iter(())

    def write(self, creates: Iterable, errors: list) -> int:
        """Insert every ``Create``; returns how many were written. A row the per-row path refuses
        is added to ``errors`` as ``(row, cells, {field: [messages]})``."""
        self.now = utcnow()
        if not bulk_capable(self.obj, self.behaviour) or self.store.pipeline_active(self.obj):
            # Processes, rules, formulas or validation rules act on this object's records: each
            # takes the full write pipeline. (Webhook subscribers do not: the hub queues their
            # deliveries from the created events this path writes to the outbox too.)
            return self._one_by_one(creates, errors)
        creates = list(creates)
        self._ids = iter(new_ids((4 if self.after else 3) * len(creates)))
        occurred, stamp = self.now.isoformat(), format_datetime(self.now)
        traceparent = current_traceparent()
        records, audits, events = [], [], []
        extra: dict[Table, list[dict]] = {}
        for create in creates:
            values = create.values
            record_id = self.next_id()
            row = self._record_row(record_id, values, create.hidden)
            records.append(row)
            api = self._api(record_id, values, stamp)
            audits.append({"id": self.next_id(), "tenant_id": self.tenant_id, "object": self.obj.name,
                           "record_id": record_id, "action": AUDIT_ACTION, "actor": self.actor,
                           "at": self.now, "changes": _created_changes(api)})
            envelope = {"id": self.next_id(), "type": f"{self.obj.name}.created", "tenant_id": self.tenant_id,
                        "occurred_at": occurred, "actor": self.actor, "object": self.obj.name,
                        "record_id": record_id, "data": {"record": api, "import_job": self.job_id},
                        "version": 1}
            events.append({"id": envelope["id"], "tenant_id": self.tenant_id, "type": envelope["type"],
                           "object": self.obj.name, "record_id": record_id, "payload": envelope,
                           "traceparent": traceparent, "created_at": self.now, "published_at": None})
            if self.after is not None:
                for table, extra_row in self.after(self, record_id, values):
                    extra.setdefault(table, []).append(extra_row)
        if events:
            validate_envelope(events[0]["payload"])  # the shape every consumer relies on
        write = copy_rows if self.copy else insert_rows
        write(self.session, self.table, records)
        write(self.session, AuditEntry.__table__, audits)
        write(self.session, OutboxEvent.__table__, events)
        for table, rows in extra.items():
            write(self.session, table, rows)
        return len(records)

    def next_id(self) -> str:
        """A fresh id for a row of this batch."""
        return next(self._ids)

    def _one_by_one(self, creates: Iterable, errors: list) -> int:
        done = 0
        for create in creates:
            try:
                with self.session.begin_nested():
                    self.store.insert_values(self.obj, dict(create.values), action=AUDIT_ACTION)
                done += 1
            except MosaicError as exc:
                errors.append((create.row, create.cells, error_dict(exc)))
        return done

    def _record_row(self, record_id: str, values: dict, hidden: dict | None) -> dict:
        row = {"id": record_id, "tenant_id": self.tenant_id, "version": 1,
               "created_at": self.now, "updated_at": self.now}
        for name, default in self.fill:
            if default is None:
                row[name] = None
            else:
                row[name] = default.arg(None) if default.is_callable else default.arg
        for fd, column in self.column_fields:
            if fd.name in values:
                row[column] = values[fd.name]
            elif column not in row:
                row[column] = None
        blob = {}
        for fd in self.json_fields:
            value = values.get(fd.name)
            if value is not None:
                blob[fd.name] = to_json_value(fd, value)
        row[self.json_col] = blob
        if self.obj.model is None:
            row["object"] = self.obj.name
        if hidden is not None:
            row.update(hidden)
        elif self.behaviour is not None:
            row.update(self.behaviour.columns(self.store, self.obj, values))
        return row

    def _api(self, record_id: str, values: dict, stamp: str) -> dict:
        """What ``RecordStore.to_api`` shows for the new record."""
        api: dict[str, Any] = {"object": self.obj.name, "id": record_id, "version": 1,
                               "created_at": stamp, "updated_at": stamp}
        for name, convert in self.api_fields:
            value = values.get(name)
            api[name] = None if value is None else convert(value)
        return api


def _created_changes(api: dict) -> dict:
    """``mosaic.audit.diff({}, api)`` for a JSON-safe ``api``, without re-encoding it."""
    return {k: [None, api[k]] for k in sorted(api) if api[k] is not None and k not in IGNORED_FIELDS}


def apply_updates(sorter: BatchSorter, updates: list, errors: list) -> tuple[int, int]:
    """Matched rows under the update policy, through the record engine (audited, with events);
    each in a savepoint so one bad row leaves the others. Returns (updated, unchanged)."""
    if not updates:
        return 0, 0
    store, obj, model = sorter.store, sorter.obj, sorter.model
    rows = {r.id: r for r in store.session.scalars(select(model).where(model.id.in_({u.record_id for u in updates})))}
    updated = unchanged = 0
    for u in updates:
        row = rows.get(u.record_id)
        try:
            with store.session.begin_nested():
                if row is None:
                    raise NotFound(f"{obj.label} {u.record_id} not found")
                store.allow(obj, "update", row)
                changes = store.update_values(obj, row, dict(u.values), action="import")
        except MosaicError as exc:
            errors.append((u.row, u.cells, error_dict(exc)))
            continue
        if changes:
            updated += 1
        else:
            unchanged += 1
    return updated, unchanged
