"""The checks and column plumbing every write of the record engine goes through: permissions and
ownership, optimistic versions, lookups that must exist, unique fields, and where each value is
stored (a column or the JSON column)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError

from mosaic import permissions
from mosaic.errors import Conflict, Forbidden, PreconditionFailed, ValidationFailed
from mosaic.metadata.fields import FieldType, ObjectDef
from mosaic.metadata.schema_factory import to_json_value
from mosaic.records.models import Record
from mosaic.users.directory import check_owner


#: the pair of fields by which a record (an activity) is about a record of any object
RELATED_OBJECT, RELATED_ID = "related_object", "related_id"
#: PostgreSQL SQLSTATEs a concurrent writer causes (not the caller's input): unique_violation,
#: serialization_failure, deadlock_detected
_RACE_CODES = {"23505": "unique value taken", "40001": "serialization failure", "40P01": "deadlock"}


def half_pair_errors(target, related) -> dict[str, list[str]]:
    """A ``related_object``/``related_id`` pair is both or neither: the error of half of one."""
    if related and not target:
        return {RELATED_OBJECT: [f"required with {RELATED_ID}"]}
    if target and not related:
        return {RELATED_ID: [f"required with {RELATED_OBJECT}"]}
    return {}


class RecordChecks:
    """Mixed into :class:`~mosaic.records.store.RecordStore` (it provides ``ctx``, ``session``,
    ``objects``, ``module``, ``_model`` and ``_expr``)."""

    #: how references to other services' records are checked
    #: (:class:`~mosaic.records.references.RemoteRecords`); a service's provider sets it, a bare
    #: store (no nameko container) leaves such references unchecked
    remote = None

    def allow(self, obj: ObjectDef, action: str, row=None) -> None:
        """Refuse (Forbidden) unless the caller's roles may ``action`` records of ``obj``, and,
        where a role may change only its own records, ``row`` is theirs."""
        roles = self.ctx.roles
        if "system" in roles:
            return
        if not permissions.can(roles, obj.name, action, module=self.module):
            raise Forbidden(f"your roles may not {action} {obj.label} records")
        if (row is not None and permissions.own_only(roles, action, obj.name, module=self.module)
                and row.owner_id != self.ctx.user_id):
            raise Forbidden(f"you may only {action} {obj.label} records you own")

    @staticmethod
    def _check_version(row, expected: int | None) -> None:
        if expected is not None and int(expected) != row.version:
            raise PreconditionFailed(f"record is at version {row.version}, not {expected}",
                                     current_version=row.version)

    def _flush_write(self, label: str, record_id: str | None, expected: int | None = None) -> None:
        """Flush a write, turning a lost race into the caller's error: 412 when the caller named
        the version it read (If-Match), 409 otherwise.

        The version check above compares with what *this* transaction read; a concurrent writer
        may commit in between, and the UPDATE/DELETE (``WHERE version = read``) then matches no
        row. After a failed flush the session is unusable until rolled back — touching an
        attribute of a row would raise again — so ``label`` and ``record_id`` come in as plain
        values, read before the flush."""
        try:
            self.session.flush()
        except StaleDataError:
            if expected is not None:
                raise PreconditionFailed(f"{label} {record_id} changed after version {expected} was read; "
                                         "reload and retry") from None
            raise Conflict(f"{label} {record_id} was changed by someone else; reload and retry") from None
        except DBAPIError as exc:
            code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
            if code in _RACE_CODES:
                what = f"{label} {record_id}" if record_id else label
                raise Conflict(f"{what} was written concurrently ({_RACE_CODES[code]}); retry") from None
            raise

    def _assign(self, obj: ObjectDef, row, values: dict) -> None:
        blob = dict((row.custom if obj.model is not None else row.data) or {})
        for name, value in values.items():
            fd = obj.field(name)
            if fd is None:
                continue
            if fd.is_column:
                setattr(row, fd.attr, value)
            elif value is None:
                blob.pop(name, None)
            else:
                blob[name] = to_json_value(fd, value)
        if obj.model is not None:
            row.custom = blob
        else:
            row.data = blob

    def _check_references(self, obj: ObjectDef, values: dict, before: dict | None = None) -> None:
        """What a write names must exist for the tenant (``values`` are the changes, ``before``
        the record they apply to): its owner (a user of the tenant, :mod:`mosaic.users`), a
        lookup's record and a ``related_object``/``related_id`` pair's record — checked in this
        transaction when this service hosts the object, asked of the hosting service otherwise
        (:mod:`mosaic.records.references`)."""
        check_owner(self.session, self.ctx, values, before)
        errors: dict[str, list[str]] = {}
        for name, value in values.items():
            fd = obj.field(name)
            if fd is None or fd.type is not FieldType.LOOKUP or value is None or not fd.lookup:
                continue
            target = self.objects.get(fd.lookup)
            if target is not None:
                if not self._exists(target, value):
                    errors[name] = [f"no {target.label} with id {value}"]
            elif self.remote is not None:
                errors.update(self.remote.errors(self.ctx, fd.lookup, value, object_field=name, id_field=name))
        errors.update(self._related_errors(obj, values, before))
        if errors:
            raise ValidationFailed("Record is invalid.", errors=errors)

    def _exists(self, target: ObjectDef, record_id) -> bool:
        model = self._model(target)
        stmt = select(model.id).where(model.id == str(record_id))
        if target.model is None:
            stmt = stmt.where(Record.object == target.name)
        return self.session.execute(stmt).first() is not None

    def _related_errors(self, obj: ObjectDef, values: dict, before: dict | None) -> dict[str, list[str]]:
        if obj.field(RELATED_OBJECT) is None or obj.field(RELATED_ID) is None:
            return {}
        if RELATED_OBJECT not in values and RELATED_ID not in values:
            return {}
        merged = {**(before or {}), **values}
        target_name, related = merged.get(RELATED_OBJECT), merged.get(RELATED_ID)
        half = half_pair_errors(target_name, related)
        if half or not target_name:
            return half
        target = self.objects.get(target_name)
        if target is not None:
            return {} if self._exists(target, related) else {RELATED_ID: [f"no {target.label} with id {related}"]}
        if self.remote is None:
            return {}
        return self.remote.errors(self.ctx, target_name, related, object_field=RELATED_OBJECT, id_field=RELATED_ID)

    def _check_unique(self, obj: ObjectDef, values: dict, own_id: str | None) -> None:
        errors: dict[str, list[str]] = {}
        model = self._model(obj)
        for name, value in values.items():
            fd = obj.field(name)
            if fd is None or not fd.unique or value is None:
                continue
            probe = value if fd.is_column else to_json_value(fd, value)
            stmt = select(model.id).where(self._expr(obj, fd) == probe)
            if obj.model is None:
                stmt = stmt.where(Record.object == obj.name)
            if own_id is not None:
                stmt = stmt.where(model.id != own_id)
            if self.session.execute(stmt.limit(1)).first() is not None:
                errors[name] = ["must be unique; another record has this value"]
        if errors:
            raise Conflict("a unique field already has this value", errors=errors)

