"""Events: the retained event log a read model replays, and plugins' event handlers."""
from __future__ import annotations

from mosaic.context import Tenancy
from mosaic.db.provider import Database
from mosaic.entrypoints import rpc
from mosaic.events.log import events_since
from mosaic.pieces.base import Piece
from mosaic.records.provider import Records


class EventLog(Piece):
    """``events_since``: replay the service's published events (its outbox, kept) after a
    sequence number, for read models rebuilt from the log. Needs the platform's outbox table."""

    needs = {"ctx": Tenancy, "data": Database}

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


class PluginEvents(Piece):
    """:meth:`handle_plugin_event`, which runs the ``mosaic_handle_event`` hooks of the event's
    tenant's plugins. No entrypoint of its own: a service has one domain-event queue, so its own
    handler calls this::

        @domain_events("analytics", lambda: ("order.*", *get_host().event_patterns()))
        def on_event(self, envelope):
            ...  # the service's own read models
            self.handle_plugin_event(envelope)

    Needs the platform's processed-events and tenant-plugins tables (``Health.sync_tenant`` keeps
    the latter current)."""

    needs = {"name": str, "data": Records}

    def handle_plugin_event(self, envelope):
        """Run the ``mosaic_handle_event`` hooks of the event's tenant's plugins, once per event;
        False when none of its plugins handles events."""
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
