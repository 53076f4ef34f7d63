"""Definitions: processes, automation rules and validation rules as the tenant's metadata."""
from __future__ import annotations

from mosaic.context import Tenancy
from mosaic.entrypoints import rpc
from mosaic.logic import definitions as logic_defs
from mosaic.logic.secrets import public_definition
from mosaic.pieces.base import Piece
from mosaic.records.provider import Records
from mosaic.request_log import write_once
from mosaic.webhooks.egress import egress_policy
from mosaic.webhooks.sealing import secret_box


class Definitions(Piece):
    """``list_definitions``, ``put_definition``, ``delete_definition`` for the kinds ``process``,
    ``automation_rule`` and ``validation_rule`` (the gateway's ``/metadata/processes``, ``/rules``,
    ``/validation-rules`` and the configuration export). Needs the platform's logic tables; the
    rules it stores act on writes through the record store, and scheduled and queued actions run
    on :class:`~mosaic.pieces.jobs.AutomationJobs`."""

    needs = {"ctx": Tenancy, "data": Records}

    @rpc
    def list_definitions(self, kind):
        """The tenant's own ``kind`` definitions and those of its plugins (read-only); webhook
        secrets masked, and webhook URLs too for a caller who is not an admin."""
        admin = self.ctx.tenant().has_role("admin", "system")
        store = self.data.store()
        broken = store.logic.errors  # a field or plugin it uses is gone: the runtime skips it
        own = [{**row.definition, "active": row.active,
                **({"error": broken[f"{kind}:{row.name}"]} if f"{kind}:{row.name}" in broken else {})}
               for row in logic_defs.list_definitions(store.session, kind)]
        host = store.logic.host
        attr = {"process": "processes", "automation_rule": "automation_rules",
                "validation_rule": "validation_rules"}[kind]
        plugin = [d for d in getattr(host.declarations, attr)
                  if d.get("plugin") in store.logic.enabled and not host.plugins[d["plugin"]].manifest.builtin
                  and d.get("object") in store.objects]
        return [public_definition(d, admin=admin) for d in own + plugin]

    @rpc
    @write_once
    def put_definition(self, kind, definition):
        self.ctx.require_role("admin")
        store = self.data.store()
        processes = store.logic.processes(definition.get("object")) if isinstance(definition, dict) else []
        return logic_defs.put_definition(store.session, store.objects, kind, definition, processes=processes,
                                         box=secret_box(self.data.settings),
                                         policy=egress_policy(self.data.settings))

    @rpc
    @write_once
    def delete_definition(self, kind, name):
        self.ctx.require_role("admin")
        logic_defs.delete_definition(self.data.session, kind, name)
