"""Tenant metadata: custom fields and custom objects, stored per service, cached per process.

Every change bumps the tenant's :class:`MetadataVersion`. Readers check that one number per call
(one primary-key lookup) and rebuild their in-process view only when it moved, so every process
of a service sees every other's changes as soon as they commit.

All functions take a *tenant session* (``session.info["tenant_id"]``); they flush but never
commit, so a metadata change commits together with whatever else the caller does (audit, outbox).
"""
from __future__ import annotations

import time
import weakref

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, Integer, String, UniqueConstraint, column, delete, event, func,
                        select, table, type_coerce, update)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from mosaic.db import Base, JSONType, TenantLeak, TenantScoped, UTCDateTime, new_id, utcnow
from mosaic.errors import Conflict, NotFound, ValidationFailed
from mosaic.metadata.cache import LRUCache
from mosaic.metadata.definitions import validate_field, validate_field_change, validate_object
from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, ObjectDef
from mosaic.metadata.index_builds import FieldIndex, request_field_index, with_index_states
from mosaic.metadata.indexes import CORE_JSON_COLUMN, RECORDS_JSON_COLUMN, RECORDS_TABLE
from mosaic.metadata.registry import ObjectRegistry
from mosaic.metadata.required import require_values

log = logging.getLogger(__name__)

#: tenants whose resolved objects one process keeps per database.
TENANT_CACHE_SIZE = 1000
#: set on a session whose transaction changed metadata: until it ends, what it reads may never
#: commit, so it must not enter the shared cache under a version number another commit may take.
_DIRTY = "mosaic.metadata.dirty"


class FieldDefinition(TenantScoped, Base):
    """One custom field of one object (core or custom) of one tenant."""

    __tablename__ = "metadata_fields"
    __table_args__ = (UniqueConstraint("tenant_id", "object", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    object: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    #: display order within the object; ids are time-ordered only to the millisecond.
    position: Mapped[int] = mapped_column(Integer, default=0)
    definition: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ObjectDefinition(TenantScoped, Base):
    """One custom object of one tenant (its fields are :class:`FieldDefinition` rows)."""

    __tablename__ = "metadata_objects"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MetadataVersion(TenantScoped, Base):
    """A counter per tenant, bumped by every metadata change."""

    __tablename__ = "metadata_versions"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


METADATA_TABLES = [FieldDefinition.__table__, ObjectDefinition.__table__, MetadataVersion.__table__,
                   FieldIndex.__table__]

#: the generic table of custom-object records (its ORM model belongs to ``mosaic.records``);
#: only the columns this module touches, always filtered by tenant explicitly.
_records = table(RECORDS_TABLE, column("tenant_id", String), column("object", String),
                 column(RECORDS_JSON_COLUMN, JSON))


@event.listens_for(Session, "after_transaction_end")
def _forget_dirty(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_DIRTY, None)


def _tenant(session: Session) -> str:
    tenant = session.info.get("tenant_id")
    if not tenant:
        raise TenantLeak("metadata functions need a tenant session")
    return tenant


#: every tenant cache of this process, so a metadata change here drops its tenant's entries at once
_CACHES: "weakref.WeakSet[LRUCache]" = weakref.WeakSet()


def metadata_version(session: Session) -> int:
    """The tenant's metadata version (0 before its first change)."""
    _tenant(session)
    return session.scalar(select(MetadataVersion.version)) or 0


def _bump(session: Session) -> None:
    tenant = _tenant(session)
    session.info[_DIRTY] = True
    for cache in list(_CACHES):
        cache.pop(tenant)
    # UPDATE ... SET version = version + 1 takes the row lock, so concurrent changes of one
    # tenant serialise and each commit gets its own number.
    stmt = (update(MetadataVersion).values(version=MetadataVersion.version + 1)
            .execution_options(synchronize_session=False))
    if session.execute(stmt).rowcount:
        return
    try:
        with session.begin_nested():
            session.add(MetadataVersion(tenant_id=tenant, version=1))
    except IntegrityError:  # another transaction created the row first
        session.execute(stmt)


def _engine_of(session: Session):
    bind = session.get_bind()
    return getattr(bind, "engine", bind)


def _custom_object(service: str, definition: dict, fields: list[FieldDef]) -> ObjectDef:
    return ObjectDef.from_dict({**definition, "service": service, "kind": "custom",
                                "fields": []}).with_fields(SYSTEM_FIELDS + tuple(fields))


def _load(session: Session, registry: ObjectRegistry) -> dict[str, ObjectDef]:
    field_rows = session.scalars(
        select(FieldDefinition).order_by(FieldDefinition.position, FieldDefinition.id)).all()
    by_object: dict[str, list[FieldDef]] = defaultdict(list)
    for row in field_rows:
        by_object[row.object].append(FieldDef.from_dict(row.definition))
    objects: dict[str, ObjectDef] = {}
    for obj in registry.all():
        extra = [f for f in by_object.get(obj.name, ()) if obj.field(f.name) is None]
        if len(extra) != len(by_object.get(obj.name, ())):
            # A service release added a core field a tenant already had as a custom one: the
            # core field wins; the custom one's data stays in JSON until removed.
            log.warning("custom fields of %s shadowed by core fields", obj.name)
        objects[obj.name] = obj.with_fields(extra) if extra else obj
    for row in session.scalars(select(ObjectDefinition).order_by(ObjectDefinition.name)):
        if row.name in objects:
            log.warning("custom object %s shadowed by an in-code object", row.name)
            continue
        objects[row.name] = _custom_object(registry.service, row.definition,
                                           by_object.get(row.name, []))
    return with_index_states(session, objects)


def _stored(fdef: FieldDef) -> dict:
    """The definition as stored: index state is the index's, read when the view loads."""
    data = fdef.to_dict()
    data.pop("index_status", None)
    data.pop("index_error", None)
    return data


def tenant_objects(session: Session, registry: ObjectRegistry) -> dict[str, ObjectDef]:
    """Every object the tenant has in this service: the registry's, with the tenant's custom
    fields appended, and the tenant's custom objects. Cached per (database, tenant) until the
    tenant's metadata version changes."""
    return tenant_objects_versioned(session, registry)[0]


def tenant_objects_versioned(session: Session, registry: ObjectRegistry, max_age: float = 0.0,
                             plugins: frozenset[str] | None = None) -> tuple[dict[str, ObjectDef], int]:
    """:func:`tenant_objects` and the metadata version they are at.

    With ``max_age`` > 0 a cached entry younger than that many seconds is trusted without
    asking the database for the version: a hot path (every record request) saves a round trip,
    and another process's metadata change is seen at most ``max_age`` later. Changes made in
    this process drop the entry at once.

    With ``plugins`` (the plugins the caller's tenant runs), objects and fields of other plugins
    are left out (:func:`mosaic.plugins.visibility.visible_objects`); the filtered view is cached
    beside the full one.
    """
    tenant = _tenant(session)
    dirty = session.info.get(_DIRTY)
    cache = registry.tenant_cache.get(_engine_of(session))
    if cache is None:
        cache = registry.tenant_cache.setdefault(_engine_of(session), LRUCache(TENANT_CACHE_SIZE))
        _CACHES.add(cache)
    hit = None if dirty else cache.get(tenant)
    now = time.monotonic()
    if hit is not None and max_age > 0 and now - hit[2] < max_age:
        return _view(hit, plugins), hit[0]
    version = metadata_version(session)  # read first: definitions read after are never older
    if hit is not None and hit[0] == version:
        hit = (version, hit[1], now, hit[3])
        cache.put(tenant, hit)
        return _view(hit, plugins), version
    entry = (version, _load(session, registry), now, {})
    if not dirty:
        cache.put(tenant, entry)
    return _view(entry, plugins), version


def _view(entry: tuple, plugins: frozenset[str] | None) -> dict[str, ObjectDef]:
    if plugins is None:
        return dict(entry[1])
    view = entry[3].get(plugins)
    if view is None:
        from mosaic.plugins.visibility import visible_objects

        view = entry[3][plugins] = visible_objects(entry[1], plugins)
    return dict(view)


def tenant_object(session: Session, registry: ObjectRegistry, name: str) -> ObjectDef:
    """The tenant's object called ``name``; :class:`NotFound` if it has none."""
    obj = tenant_objects(session, registry).get(name)
    if obj is None:
        raise NotFound(f"Unknown object '{name}'.")
    return obj


def tenant_object_by_path(session: Session, registry: ObjectRegistry, path: str) -> ObjectDef:
    """The tenant's object whose record API is at ``/{path}``; :class:`NotFound` otherwise."""
    for obj in tenant_objects(session, registry).values():
        if obj.path == path:
            return obj
    raise NotFound(f"Unknown object path '{path}'.")


def _flush_unique(session: Session, row: Any, message: str) -> None:
    # A concurrent transaction may have taken the name since we checked: the unique constraint
    # is the real guard. The savepoint keeps the caller's transaction usable.
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(message) from None


def _next_position(session: Session, object_name: str) -> int:
    last = session.scalar(select(func.max(FieldDefinition.position))
                          .where(FieldDefinition.object == object_name))
    return 0 if last is None else last + 1


def add_field(session: Session, registry: ObjectRegistry, object_name: str,
              definition: dict) -> FieldDef:
    """Add a custom field to the tenant's object ``object_name`` (see
    :func:`mosaic.metadata.definitions.validate_field` for the rules); indexes it if asked.
    A required field is backfilled with its default into existing records, or refused without
    one (:func:`mosaic.metadata.required.require_values`)."""
    objects = tenant_objects(session, registry)
    obj = objects.get(object_name)
    if obj is None:
        raise NotFound(f"Unknown object '{object_name}'.")
    fdef = validate_field(definition, obj, objects.keys())
    require_values(session, obj, fdef)
    _flush_unique(session, FieldDefinition(object=obj.name, name=fdef.name,
                                           position=_next_position(session, obj.name),
                                           definition=_stored(fdef)),
                  f"A field named '{fdef.name}' already exists on {obj.name}.")
    _bump(session)
    status = request_field_index(session, obj, fdef)  # built in the background: index_builds
    return fdef.evolve(index_status=status) if status else fdef


def _custom_field_row(session: Session, obj: ObjectDef, field_name: str,
                      verb: str) -> FieldDefinition:
    fdef = obj.field(field_name)
    if fdef is None:
        raise NotFound(f"{obj.name} has no field '{field_name}'.")
    if not fdef.custom:
        kind = "system" if fdef in SYSTEM_FIELDS else "core"
        raise ValidationFailed(f"'{field_name}' is a {kind} field of {obj.name} and cannot be "
                               f"{verb}.", errors={"name": [f"A {kind} field cannot be {verb}."]})
    row = session.scalar(select(FieldDefinition).where(FieldDefinition.object == obj.name,
                                                       FieldDefinition.name == field_name))
    if row is None:  # removed by another process since our view was built
        raise NotFound(f"{obj.name} has no field '{field_name}'.")
    return row


def change_field(session: Session, registry: ObjectRegistry, object_name: str, field_name: str,
                 changes: dict) -> FieldDef:
    """Change a custom field: anything but its name and type. Existing records that violate
    the new definition are kept; they are checked on their next write. Making the field
    required backfills its default into records without a value, or is refused without one."""
    objects = tenant_objects(session, registry)
    obj = objects.get(object_name)
    if obj is None:
        raise NotFound(f"Unknown object '{object_name}'.")
    row = _custom_field_row(session, obj, field_name, "changed")
    fdef = validate_field_change(obj.field(field_name), changes, obj, objects.keys())
    if fdef.required and not obj.field(field_name).required:
        require_values(session, obj, fdef)
    row.definition = _stored(fdef)
    row.updated_at = utcnow()
    session.flush()
    _bump(session)
    status = request_field_index(session, obj, fdef)
    return fdef.evolve(index_status=status) if status else fdef


def _purge_values(session: Session, obj: ObjectDef, field_name: str) -> None:
    """Remove a deleted field's values from every record of the tenant, so a later field of the
    same name (maybe of another type) never sees them."""
    tenant = _tenant(session)
    if obj.model is not None:
        target = obj.model.__table__
        col = target.c[CORE_JSON_COLUMN]
        where = [target.c.tenant_id == tenant]
    else:
        target, col = _records, _records.c[RECORDS_JSON_COLUMN]
        where = [_records.c.tenant_id == tenant, _records.c.object == obj.name]
    if session.get_bind().dialect.name == "postgresql":
        jcol = type_coerce(col, JSONB)
        where.append(jcol.has_key(field_name))
        new_value = jcol.op("-", return_type=JSONB)(field_name)
    else:  # SQLite JSON1; the name passed NAME_RE, so the path needs no escaping
        path = f'$."{field_name}"'
        where.append(func.json_type(col, path).is_not(None))
        new_value = func.json_remove(col, path)
    values = {col.name: new_value}
    if "updated_at" in target.c:
        # Not an edit of the record: keep its updated_at (a Core onupdate would move it).
        values["updated_at"] = target.c.updated_at
    session.execute(update(target).where(*where).values(values)
                    .execution_options(synchronize_session=False))


def remove_field(session: Session, registry: ObjectRegistry, object_name: str,
                 field_name: str) -> None:
    """Remove a custom field and its values. Core and system fields cannot be removed, nor the
    title field of a custom object."""
    obj = tenant_object(session, registry, object_name)
    row = _custom_field_row(session, obj, field_name, "removed")
    from mosaic.formulas import dependents  # here: mosaic.formulas imports this package

    users = dependents(obj.fields, field_name)
    if users:
        raise ValidationFailed(f"'{field_name}' is used by formula fields: {', '.join(users)}.",
                               errors={"name": [f"Used by the formulas of {', '.join(users)}; change them first."]})
    if obj.kind == "custom" and obj.title_field == field_name:
        raise ValidationFailed(f"'{field_name}' is the title field of {obj.name}.",
                               errors={"name": ["The title field cannot be removed."]})
    session.delete(row)
    session.flush()
    _purge_values(session, obj, field_name)
    _bump(session)


def create_object(session: Session, registry: ObjectRegistry, definition: dict) -> ObjectDef:
    """Create a custom object (name, label, plural, description, title_field, fields); its
    records live in the service's ``records`` table."""
    objects = tenant_objects(session, registry)
    obj = validate_object(definition, service=registry.service, taken_names=objects.keys(),
                          taken_paths={o.path for o in objects.values()},
                          known_objects=objects.keys())
    meta = obj.to_dict()
    stored = {k: meta[k] for k in ("name", "label", "plural", "title_field", "description")}
    _flush_unique(session, ObjectDefinition(name=obj.name, definition=stored),
                  f"An object named '{obj.name}' already exists.")
    for position, fdef in enumerate(obj.custom_fields):
        session.add(FieldDefinition(object=obj.name, name=fdef.name, position=position,
                                    definition=_stored(fdef)))
    session.flush()
    _bump(session)
    for fdef in obj.custom_fields:
        request_field_index(session, obj, fdef)
    return obj


def count_records(session: Session, object_name: str) -> int:
    """How many records of the custom object ``object_name`` the tenant has."""
    return session.scalar(select(func.count()).select_from(_records).where(
        _records.c.tenant_id == _tenant(session), _records.c.object == object_name)) or 0


def delete_object(session: Session, registry: ObjectRegistry, name: str,
                  force: bool = False) -> int:
    """Delete a custom object and its fields; returns how many records were deleted.

    Refused (:class:`Conflict`) while it has records, unless ``force`` (then they are deleted
    too), and while another object's lookup field refers to it.
    """
    objects = tenant_objects(session, registry)
    obj = objects.get(name)
    if obj is None:
        raise NotFound(f"Unknown object '{name}'.")
    if obj.kind != "custom":
        raise ValidationFailed(f"'{name}' is a {obj.kind} object and cannot be deleted.",
                               errors={"name": ["Only custom objects can be deleted."]})
    targets = {name, f"{registry.service}.{name}"}
    refs = sorted(f"{o.name}.{f.name}" for o in objects.values() if o.name != name
                  for f in o.fields if f.lookup in targets)
    if refs:
        raise Conflict(f"'{name}' is referenced by lookup fields: {', '.join(refs)}. "
                       "Remove them first.", references=refs)
    tenant = _tenant(session)
    count = count_records(session, name)
    if count and not force:
        raise Conflict(f"'{name}' has {count} records; delete them first or force the deletion.",
                       records=count)
    if count:
        session.execute(delete(_records).where(_records.c.tenant_id == tenant,
                                               _records.c.object == name))
    session.execute(delete(FieldDefinition).where(FieldDefinition.object == name)
                    .execution_options(synchronize_session=False))
    session.execute(delete(ObjectDefinition).where(ObjectDefinition.name == name)
                    .execution_options(synchronize_session=False))
    _bump(session)
    return count


def bump_version(session: Session) -> None:
    """Mark the tenant's metadata as changed (processes, rules, webhook subscriptions…): every
    process rebuilds its cached view of the tenant at its next request."""
    _bump(session)
