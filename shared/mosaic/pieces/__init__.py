"""Opt-in pieces a service composes into its nameko class, each a mixin of entrypoints that says
what it needs of the service (:attr:`Piece.needs`). A record-hosting service takes them all
(:class:`mosaic.records.service.RecordService`); a read model takes only what it uses, and polls
no timer it did not take::

    class LedgerService(Health, EventLog, PluginEvents):
        name = "ledger"
        ctx = Tenancy(module="ledger")
        data = Records("ledger", lambda: ObjectRegistry("ledger"))

docs/services.md has the table of pieces: the RPCs, timers and tables each brings.
"""
from mosaic.pieces.base import (Piece, check_class, check_service, entrypoints, pieces_of, promised_rpcs,
                                rpc_names, timer_names)
from mosaic.pieces.definitions import Definitions
from mosaic.pieces.events import EventLog, PluginEvents
from mosaic.pieces.health import Health
from mosaic.pieces.jobs import KEEP_FINISHED, AutomationJobs, Housekeeping
from mosaic.pieces.metadata import Metadata
from mosaic.pieces.processes import Processes
from mosaic.pieces.records import RecordApi

#: what a service whose spec says ``records=True`` answers: the gateway's record routes, object
#: directory, OpenAPI and metadata routes call these pieces' RPCs
RECORD_HOST = (Health, Metadata, RecordApi, Processes, Definitions)

__all__ = ["Piece", "Health", "Metadata", "RecordApi", "Processes", "Definitions", "EventLog",
           "PluginEvents", "Housekeeping", "AutomationJobs", "KEEP_FINISHED", "RECORD_HOST",
           "check_class", "check_service", "entrypoints", "pieces_of", "promised_rpcs", "rpc_names",
           "timer_names"]
