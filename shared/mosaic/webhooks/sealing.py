"""Signing secrets sealed at rest: what a tenant admin gives an automation rule's webhook action is
stored encrypted (Fernet: AES-128-CBC + HMAC-SHA256) under a key derived from
``MOSAIC_SECRET_KEY``, and opened only by the delivery runner that signs with it.

A sealed value is text, ``sealed:v1:<Fernet token>``, so it fits where a plain secret did (a
definition's JSON, a delivery row's 200-character column) and tells itself apart from the plain
secrets of older definitions and of plugins' code, which still work as they are.
"""
from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "sealed:v1:"
#: the longest secret (UTF-8 bytes) whose sealed form fits the 200-character delivery column
MAX_SECRET_BYTES = 64


class SecretUnreadable(Exception):
    """A sealed secret that this key cannot open (``MOSAIC_SECRET_KEY`` changed, or tampering)."""


def is_sealed(value: object) -> bool:
    """Whether ``value`` is a sealed secret (as opposed to a plain one, or none)."""
    return isinstance(value, str) and value.startswith(PREFIX)


class SecretBox:
    """Seals and opens secrets with a key derived from ``secret_key`` (HKDF-SHA256 with a label
    of its own, so the JWT signing key itself never encrypts anything)."""

    def __init__(self, secret_key: str):
        if not secret_key:
            raise ValueError("a SecretBox needs MOSAIC_SECRET_KEY")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"mosaic-crm",
                       info=b"webhook signing secrets v1").derive(secret_key.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        """The sealed form of a plain ``secret``."""
        return PREFIX + self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, value: str) -> str:
        """The plain secret of ``value``; a plain value is returned as it is (older definitions,
        plugins' code). Raises :class:`SecretUnreadable` when the key does not open it."""
        if not is_sealed(value):
            return value
        try:
            return self._fernet.decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretUnreadable("the sealed secret cannot be opened with this MOSAIC_SECRET_KEY") from None


@lru_cache(maxsize=8)
def _box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key)


def secret_box(settings) -> SecretBox | None:
    """The box of ``settings`` (``MOSAIC_SECRET_KEY``), or None when no key is set."""
    key = getattr(settings, "secret_key", "") or ""
    return _box(key) if key else None
