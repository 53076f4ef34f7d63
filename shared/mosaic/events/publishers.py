"""Publishers that put envelopes on the events topic exchange and wait for the broker to confirm.

:class:`PikaPublisher` talks to RabbitMQ (distributed mode) with publisher confirms;
:class:`KombuPublisher` goes through kombu, whose ``memory://`` transport is the embedded mode's
in-process broker. Both send the same body (``encode_body``) and the same properties
(:func:`message_properties`), and both publish each envelope inside a producer span whose trace
context travels in the ``traceparent`` header. Use :func:`make_publisher` to get the right one.
"""
from __future__ import annotations

import logging
from itertools import repeat
from typing import Iterable, Sequence

import pika
from kombu import Connection, Exchange, Producer
from pika.exceptions import NackError, UnroutableError

from mosaic.events.envelope import encode_body
from mosaic.telemetry import inject_headers, span

log = logging.getLogger(__name__)

DEFAULT_EXCHANGE = "mosaic.events"
CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"


class PublishError(RuntimeError):
    """Publishing stopped part way. ``published`` envelopes (a prefix of the batch, in order)
    were confirmed by the broker before the failure."""

    def __init__(self, message: str, published: int = 0):
        super().__init__(message)
        self.published = published


def message_properties(envelope: dict) -> dict:
    """Message properties of an envelope, shared by every publisher. ``message_id`` is the event
    id, so consumers and tests can deduplicate on it without parsing the body."""
    return {
        "message_id": envelope["id"],
        "content_type": CONTENT_TYPE,
        "content_encoding": CONTENT_ENCODING,
        "headers": {"tenant_id": envelope["tenant_id"], "event_type": envelope["type"]},
    }


class Publisher:
    """Base: publishes a batch one envelope at a time, each confirmed, each in its own span."""

    exchange: str

    def publish(self, envelopes: Sequence[dict], traceparents: Iterable[str | None] | None = None) -> None:
        """Publish ``envelopes`` in order, routing key = event type; return once all are confirmed.

        ``traceparents`` (one per envelope, e.g. the outbox rows') parent each producer span.
        Raises :class:`PublishError` (with how many were confirmed first) on a nack or a broker
        error; the next call reconnects. An unroutable message (no queue bound yet) is not an
        error: the retained log lets a late consumer replay it.
        """
        done = 0
        for envelope, traceparent in zip(envelopes, traceparents if traceparents is not None else repeat(None)):
            attributes = {
                "messaging.system": "rabbitmq",
                "messaging.destination.name": self.exchange,
                "messaging.rabbitmq.destination.routing_key": envelope["type"],
                "messaging.message.id": envelope["id"],
                "mosaic.tenant_id": envelope["tenant_id"],
            }
            try:
                with span("event publish " + envelope["type"], kind="producer", traceparent=traceparent,
                          attributes=attributes):
                    props = message_properties(envelope)
                    inject_headers(props["headers"])
                    self._send(envelope["type"], encode_body(envelope), props)
            except PublishError as exc:
                exc.published = done
                raise
            except Exception as exc:
                self._reset()
                raise PublishError(f"publishing {envelope['id']} failed: {exc!r}", done) from exc
            done += 1

    def _send(self, routing_key: str, body: bytes, props: dict) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        """Drop the connection after an error; the next publish reconnects."""

    def keepalive(self) -> None:
        """Let the connection answer heartbeats while the caller is idle (the relay calls this)."""

    def close(self) -> None:
        """Close the connection, if open."""
        self._reset()


class PikaPublisher(Publisher):
    """RabbitMQ through pika's BlockingConnection, with publisher confirms.

    BlockingConnection is used on purpose: under eventlet's monkey patching its socket and select
    calls are green, so the embedded relay's green thread does not block the hub.
    """

    def __init__(self, amqp_uri: str, exchange: str = DEFAULT_EXCHANGE):
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self._connection = None
        self._channel = None

    def _ensure(self):
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._reset()
        params = pika.URLParameters(self.amqp_uri)
        self._connection = pika.BlockingConnection(params)
        channel = self._connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        self._channel = channel
        return channel

    def _send(self, routing_key: str, body: bytes, props: dict) -> None:
        channel = self._ensure()
        properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, **props)
        try:
            # mandatory=False: an unroutable message is confirmed and dropped by the broker, which
            # is what we want before any consumer has declared its queue.
            channel.basic_publish(self.exchange, routing_key, body, properties, mandatory=False)
        except (NackError, UnroutableError) as exc:
            # The broker refused the message; the channel stays usable.
            raise PublishError(f"broker did not confirm {props['message_id']}: {exc!r}") from exc

    def keepalive(self) -> None:
        """Service heartbeats on an idle connection; a dead one is dropped for the next publish."""
        if self._connection is None or not self._connection.is_open:
            return
        try:
            self._connection.process_data_events(time_limit=0)
        except Exception:  # noqa: BLE001 - any failure just means "reconnect next time"
            log.info("event publisher connection lost while idle; will reconnect", exc_info=True)
            self._reset()

    def _reset(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone anyway
                log.debug("closing the publisher connection failed", exc_info=True)


class KombuPublisher(Publisher):
    """The same contract through kombu: ``memory://`` in the embedded mode (kombu's virtual
    transport has no confirms; a put is synchronous), ``amqp://`` with ``confirm_publish``."""

    def __init__(self, uri: str, exchange: str = DEFAULT_EXCHANGE):
        self.uri = uri
        self.exchange = exchange
        self._connection = None
        self._producer = None

    def _ensure(self):
        if self._producer is not None:
            return self._producer
        connection = Connection(self.uri, transport_options={"confirm_publish": True})
        exchange = Exchange(self.exchange, type="topic", durable=True)
        channel = connection.channel()
        exchange.declare(channel=channel)
        self._connection = connection
        self._producer = Producer(channel, exchange=exchange, auto_declare=False)
        return self._producer

    def _send(self, routing_key: str, body: bytes, props: dict) -> None:
        producer = self._ensure()
        producer.publish(body, routing_key=routing_key, delivery_mode=2, retry=False,
                         content_type=props["content_type"],
                         content_encoding=props["content_encoding"],
                         headers=props["headers"], message_id=props["message_id"])

    def _reset(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is gone anyway
                log.debug("closing the publisher connection failed", exc_info=True)


def make_publisher(settings_or_uri, exchange: str = DEFAULT_EXCHANGE) -> Publisher:
    """The publisher for a broker URI (or :class:`mosaic.config.Settings`): ``memory://`` gives a
    :class:`KombuPublisher`, ``amqp://``/``amqps://`` a :class:`PikaPublisher`."""
    uri = settings_or_uri if isinstance(settings_or_uri, str) else settings_or_uri.amqp_uri
    scheme = uri.split("://", 1)[0].lower()
    if scheme == "memory":
        return KombuPublisher(uri, exchange)
    if scheme in ("amqp", "amqps"):
        return PikaPublisher(uri, exchange)
    raise ValueError(f"no event publisher for broker URI scheme {scheme!r}")
