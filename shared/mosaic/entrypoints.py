"""nameko's ``@rpc`` entrypoint, with replies made cheaper.

nameko answers every RPC with publisher confirms on, and serialises the result twice (a check,
then the publish). A confirm costs each reply a round trip to the broker; a reply that is lost
anyway (the broker died between publish and delivery) costs the caller its timeout, which it has
in any case. So replies go out unconfirmed and serialised once, on one channel the container keeps
(:class:`ReplyChannel`) rather than a producer taken from kombu's pool for each reply. Requests keep
nameko's behaviour: the caller's confirm is what tells "no such service" apart from a slow one.

A worker that waited its whole pool timeout for a database connection (every connection of the
service busy) answers :class:`~mosaic.errors.ServiceUnavailable` (503 with ``Retry-After``), as a
database the service cannot reach does (``mosaic.db.engine``), not an untyped error.

Services write ``from mosaic.entrypoints import rpc`` instead of ``from nameko.rpc import rpc``;
the wire format is nameko's.

Broker outages. nameko kills a container for any exception raised while a worker's result is
handled, so a reply that cannot be sent (the broker restarting: kombu's ``OperationalError``
after its retries) or an ack on a connection that just died would take the whole service down,
and every later call would wait for its timeout. Here neither escapes: the failure is logged, the
request is acked anyway (best effort; see :meth:`FastRpcConsumer.handle_result` for why), and
:class:`ResilientQueueConsumer`'s consumer thread (kombu's ``ConsumerMixin``) reconnects and
consumes again by itself once the broker is back.
"""
from __future__ import annotations

import inspect
import logging
import socket
import sys

import amqp
import kombu.serialization
from amqp import spec
from amqp.exceptions import RecoverableConnectionError
from amqp.transport import TCPTransport
from eventlet.patcher import original
from eventlet.semaphore import Semaphore
from kombu import Connection, Exchange, Producer
from nameko.amqp.publish import Publisher
from nameko.constants import (AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER,
                              DEFAULT_TRANSPORT_OPTIONS, LOGIN_METHOD_CONFIG_KEY, PERSISTENT,
                              SERIALIZER_CONFIG_KEY)
from nameko.exceptions import UnserializableValueError, serialize
from nameko.messaging import QueueConsumer
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange
from nameko.timer import Timer
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mosaic.errors import ServiceUnavailable

log = logging.getLogger(__name__)

#: seconds a caller is told to wait when every database connection of the service was busy
POOL_RETRY_AFTER = 1


def typed_exc_info(exc_info):
    """``exc_info`` with the failures a caller should see as 503 made typed (see the module
    docstring); anything else unchanged."""
    if exc_info is not None and isinstance(exc_info[1], PoolTimeout):
        log.warning("no database connection free in time: %s", exc_info[1])
        typed = ServiceUnavailable("Every database connection of the service is busy; try again shortly.",
                                   reason="database_busy", retry_after=POOL_RETRY_AFTER)
        typed.__cause__ = exc_info[1]
        return (ServiceUnavailable, typed, exc_info[2])
    return exc_info


class ResilientQueueConsumer(QueueConsumer):
    """nameko's queue consumer whose acks and requeues never raise.

    nameko only guards against ``amqp.ConnectionError``; a socket that died under the ack raises
    ``OSError`` (or kombu's errors) instead, which would kill the container. A lost ack or requeue
    needs no action: the broker requeues every unacked message of a connection when it closes,
    and the consumer thread reconnects by itself.
    """

    def ack_message(self, message):
        """Ack ``message``; a failure (dead connection) is logged, and the broker redelivers."""
        try:
            super().ack_message(message)
        except Exception as exc:  # noqa: BLE001 - see the class docstring
            log.warning("could not ack a message (broker connection lost; it will be redelivered): %r", exc)

    def requeue_message(self, message):
        """Requeue ``message``; a failure (dead connection) is logged: the broker requeues it anyway."""
        try:
            super().requeue_message(message)
        except Exception as exc:  # noqa: BLE001 - see the class docstring
            log.warning("could not requeue a message (broker connection lost; the broker requeues it): %r", exc)


class ReplyPublisher(Publisher):
    use_confirms = False


class ReplyChannel:
    """The broker connection and channel a container's RPC replies go out on.

    nameko takes a producer from kombu's pool for every reply: a ``Connection`` built from the
    URL and looked up, a channel revived, then released; that costs as much CPU as the publish.
    Replies are unconfirmed (see the module docstring), so one kept channel, written by one green
    thread at a time, carries them all.

    :meth:`publish` never retries: a failure (the broker dropped the connection) discards the
    channel and answers False, and the caller sends that reply nameko's way, through the pool with
    kombu's retries. The next reply opens a fresh channel. While one green thread opens it, the
    others do not wait: they use the pool too.
    """

    def __init__(self, amqp_uri: str, ssl=None, login_method=None):
        self.amqp_uri = amqp_uri
        self.ssl = ssl
        self.login_method = login_method
        self._producer: Producer | None = None
        self._opening = False
        self._lock = Semaphore()

    def publish(self, body: bytes, **properties) -> bool:
        """Publish a serialised reply with nameko's message properties; False if it did not go
        out (no channel, or it failed), and the caller should send it another way."""
        producer = self._producer or self._open()
        if producer is None:
            return False
        try:
            with self._lock:  # a frame written by two green threads at once would be garbled
                _send(producer.channel, body, **properties)
            return True
        except Exception as exc:  # noqa: BLE001 - any failure leaves the channel unusable
            log.info("the reply channel failed (%r); this reply goes through the pool", exc)
            self._drop(producer)
            return False

    def _open(self) -> Producer | None:
        if self._opening:
            return None
        self._opening = True
        connection = Connection(self.amqp_uri, ssl=self.ssl, login_method=self.login_method,
                                transport_options={**DEFAULT_TRANSPORT_OPTIONS, "confirm_publish": False})
        try:
            # One attempt: kombu's default for a first channel sleeps 2 s and tries again, and this
            # reply has the pool's retries to fall back on.
            connection.ensure_connection(max_retries=0)
            self._producer = Producer(connection.channel())
        except Exception as exc:  # noqa: BLE001 - the broker is away: the pool's retries take over
            log.info("could not open the reply channel: %r", exc)
            connection.collect()
        finally:
            self._opening = False
        return self._producer

    def _drop(self, producer: Producer) -> None:
        if self._producer is producer:
            self._producer = None
        # collect, not close: a dead socket must not make us wait for a close handshake
        producer.connection.collect()

    def drop(self) -> None:
        """Forget the channel without a close handshake (the container is being killed)."""
        if self._producer is not None:
            self._drop(self._producer)

    def close(self) -> None:
        """Close the channel and its connection (the container is stopping)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.connection.release()
            except Exception as exc:  # noqa: BLE001 - closing a connection the broker dropped
                log.debug("closing the reply connection failed: %r", exc)


#: the real ``select`` (eventlet's green one would park the green thread): a zero-timeout look
_select = original("select").select


def _unread(connection: amqp.Connection) -> bool:
    """Whether the broker sent anything this connection has not read (a ``connection.blocked``
    notice, a channel closed): bytes in py-amqp's read buffer or on the socket. Asked of plain TCP
    only; TLS keeps bytes of its own, so there the answer is always yes."""
    transport = connection.transport
    if type(transport) is not TCPTransport or transport._read_buffer or transport.sock is None:
        return True
    return bool(_select([transport.sock], (), (), 0)[0])


def _send(channel, body, *, content_type: str, content_encoding: str, exchange, routing_key: str,
          correlation_id: str | None) -> None:
    """Publish a reply on ``channel`` (a py-amqp channel) as kombu's ``Producer.publish`` and
    py-amqp's ``basic_publish`` would, frame for frame, without their per-call work.

    ``basic_publish`` first reads whatever the broker sent (``drain_events(timeout=0)``, for a
    ``connection.blocked`` notice); with nothing sent, that read fails with a timeout exception,
    which it catches: most of a publish's CPU. Here the read is made only when something waits
    to be read (:func:`_unread`), which is the only time it would have read anything."""
    connection = channel.connection
    if not connection:
        raise RecoverableConnectionError("basic_publish: connection closed")
    if connection.client_properties.get("capabilities", {}).get("connection.blocked", False) \
            and _unread(connection):
        try:
            connection.drain_events(timeout=0)
        except socket.timeout:
            pass
    if isinstance(body, str):  # kombu's Producer encodes a text body with its content encoding
        body = body.encode(content_encoding)
    message = amqp.Message(body, priority=0, content_type=content_type, content_encoding=content_encoding,
                           application_headers={}, delivery_mode=PERSISTENT, correlation_id=correlation_id)
    name = exchange.name if isinstance(exchange, Exchange) else exchange
    channel.send_method(spec.Basic.Publish, "Bssbb", (0, name, routing_key, False, False), message)


class FastResponder(Responder):
    publisher_cls = ReplyPublisher

    def __init__(self, replies: ReplyChannel, exchange, serializer, message):
        super().__init__(replies.amqp_uri, exchange, serializer, message, ssl=replies.ssl,
                         login_method=replies.login_method)
        self.replies = replies

    def send_response(self, result, exc_info):
        exc_info = typed_exc_info(exc_info)
        error = serialize(exc_info[1]) if exc_info is not None else None
        content_type = self.message.properties["content_type"]
        serializer = kombu.serialization.registry.type_to_name[content_type]
        try:
            _ct, encoding, body = kombu.serialization.dumps({"result": result, "error": error}, serializer)
        except Exception:  # an unserialisable result must not kill the container: answer an error
            exc_info = sys.exc_info()
            error = serialize(UnserializableValueError(result))
            result = None
            _ct, encoding, body = kombu.serialization.dumps({"result": None, "error": error}, serializer)
        properties = {"content_type": content_type, "content_encoding": encoding, "exchange": self.exchange,
                      "routing_key": self.message.properties["reply_to"],
                      "correlation_id": self.message.properties.get("correlation_id")}
        if not self.replies.publish(body, **properties):
            self._publish_pooled(body, properties)
        return result, exc_info

    def _publish_pooled(self, body: bytes, properties: dict) -> None:
        """nameko's way: a producer from kombu's pool, with its retries on a fresh connection."""
        publisher = self.publisher_cls(self.amqp_uri, ssl=self.ssl, login_method=self.login_method)
        try:
            publisher.publish(body, **properties)
        except Exception as exc:  # noqa: BLE001 - nameko would kill the container for it
            # kombu has already retried on a fresh connection; the caller will see its own broker
            # error or timeout. The worker's effect stands either way (see handle_result).
            log.error("could not send the reply to %s (correlation id %s): %r",
                      properties["routing_key"], properties["correlation_id"], exc)


class FastRpcConsumer(RpcConsumer):
    queue_consumer = ResilientQueueConsumer()

    def __init__(self):
        super().__init__()
        self.replies: ReplyChannel | None = None
        self._routes: dict = {}

    def setup(self):
        """Read the reply settings once, for every reply of the container."""
        super().setup()
        config = self.container.config
        self.reply_exchange = get_rpc_exchange(config)
        self.serializer = config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER)
        self.replies = ReplyChannel(config[AMQP_URI_CONFIG_KEY], ssl=config.get(AMQP_SSL_CONFIG_KEY),
                                    login_method=config.get(LOGIN_METHOD_CONFIG_KEY))

    def stop(self):
        """Stop consuming, then close the reply channel (every worker has answered by now)."""
        super().stop()
        if self.replies is not None:
            self.replies.close()

    def kill(self):
        """Drop the reply channel without waiting for anyone."""
        if self.replies is not None:
            self.replies.drop()

    def get_provider_for_method(self, routing_key):
        """nameko's lookup (which formats and compares every method's key on every request),
        remembered per routing key."""
        provider = self._routes.get(routing_key)
        if provider is None:
            provider = self._routes[routing_key] = super().get_provider_for_method(routing_key)
        return provider

    def unregister_provider(self, provider):
        """Unregister ``provider`` and forget the routes remembered so far."""
        super().unregister_provider(provider)
        self._routes.clear()

    def handle_result(self, message, result, exc_info):
        """Reply, then ack the request, whether or not the reply went out.

        Acking after a lost reply is deliberate: the worker has finished (a write has committed),
        so running the request again would at best answer a caller that, in a broker outage, has
        already given up with a 503, and at worst apply a write twice. A write is redelivered only
        when the ack itself is lost with the connection; the write's request id (stored with its
        effect) then answers the stored result instead of writing again.
        """
        responder = FastResponder(self.replies, self.reply_exchange, self.serializer, message)
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class FastRpc(Rpc):
    rpc_consumer = FastRpcConsumer()

    def setup(self):
        """Register with the consumer, and read the method's signature once."""
        super().setup()
        method = getattr(self.container.service_cls, self.method_name)
        # follow_wrapped=False: nameko checks the decorated method itself (``getcallargs`` does
        # not follow ``__wrapped__``), so a wrapper taking ``*args`` accepts what it accepts
        self._signature = inspect.signature(method, follow_wrapped=False)

    def check_signature(self, args, kwargs):
        """nameko's check with the signature read once (``inspect.getcallargs`` reads it on every
        request). A mismatch goes to nameko's own check, so it is refused in nameko's words."""
        try:
            self._signature.bind(None, *args, **kwargs)
        except TypeError:
            super().check_signature(args, kwargs)


rpc = FastRpc.decorator


class SettingsTimer(Timer):
    """A nameko timer whose interval is a setting (``MOSAIC_JOBS_INTERVAL``…), read when the
    container starts; ``interval`` is the fallback."""

    def __init__(self, setting: str, interval: float, **kwargs):
        super().__init__(interval, **kwargs)
        self.setting = setting

    def setup(self):
        from mosaic.db.provider import settings_of

        self.interval = float(getattr(settings_of(self.container), self.setting, self.interval))
        super().setup()


settings_timer = SettingsTimer.decorator
