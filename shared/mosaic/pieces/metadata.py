"""Metadata: the service's objects as the tenant sees them, and tenant-defined fields and objects."""
from __future__ import annotations

from mosaic.context import Tenancy
from mosaic.entrypoints import rpc
from mosaic.errors import ValidationFailed
from mosaic.metadata import store as metadata
from mosaic.pieces.base import Piece
from mosaic.records.provider import Records
from mosaic.request_log import write_once


class Metadata(Piece):
    """``describe`` (the gateway's object directory and OpenAPI), ``describe_core`` (the document
    shown before login), and the admin's ``add_field``, ``change_field``, ``remove_field``,
    ``create_object``, ``delete_object``. Needs the platform's metadata tables."""

    needs = {"ctx": Tenancy, "data": Records}

    @rpc
    def describe(self):
        """Every object of the caller's tenant, with its fields (OpenAPI, metadata API)."""
        self.ctx.tenant()
        store = self.data.store()
        out = []
        for obj in store.objects.values():
            item = obj.to_dict()
            processes = store.logic.processes(obj.name)
            if processes:
                item["processes"] = [process_summary(p.definition) for p in processes]
            out.append(item)
        return out

    @rpc
    def describe_core(self):
        """The service's core objects with their core fields, no tenant needed: the OpenAPI
        document shown before login."""
        out = []
        for obj in self.data.registry.all():
            if obj.namespace:  # a plugin's object: shown to the tenants that enabled the plugin
                continue
            item = obj.to_dict()
            item["fields"] = [f for f, fdef in zip(item["fields"], obj.fields) if not fdef.namespace]
            out.append(item)
        return out

    @rpc
    @write_once
    def add_field(self, object_name, definition):
        self.ctx.require_role("admin")
        self._refuse_plugin_object(object_name)
        fd = metadata.add_field(self.data.session, self.data.registry, object_name, definition)
        return fd.to_dict()

    @rpc
    @write_once
    def change_field(self, object_name, field_name, changes):
        self.ctx.require_role("admin")
        fd = metadata.change_field(self.data.session, self.data.registry, object_name, field_name, changes)
        return fd.to_dict()

    @rpc
    @write_once
    def remove_field(self, object_name, field_name):
        self.ctx.require_role("admin")
        metadata.remove_field(self.data.session, self.data.registry, object_name, field_name)

    @rpc
    @write_once
    def create_object(self, definition):
        self.ctx.require_role("admin")
        obj = metadata.create_object(self.data.session, self.data.registry, definition)
        return obj.to_dict()

    @rpc
    @write_once
    def delete_object(self, name, force=False):
        self.ctx.require_role("admin")
        metadata.delete_object(self.data.session, self.data.registry, name, force=bool(force))

    def _refuse_plugin_object(self, object_name):
        """Fields on a plugin's object are the plugin's to declare (its next version may add the
        same name); tenants add theirs to core and custom objects."""
        obj = self.data.store().objects.get(object_name)
        if obj is not None and obj.kind == "plugin":
            raise ValidationFailed(f"{obj.label} belongs to the {obj.namespace} plugin; custom fields go on "
                                   "core or custom objects", errors={"object": ["a plugin's object"]})


def process_summary(definition: dict) -> dict:
    """What the gateway and OpenAPI need to know of a process."""
    return {"name": definition["name"], "label": definition.get("label") or definition["name"],
            "field": definition["field"], "initial": definition.get("initial"),
            "stages": [s["name"] for s in definition.get("stages", ())],
            "transitions": [{"name": t.get("name"), "from": t.get("from"), "to": t.get("to"),
                             "approval": bool(t.get("approval"))} for t in definition.get("transitions", ())],
            "plugin": definition.get("plugin")}
