"""The record engine: one implementation of list/get/create/update/delete for every object a
service hosts — core objects (their own table, custom fields in ``custom``), and tenants' custom
objects (the generic ``records`` table) — with validation from metadata, the filter language,
permissions and ownership, audit and outbox events in the same transaction.

A service's domain code takes a :class:`RecordStore` and adds only what is special about its
objects, through :class:`Behaviour` hooks (the contact lifecycle, dedup keys, ...).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, make_transient_to_detached

from mosaic.audit import write_change
from mosaic.db.batch import defer_insert, defer_locks
from mosaic.context import RequestContext
from mosaic.errors import Conflict, NotFound, ValidationFailed
from mosaic.events.envelope import make_envelope
from mosaic.events.outbox import write_event
from mosaic.filters import json_accessor
from mosaic.metadata.fields import FieldDef, ObjectDef
from mosaic.metadata.schema_factory import from_json_value, load_create, load_update, to_api_value
from mosaic.records.checks import RecordChecks
from mosaic.records.listing import RecordLists
from mosaic.records.models import Record
from mosaic.records.pipeline import Step, Write
from mosaic.records.reading import read_plan
from mosaic.telemetry import current_traceparent
from mosaic.db import utcnow

#: Write.notes keys: the duplicate policy of an API create, and the look-alikes it found
DEDUP_POLICY, DUPLICATES = "dedup.policy", "dedup.found"


#: a column whose value the database supplies when the INSERT leaves it out
_SERVER_DEFAULT = object()
_column_plans: dict = {}


def _column_plan(model) -> tuple:
    """``(attribute, column name, default)`` for each column of ``model``, read from its mapper
    once: the default is the column's own (None if it has none), or ``_SERVER_DEFAULT``."""
    plan = _column_plans.get(model)
    if plan is None:
        plan = []
        for prop in inspect(model).column_attrs:
            column = prop.columns[0]
            default = column.default
            if default is None and column.server_default is not None:
                default = _SERVER_DEFAULT
            plan.append((prop.key, column.name, default))
        plan = _column_plans[model] = tuple(plan)
    return plan


class Behaviour:
    """What a service adds to the generic engine for one object. Every method is optional."""

    def before_save(self, store: "RecordStore", obj: ObjectDef, values: dict, before: dict | None) -> None:
        """Adjust or check ``values`` (python values by field name) before they are written."""

    def after_save(self, store: "RecordStore", obj: ObjectDef, row: Any, before: dict | None, after: dict) -> None:
        """React in the same transaction after a create (``before`` is None) or an update."""

    def before_delete(self, store: "RecordStore", obj: ObjectDef, row: Any, before: dict) -> None:
        """Check or clean up before a record is deleted."""

    def columns(self, store: "RecordStore", obj: ObjectDef, values: dict) -> dict:
        """Hidden columns derived from the record's full ``values`` (dedup keys, ...), written
        in the same statement as the record itself."""
        return {}

    #: hidden key columns (from :meth:`columns`) whose equal values mean "the same record", in
    #: match order: an import with the skip or update policy matches rows on them
    match_keys: tuple[str, ...] = ()
    #: a hidden blocking column (a normalised name) whose look-alikes an import compares, and the
    #: field scored beside it (a company) by :meth:`fuzzy_score`
    fuzzy_key: str | None = None
    fuzzy_companion: str | None = None

    def fuzzy_score(self, key_a: str, companion_a: str | None, key_b: str, companion_b: str | None) -> float:
        """How alike two records are, 0-100 (compared with the tenant's threshold)."""
        return 0.0

    def bulk_rows(self, writer, record_id: str, values: dict) -> list:
        """What :meth:`after_save` writes for a new record, as ``[(table, row)]`` for a bulk
        import's COPY (``writer``: ``next_id()``, ``tenant_id``, ``now``, ``actor``). Implement it
        to let imports of an object whose ``after_save`` writes rows take the bulk path."""
        return []

    #: duplicate reasons that make a create a conflict (the exact rule: same email, same phone…);
    #: other reasons (a fuzzy name match) are reported beside the created record
    exact_reasons: frozenset = frozenset()

    def duplicates(self, store: "RecordStore", obj: ObjectDef, values: dict,
                   exclude_id: str | None = None) -> list[dict]:
        """Records of this tenant that look like ``values``: ``[{"id", "reason", "score"}]``,
        best first. Asked before a create is inserted, and by ``…/{id}/duplicates``."""
        return []

    def duplicate_keys(self, store: "RecordStore", obj: ObjectDef, values: dict) -> list[str]:
        """The exact rule's keys of ``values`` (``email:ann@example.com``). A create holds a
        transaction lock on each while it checks and inserts, so two concurrent creates of the
        same record run one after the other and the second sees the first."""
        return []


class RecordStore(RecordChecks, RecordLists):
    """Records of one tenant (the session's) in one service (the checks every write makes are
    :class:`~mosaic.records.checks.RecordChecks`, lists :class:`~mosaic.records.listing.RecordLists`)."""

    def __init__(self, session: Session, objects: dict[str, ObjectDef], ctx: RequestContext,
                 *, module: str, metadata_version: int = 0, max_page: int = 500,
                 behaviours: dict[str, Behaviour] | None = None, steps: Iterable[Step] = (),
                 logic: Any = None, clock: Callable[[], datetime] | None = None,
                 dedup_threshold: int = 90):
        self.session = session
        self.objects = objects
        self.ctx = ctx
        self.module = module
        self.metadata_version = metadata_version
        self.max_page = max_page
        self.behaviours = behaviours or {}
        #: the write pipeline (processes, automation, formulas, validation rules, plugins)
        self.steps: tuple[Step, ...] = tuple(steps)
        #: the tenant's low-code configuration (``mosaic.logic.TenantLogic``), None for bare stores
        self.logic = logic
        self.clock = clock
        #: the tenant's fuzzy duplicate threshold, 0-100 (behaviours' duplicate checks use it)
        self.dedup_threshold = dedup_threshold
        #: the API form of the record this store last inserted, with the row and its version then
        #: (see _api_of_created)
        self._created: tuple | None = None
        self.dialect = session.get_bind().dialect.name

    def now(self) -> datetime:
        """The time as the pipeline sees it (tests set ``clock``)."""
        return self.clock() if self.clock else datetime.now(timezone.utc)

    def pipeline_active(self, obj: ObjectDef) -> bool:
        """Whether any step of the write pipeline acts on ``obj`` for this tenant."""
        return any(step.active(self, obj) for step in self.steps)

    # -- objects and fields -------------------------------------------------------------------
    def obj(self, name: str) -> ObjectDef:
        """The object called ``name`` (or with that URL path), or NotFound."""
        obj = self.objects.get(name)
        if obj is None:
            obj = next((o for o in self.objects.values() if o.path == name), None)
        if obj is None:
            raise NotFound(f"no object {name!r} in this tenant")
        return obj

    def _model(self, obj: ObjectDef):
        return obj.model if obj.model is not None else Record

    def _json_col(self, obj: ObjectDef):
        return obj.model.custom if obj.model is not None else Record.data

    def _cache_key(self, obj: ObjectDef) -> tuple:
        # The plugins' fields the tenant sees are part of the schema: enabling or disabling a
        # plugin changes it without a metadata version of its own.
        namespaces = tuple(sorted({f.namespace for f in obj.fields if f.namespace}))
        return (self.session.info.get("tenant_id"), obj.service, obj.name, self.metadata_version, namespaces)

    def _expr(self, obj: ObjectDef, fd: FieldDef, subpath: str | None = None):
        """The SQL expression of a field's value, wherever it is stored."""
        if fd.is_column:
            return getattr(self._model(obj), fd.attr)
        return json_accessor(self._json_col(obj), fd, subpath, self.dialect)

    # -- reading ------------------------------------------------------------------------------
    def values_of(self, obj: ObjectDef, row) -> dict:
        """A record as python values by field name (what the filter evaluator and hooks see)."""
        blob = (row.custom if obj.model is not None else row.data) or {}
        out: dict[str, Any] = {}
        for fd in obj.fields:
            if fd.is_column:
                out[fd.name] = getattr(row, fd.attr)
            else:
                raw = blob.get(fd.name)
                out[fd.name] = None if raw is None else from_json_value(fd, raw)
        return out

    def to_api(self, obj: ObjectDef, values: dict, fields: Iterable[str] | None = None) -> dict:
        """JSON-safe record, optionally limited to ``fields`` (id and version always included)."""
        wanted = None if not fields else set(fields) | {"id", "version"}
        out = {"object": obj.name}
        for fd in obj.fields:
            if wanted is None or fd.name in wanted:
                value = values.get(fd.name)
                out[fd.name] = None if value is None else to_api_value(fd, value)
        return out

    def load_row(self, obj: ObjectDef, record_id: str):
        """The row of ``record_id``, or NotFound (also for ids of other tenants or objects)."""
        model = self._model(obj)
        stmt = select(model).where(model.id == str(record_id))
        if obj.model is None:
            stmt = stmt.where(Record.object == obj.name)
        row = self.session.scalars(stmt).first()
        if row is None:
            raise NotFound(f"{obj.label} {record_id} not found")
        return row

    def get(self, obj_name: str, record_id: str, fields: list[str] | None = None) -> dict:
        """One record as the API shows it (read through the object's plan, like a list page)."""
        obj = self.obj(obj_name)
        self.allow(obj, "read")
        self._check_fields(obj, fields)
        plan = read_plan(obj, self._model(obj), self._json_col(obj))
        self.session.flush()  # a Core statement does not autoflush: this transaction's changes first
        row = self.session.connection().execute(plan.by_id, {"record_id": str(record_id),
                                                             "object_name": obj.name}).first()
        if row is None:
            raise NotFound(f"{obj.label} {record_id} not found")
        return plan.api(row, None if not fields else set(fields) | {"id", "version"})

    # -- writing ------------------------------------------------------------------------------
    def create(self, obj_name: str, data: dict, *, action: str = "create") -> dict:
        """Validate and insert a record; audit and ``<object>.created`` in the same transaction."""
        obj = self.obj(obj_name)
        self.allow(obj, "create")
        values = load_create(obj, data, self._cache_key(obj))
        values.setdefault("owner_id", None)
        if values["owner_id"] is None:
            values["owner_id"] = self.ctx.user_id
        row = self.insert_values(obj, values, action=action)
        return self._api_of_created(obj, row)

    def create_checked(self, obj_name: str, data: dict, dedup_policy: str = "block") -> dict:
        """:meth:`create` with the object's duplicate rule applied before the insert: an exact
        duplicate is a Conflict unless ``dedup_policy`` is ``allow``; look-alikes come back
        beside the record. ``{"record", "duplicates"}``."""
        if dedup_policy not in ("block", "allow"):
            raise ValidationFailed("dedup must be 'block' or 'allow'", errors={"dedup": ["block or allow"]})
        notes: dict = {DEDUP_POLICY: dedup_policy}
        obj = self.obj(obj_name)
        self.allow(obj, "create")
        values = load_create(obj, data, self._cache_key(obj))
        values.setdefault("owner_id", None)
        if values["owner_id"] is None:
            values["owner_id"] = self.ctx.user_id
        row = self.insert_values(obj, values, notes=notes)
        return {"record": self._api_of_created(obj, row), "duplicates": notes.get(DUPLICATES, [])}

    def _api_of_created(self, obj: ObjectDef, row) -> dict:
        """The API form of a record just inserted: the one its audit entry and event carry, built
        once, unless the write's pipeline changed the row since (every later change goes through
        :meth:`update_values`, which moves its version)."""
        made = self._created
        if made is not None and made[0] is row and made[1] == row.version:
            return dict(made[2])
        return self.to_api(obj, self.values_of(obj, row))

    def lock_keys(self, keys: Iterable[str]) -> None:
        """Hold a transaction-scoped lock on each of ``keys`` (of this tenant) until the commit
        or rollback, from the transaction's next statement on. PostgreSQL: advisory locks, taken
        in a fixed order (no deadlock between two writers); SQLite serialises writers already."""
        tenant = self.session.info.get("tenant_id") or ""
        # Queued (mosaic.db.batch): the locks go out in the round trip of the duplicate query
        # that follows them, and are held before that query takes its snapshot.
        defer_locks(self.session, (f"{tenant}\x1f{key}" for key in keys))

    def _check_duplicates(self, obj: ObjectDef, behaviour: Behaviour, w: Write) -> None:
        policy = w.notes.get(DEDUP_POLICY)
        if policy is None:
            return
        self.lock_keys(behaviour.duplicate_keys(self, obj, w.values))
        found = behaviour.duplicates(self, obj, w.values)
        exact = [d for d in found if d["reason"] in behaviour.exact_reasons]
        if exact and policy != "allow":
            raise Conflict(f"a {obj.label.lower()} with the same {exact[0]['reason']} exists", duplicates=exact)
        w.notes[DUPLICATES] = found

    def insert_values(self, obj: ObjectDef, values: dict, *, action: str = "create", emit_event: bool = True,
                      notes: dict | None = None):
        """Insert already-validated python ``values``; the path imports share with :meth:`create`."""
        behaviour = self.behaviours.get(obj.name)
        if behaviour:
            behaviour.before_save(self, obj, values, None)
        w = Write(obj, action, None, values, notes=notes if notes is not None else {})
        try:
            return self._insert(obj, w, behaviour, emit_event)
        except BaseException:
            self._abort(w)
            raise

    def _abort(self, w: Write) -> None:
        for step in reversed(self.steps):
            step.abort(self, w)

    def _insert(self, obj: ObjectDef, w: Write, behaviour: Behaviour | None, emit_event: bool):
        for step in self.steps:
            step.before_write(self, w)
        values = w.values
        self._check_references(obj, values)
        self._check_unique(obj, values, None)
        if behaviour:  # after the pipeline: the values as they will be stored
            self._check_duplicates(obj, behaviour, w)
        model = self._model(obj)
        row = model()
        if obj.model is None:
            row.object = obj.name
            row.data = {}
        else:
            row.custom = {}
        now = utcnow()
        row.created_at = row.updated_at = now
        self._assign(obj, row, values)
        if behaviour:
            for attr, value in behaviour.columns(self, obj, values).items():
                setattr(row, attr, value)
        self._add_new(obj, model, row)
        after = self.values_of(obj, row)
        api_after = self.to_api(obj, after)
        self._created = (row, row.version, api_after)
        write_change(self.session, self.ctx.actor, obj.name, row.id, w.action, {}, api_after)
        w.row, w.after = row, after
        if emit_event:
            w.event = self._emit(obj, "created", row, {"record": api_after})
        for step in self.steps:
            step.after_write(self, w)
        if behaviour:
            behaviour.after_save(self, obj, row, None, after)
        return row

    def _add_new(self, obj: ObjectDef, model, row) -> None:
        """Insert the new ``row`` and make it a persistent object of the session.

        On PostgreSQL the INSERT is queued (:mod:`mosaic.db.batch`) to ride with the write's next
        statement (the audit entry, event and request log go with it at the commit), and the row
        joins the session as if loaded: what the ORM's unit of work would add to one INSERT is
        its cost. Every column is written, with its default where unset, so the object holds
        what the row holds and one statement shape serves every create of the object. Unique
        values are checked by queries before (:meth:`_check_unique`); no index can refuse the
        row later."""
        if self.dialect != "postgresql":
            self.session.add(row)
            self._flush_write(obj.label, None)
            return
        row.tenant_id = self.session.info["tenant_id"]
        state, values = row.__dict__, {}
        for key, name, default in _column_plan(model):
            if key not in state:
                if default is _SERVER_DEFAULT:
                    continue  # the database's default: the ORM would omit it too
                if default is None:
                    value = None
                else:
                    value = default.arg(None) if default.is_callable else default.arg
                setattr(row, key, value)
            values[name] = state[key]
        defer_insert(self.session, model.__table__, values)
        make_transient_to_detached(row)
        self.session.add(row)

    def update(self, obj_name: str, record_id: str, data: dict, expected_version: int | None = None) -> dict:
        """PATCH semantics; ``expected_version`` (If-Match) → 412 on a stale write."""
        obj = self.obj(obj_name)
        row = self.load_row(obj, record_id)
        self._check_version(row, expected_version)
        self.allow(obj, "update", row)
        values = load_update(obj, data, self._cache_key(obj))
        self.update_values(obj, row, values, expected_version=expected_version)
        return self.to_api(obj, self.values_of(obj, row))

    def update_values(self, obj: ObjectDef, row, values: dict, *, action: str = "update",
                      notes: dict | None = None, expected_version: int | None = None) -> dict:
        """Apply validated python ``values`` to ``row``; returns the changes {field: [old, new]}.
        ``expected_version`` (If-Match) makes a lost race a 412 rather than a 409."""
        before = self.values_of(obj, row)
        behaviour = self.behaviours.get(obj.name)
        if behaviour:
            behaviour.before_save(self, obj, values, before)
        changed = {k: v for k, v in values.items() if before.get(k) != v}
        if not changed:
            return {}
        w = Write(obj, action, before, changed, notes=notes if notes is not None else {})
        try:
            return self._update(obj, row, w, behaviour, expected_version)
        except BaseException:
            self._abort(w)
            raise

    def _update(self, obj: ObjectDef, row, w: Write, behaviour: Behaviour | None,
                expected_version: int | None = None) -> dict:
        before = w.before
        for step in self.steps:
            step.before_write(self, w)
        changed = {k: v for k, v in w.values.items() if before.get(k) != v}
        if not changed:
            self._abort(w)
            return {}
        w.values = changed
        self._check_references(obj, changed, before)
        self._check_unique(obj, changed, row.id)
        self._assign(obj, row, changed)
        if behaviour:
            for attr, value in behaviour.columns(self, obj, {**before, **changed}).items():
                setattr(row, attr, value)
        row.updated_at = utcnow()
        self._flush_write(obj.label, row.id, expected_version)
        after = self.values_of(obj, row)
        api_before, api_after = self.to_api(obj, before), self.to_api(obj, after)
        changes = {k: [api_before.get(k), api_after.get(k)] for k in changed}
        write_change(self.session, self.ctx.actor, obj.name, row.id, w.action, api_before, api_after)
        w.row, w.after = row, after
        w.event = self._emit(obj, "updated", row, {"changes": changes, "record": api_after})
        for step in self.steps:
            step.after_write(self, w)
        if behaviour:
            behaviour.after_save(self, obj, row, before, after)
        return changes

    def delete(self, obj_name: str, record_id: str, expected_version: int | None = None) -> None:
        """Delete a record; audit and ``<object>.deleted``."""
        obj = self.obj(obj_name)
        row = self.load_row(obj, record_id)
        self._check_version(row, expected_version)
        self.allow(obj, "delete", row)
        self.delete_row(obj, row, expected_version=expected_version)

    def delete_row(self, obj: ObjectDef, row, *, action: str = "delete", event: str = "deleted",
                   extra: dict | None = None, expected_version: int | None = None) -> None:
        """Delete ``row`` with its audit entry and event (merge uses this for the losing records);
        ``expected_version`` (If-Match) makes a lost race a 412 rather than a 409."""
        before = self.values_of(obj, row)
        behaviour = self.behaviours.get(obj.name)
        if behaviour:
            behaviour.before_delete(self, obj, row, before)
        api_before = self.to_api(obj, before)
        write_change(self.session, self.ctx.actor, obj.name, row.id, action, api_before, {})
        self._emit(obj, event, row, {"record": api_before, **(extra or {})})
        record_id = row.id
        self.session.delete(row)
        self._flush_write(obj.label, record_id, expected_version)

    # -- events --------------------------------------------------------------------------------
    def _emit(self, obj: ObjectDef, verb: str, row, data: dict) -> dict:
        return self.emit_envelope(make_envelope(f"{obj.name}.{verb}", self.session.info["tenant_id"],
                                                self.ctx.actor, obj.name, row.id, data, row.version),
                                  validated=True)

    def emit_envelope(self, envelope: dict, *, validated: bool = False) -> dict:
        """Write ``envelope`` to the outbox in this transaction; every event a store emits goes
        through here (webhook subscribers get it from the hub, which consumes what is published).
        ``validated``: it comes straight from ``make_envelope``, which checked it already."""
        write_event(self.session, envelope, traceparent=current_traceparent(), validated=validated)
        return envelope

    def emit_event(self, obj: ObjectDef, verb: str, row, data: dict) -> dict:
        """Emit ``<object>.<verb>`` for ``row`` through the outbox (domain actions: merged, logged…)."""
        return self._emit(obj, verb, row, data)
