"""The composition of pieces every record-hosting service has, whatever its objects: health,
metadata, the record API, processes, tenant-defined rules, plugins' event handlers, the retained
event log and the background timers of the low-code runtime (:mod:`mosaic.pieces`).
(Notifications, the approvers' inbox and webhook subscriptions belong to the hub, ``services/hub``.)

A service subclasses :class:`RecordService` and declares ``name``, ``ctx = Tenancy(module=...)``
and ``data = Records(...)``; it adds only what is special about its own objects. A service that
hosts no records (a read model) composes the pieces it needs instead, and says ``records=False``
in its :class:`~mosaic.services.ServiceSpec`. Entry points are thin: they check the context and
call one domain function with the worker's store; a write's :func:`~mosaic.request_log.write_once`
commits it with its request id, so a redelivered or retried request is answered with the first
outcome instead of running twice.
"""
from __future__ import annotations

import logging

from mosaic.pieces import (
    AutomationJobs,
    Definitions,
    EventLog,
    Health,
    Metadata,
    PluginEvents,
    Processes,
    RecordApi,
)
from mosaic.pieces.jobs import KEEP_FINISHED  # noqa: F401 - importable from here, as before the split
from mosaic.pieces.metadata import process_summary as _process_summary  # noqa: F401 - likewise
from mosaic.pieces.processes import action_body as _body  # noqa: F401 - likewise
from mosaic.pieces.references import ReferencesRpc
from mosaic.users.service import TenantUsersRpc

log = logging.getLogger(__name__)


class RecordService(Health, Metadata, RecordApi, Processes, Definitions, PluginEvents, EventLog, AutomationJobs,
                    TenantUsersRpc, ReferencesRpc):
    """Base of every record-hosting nameko service (``name``, ``ctx`` and ``data`` come from the
    subclass): every piece of :data:`mosaic.pieces.RECORD_HOST`, plugins' event handlers, the event
    log, the automation timers, the tenants' users read model owner checks use (``sync_users``) and
    ``object_names`` (what other services ask to check a reference to one of its records)."""

    name = "records"
