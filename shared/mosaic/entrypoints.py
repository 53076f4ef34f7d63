"""nameko's ``@rpc`` entrypoint, with replies made cheaper.

nameko answers every RPC with publisher confirms on, and serialises the result twice (a check,
then the publish). A confirm costs each reply a round trip to the broker; a reply that is lost
anyway (the broker died between publish and delivery) costs the caller its timeout, which it has
in any case. So replies go out unconfirmed and serialised once. Requests keep nameko's behaviour:
the caller's confirm is what tells "no such service" apart from a slow one.

Services write ``from mosaic.entrypoints import rpc`` instead of ``from nameko.rpc import rpc``;
the wire format is nameko's.
"""
from __future__ import annotations

import sys

import kombu.serialization
from nameko.amqp.publish import Publisher
from nameko.constants import (AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER,
                              LOGIN_METHOD_CONFIG_KEY, SERIALIZER_CONFIG_KEY)
from nameko.exceptions import UnserializableValueError, serialize
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange
from nameko.timer import Timer


class ReplyPublisher(Publisher):
    use_confirms = False


class FastResponder(Responder):
    publisher_cls = ReplyPublisher

    def send_response(self, result, exc_info):
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
        publisher = self.publisher_cls(self.amqp_uri, ssl=self.ssl, login_method=self.login_method)
        publisher.publish(body, content_type=content_type, content_encoding=encoding, exchange=self.exchange,
                          routing_key=self.message.properties["reply_to"],
                          correlation_id=self.message.properties.get("correlation_id"))
        return result, exc_info


class FastRpcConsumer(RpcConsumer):
    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = FastResponder(config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
                                  config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
                                  ssl=config.get(AMQP_SSL_CONFIG_KEY),
                                  login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class FastRpc(Rpc):
    rpc_consumer = FastRpcConsumer()


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
