"""Entrypoints every record-hosting service has, whatever its objects: metadata, the record API,
processes, tenant-defined rules, configuration export and import, the background timers of the
low-code runtime, and plugins' event handlers. (Notifications, the approvers' inbox and webhook
subscriptions belong to the hub, ``services/hub``.)

A service subclasses :class:`RecordService` and declares ``name``, ``ctx = Tenancy(module=...)``
and ``data = Records(...)``; it adds only what is special about its own objects. Entry points
are thin: they check the context and call one domain function with the worker's store; a write's
:func:`~mosaic.request_log.write_once` commits it with its request id, so a redelivered or retried
request is answered with the first outcome instead of running twice.
"""
from __future__ import annotations

import logging
from datetime import timedelta


from mosaic.audit import history
from mosaic.entrypoints import rpc, settings_timer
from nameko.timer import timer
from mosaic.errors import ValidationFailed
from mosaic.events.log import events_since
from mosaic.logic import definitions as logic_defs
from mosaic.metadata import store as metadata
from mosaic.request_log import write_once
from mosaic.records.store import Behaviour
from mosaic.logic.secrets import public_definition
from mosaic.webhooks.egress import egress_policy
from mosaic.webhooks.sealing import secret_box

log = logging.getLogger(__name__)
#: how long finished automation jobs and webhook deliveries (with their attempts) are kept
KEEP_FINISHED = timedelta(days=30)


class RecordService:
    """Base of every record-hosting nameko service (``name``, ``ctx`` and ``data`` come from the subclass)."""

    name = "records"

    # -- health and tenant sync -------------------------------------------------------------------
    @rpc
    def ping(self):
        """Liveness over RPC (the gateway's readiness check)."""
        return {"service": self.name, "ok": True}

    @rpc
    def sync_tenant(self):
        """Record the caller's tenant's enabled plugins (the gateway calls this when they change),
        so timers and event handlers run the right plugins for it."""
        ctx = self.ctx.tenant()
        self.data.store()  # notes the context's plugins (mosaic.records.provider.TenantPluginsCache)
        return {"service": self.name, "plugins": list(ctx.plugins)}

    # -- metadata ---------------------------------------------------------------------------------
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
                item["processes"] = [_process_summary(p.definition) for p in processes]
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

    # -- records ----------------------------------------------------------------------------------
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
        store = self.data.store()
        result = store.create_checked(object_name, data, dedup_policy)
        return result

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
        store = self.data.store()
        record = store.update(object_name, record_id, data, expected_version)
        return record

    @rpc
    @write_once
    def delete_record(self, object_name, record_id, expected_version=None):
        self.ctx.tenant()
        store = self.data.store()
        store.delete(object_name, record_id, expected_version)

    @rpc
    def record_history(self, object_name, record_id, cursor=None, limit=50):
        self.ctx.tenant()
        store = self.data.store()
        obj = store.obj(object_name)
        store.allow(obj, "read")
        store.load_row(obj, record_id)
        return history(store.session, obj.name, record_id, cursor=cursor, limit=limit)

    # -- processes --------------------------------------------------------------------------------
    @rpc
    @write_once
    def transition(self, object_name, record_id, payload):
        """Move a record along its process (or ask for approval)."""
        from mosaic.processes import engine as processes

        self.ctx.tenant()
        body = _body(payload, {"to", "transition", "comment", "process", "expected_version"})
        store = self.data.store()
        result = processes.transition(store, object_name, record_id, to=body.get("to"),
                                      transition=body.get("transition"), comment=body.get("comment"),
                                      process=body.get("process"), expected_version=body.get("expected_version"))
        return result

    @rpc
    @write_once
    def decide(self, object_name, record_id, verdict, payload=None):
        """Approve or reject a record's pending transition."""
        from mosaic.processes import approvals as processes

        self.ctx.tenant()
        body = _body(payload or {}, {"comment", "process"})
        store = self.data.store()
        fn = {"approve": processes.approve, "reject": processes.reject}.get(verdict)
        if fn is None:
            raise ValidationFailed("verdict must be approve or reject", errors={"verdict": ["approve or reject"]})
        result = fn(store, object_name, record_id, comment=body.get("comment"), process=body.get("process"))
        return result

    @rpc
    def transitions(self, object_name, record_id):
        """A record's process history, newest first."""
        from mosaic.processes import approvals as processes

        self.ctx.tenant()
        return processes.history(self.data.store(), object_name, record_id)

    # -- processes, rules and validation rules as metadata -----------------------------------------
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
        stored = logic_defs.put_definition(store.session, store.objects, kind, definition, processes=processes,
                                           box=secret_box(self.data.settings),
                                           policy=egress_policy(self.data.settings))
        return stored

    @rpc
    @write_once
    def delete_definition(self, kind, name):
        self.ctx.require_role("admin")
        logic_defs.delete_definition(self.data.session, kind, name)

    # -- plugins' event handlers ---------------------------------------------------------------------
    def handle_plugin_event(self, envelope):
        """Run the ``mosaic_handle_event`` hooks of the event's tenant's plugins, once per event
        (the subclass's ``domain_events`` handler calls this)."""
        from mosaic.events.consumer import apply_once
        from mosaic.events.envelope import is_internal
        from mosaic.plugins import get_host

        if is_internal(envelope):  # the platform talking to itself (platform.*): no domain event
            return False
        host = get_host()
        provider = self.data.provider
        # The queue is bound only to what some plugin asked for (Host.event_patterns); whether
        # this tenant runs one of them is the question left.
        plugins = provider.tenant_plugins.get(self.data.engine, envelope["tenant_id"])
        if not host.implements("mosaic_handle_event", host.enabled(plugins)):
            return False

        def handle(session, event):
            store = provider.store_on(session, event["tenant_id"], plugins)
            store.logic.hook("mosaic_handle_event")(store=store, event=event, service=self.name)

        return apply_once(self.data.engine, f"{self.name}.plugins", envelope, handle)

    # -- the retained event log ---------------------------------------------------------------------
    @rpc
    def events_since(self, after_seq=0, limit=500, types=None):
        """Replay published events after ``after_seq``: the caller's tenant's, or every tenant's
        for a system caller (read models rebuilt from the log)."""
        ctx = self.ctx.system()
        session = self.data.system() if ("system" in ctx.roles and not ctx.tenant_id) else self.data.session
        if ctx.tenant_id:
            self.ctx.tenant()
        elif "system" not in ctx.roles:
            self.ctx.tenant()  # raises: neither a tenant nor the platform
        return events_since(session, after_seq=int(after_seq), limit=int(limit), types=types)

    # -- background work ------------------------------------------------------------------------------
    @settings_timer("jobs_interval", 1.0)
    def run_jobs(self):
        """Due automation jobs (rule actions, stage timers) and the webhook deliveries of rules'
        ``webhook`` actions (subscriptions' deliveries are the hub's)."""
        from mosaic.automation.jobs import run_due_jobs
        from mosaic.webhooks.delivery import run_due_deliveries

        run_due_jobs(self.data.engine, self.data.provider.open_store, handlers=self.data.provider.job_handlers)
        run_due_deliveries(self.data.engine, policy=egress_policy(self.data.settings),
                           box=secret_box(self.data.settings))

    @timer(interval=3600)
    def purge_finished_work(self):
        """Drop finished automation jobs and webhook deliveries older than :data:`KEEP_FINISHED`
        (a job's key keeps its trigger from firing twice: far longer than any trigger recurs), and
        write outcomes past the request log's retention."""
        from mosaic import request_log
        from mosaic.automation.jobs import purge_finished
        from mosaic.db import utcnow
        from mosaic.webhooks.delivery import purge_deliveries

        before = utcnow() - KEEP_FINISHED
        purge_finished(self.data.engine, before)
        purge_deliveries(self.data.engine, before)
        request_log.purge(self.data.engine, utcnow() - request_log.RETENTION)

    @timer(interval=30)
    def run_scheduled_rules(self):
        """Queue the scheduled automation rules that came due (their jobs run on ``run_jobs``)."""
        from mosaic.automation.engine import run_scheduled
        from mosaic.logic.tenant import scheduled_rules_by_tenant
        from mosaic.plugins import get_host

        provider = self.data.provider
        run_scheduled(self.data.engine, provider.open_store,
                      lambda: scheduled_rules_by_tenant(self.data.engine, provider.open_store, get_host()))


def _process_summary(definition: dict) -> dict:
    """What the gateway and OpenAPI need to know of a process."""
    return {"name": definition["name"], "label": definition.get("label") or definition["name"],
            "field": definition["field"], "initial": definition.get("initial"),
            "stages": [s["name"] for s in definition.get("stages", ())],
            "transitions": [{"name": t.get("name"), "from": t.get("from"), "to": t.get("to"),
                             "approval": bool(t.get("approval"))} for t in definition.get("transitions", ())],
            "plugin": definition.get("plugin")}


def _body(payload, allowed: set[str]) -> dict:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be a JSON object", errors={"_schema": ["expected an object"]})
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise ValidationFailed("unknown fields in the body", errors={k: ["unknown field"] for k in unknown})
    return payload
