"""The record API: list, get, create, update, delete, history and duplicates of any object the
service hosts (core, plugin or custom)."""
from __future__ import annotations

from mosaic.audit import history
from mosaic.context import Tenancy
from mosaic.entrypoints import rpc
from mosaic.errors import ValidationFailed
from mosaic.pieces.base import Piece
from mosaic.records.provider import Records
from mosaic.records.store import Behaviour
from mosaic.request_log import write_once


class RecordApi(Piece):
    """``list_records``, ``get_record``, ``create_record``, ``update_record``, ``delete_record``,
    ``record_history``, ``find_duplicates``: what the gateway's record routes call. Needs the
    platform's record, audit and outbox tables."""

    needs = {"ctx": Tenancy, "data": Records}

    @rpc
    def list_records(self, object_name, filter=None, sort=None, cursor=None, limit=50, fields=None, count=False):
        self.ctx.tenant()
        return self.data.store().list(object_name, filter=filter, sort=sort, cursor=cursor,
                                      limit=limit, fields=fields, count=bool(count))

    @rpc
    def get_record(self, object_name, record_id, fields=None):
        self.ctx.tenant()
        return self.data.store().get(object_name, record_id, fields)

    @rpc
    @write_once
    def create_record(self, object_name, data, dedup_policy="block"):
        """Create a record. The object's duplicate rule (``Behaviour.duplicates``) runs before
        the insert: an exact duplicate is a 409 unless ``dedup_policy`` is ``allow``; look-alikes
        come back beside the record."""
        self.ctx.tenant()
        return self.data.store().create_checked(object_name, data, dedup_policy)

    @rpc
    def find_duplicates(self, object_name, record_id):
        """Records that look like this one (the object's ``Behaviour.duplicates``)."""
        self.ctx.tenant()
        store = self.data.store()
        obj = store.obj(object_name)
        store.allow(obj, "read")
        behaviour = store.behaviours.get(obj.name)
        if behaviour is None or type(behaviour).duplicates is Behaviour.duplicates:
            raise ValidationFailed(f"{obj.label} records have no duplicate detection",
                                   errors={"object": ["no duplicate detection"]})
        return behaviour.duplicates(store, obj, store.values_of(obj, store.load_row(obj, record_id)),
                                    exclude_id=record_id)

    @rpc
    @write_once
    def update_record(self, object_name, record_id, data, expected_version=None):
        self.ctx.tenant()
        return self.data.store().update(object_name, record_id, data, expected_version)

    @rpc
    @write_once
    def delete_record(self, object_name, record_id, expected_version=None):
        self.ctx.tenant()
        self.data.store().delete(object_name, record_id, expected_version)

    @rpc
    def record_history(self, object_name, record_id, cursor=None, limit=50):
        self.ctx.tenant()
        store = self.data.store()
        obj = store.obj(object_name)
        store.allow(obj, "read")
        store.load_row(obj, record_id)
        return history(store.session, obj.name, record_id, cursor=cursor, limit=limit)
