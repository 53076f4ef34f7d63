"""The write pipeline: what runs around every create and update of every record.

The record engine builds one :class:`Write` per change and passes it through the tenant's
*steps* (processes, automation, formulas, validation rules, plugins) before and after the row
is written, all in the caller's transaction. A step sees the values about to be written and may
add to them (a rule's field update, a computed formula) or refuse the write with
:class:`~mosaic.errors.ValidationFailed`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mosaic.metadata.fields import ObjectDef

if TYPE_CHECKING:
    from mosaic.records.store import RecordStore


@dataclass
class Write:
    """One change of one record on its way through the pipeline."""

    obj: ObjectDef
    action: str
    before: dict | None
    values: dict
    row: Any = None
    after: dict | None = None
    event: dict | None = None
    notes: dict = field(default_factory=dict)

    @property
    def is_create(self) -> bool:
        """True for a new record (nothing before it)."""
        return self.before is None

    @property
    def merged(self) -> dict:
        """The record as it will be saved: its values before, overlaid with the changes."""
        return {**(self.before or {}), **self.values}

    def changed(self) -> set[str]:
        """Names of the fields whose value this write changes."""
        before = self.before or {}
        return {k for k, v in self.values.items() if before.get(k) != v}


class Step:
    """Something the platform (or a plugin) does around every write. Every method is optional."""

    def active(self, store: "RecordStore", obj: ObjectDef) -> bool:
        """Whether this step may do anything for ``obj`` in this tenant. Bulk paths (imports)
        take the per-record path whenever a step is active."""
        return True

    def before_write(self, store: "RecordStore", w: Write) -> None:
        """Adjust ``w.values`` or refuse the write (raise ValidationFailed) before it is saved."""

    def after_write(self, store: "RecordStore", w: Write) -> None:
        """React in the same transaction after the row, its audit entry and its event are written."""

    def abort(self, store: "RecordStore", w: Write) -> None:
        """The write failed after ``before_write`` ran (the caller rolls back): drop what the
        step holds for it."""

    def job_handlers(self) -> dict:
        """The background job kinds this step queues, with the function that runs each
        (``fn(store, job)``): a service registers them when its container starts, so a fresh
        replica runs every kind before it has served a request."""
        return {}
