"""Domain events: envelope, transactional outbox, relay to the broker, idempotent consumers,
and the retained log a read model replays.

Writing side: ``emit(session, make_envelope(...), traceparent=current_traceparent())`` in the
transaction of the change; a :class:`Relay` publishes the outbox. Reading side: a nameko method
decorated with :func:`domain_events` calls :func:`apply_once`; a rebuild pages through
:func:`events_since`.
"""
from mosaic.events.consumer import DomainEvents, ProcessedEvent, apply_once, domain_events, queue_name
from mosaic.events.envelope import (ENVELOPE_KEYS, dumps, encode_body, json_default, json_safe,
                                    make_envelope, validate_envelope)
from mosaic.events.log import events_since
from mosaic.events.outbox import OutboxEvent, emit
from mosaic.events.publishers import (DEFAULT_EXCHANGE, KombuPublisher, Publisher, PublishError,
                                      make_publisher, message_properties)
from mosaic.events.rabbitmq import PikaPublisher
from mosaic.events.relay import Relay

__all__ = [
    "ENVELOPE_KEYS", "dumps", "encode_body", "json_default", "json_safe", "make_envelope",
    "validate_envelope",
    "OutboxEvent", "emit",
    "DEFAULT_EXCHANGE", "Publisher", "PikaPublisher", "KombuPublisher", "PublishError",
    "make_publisher", "message_properties",
    "Relay",
    "DomainEvents", "ProcessedEvent", "apply_once", "domain_events", "queue_name",
    "events_since",
]
