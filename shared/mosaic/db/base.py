"""The declarative base every service's tables hang on, and the column types they share."""
from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, MetaData, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSONB on PostgreSQL (GIN-indexable), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A time-ordered UUID (version 7 layout): ids sort by creation, keeping btree inserts local
    and cursor pagination stable."""
    ms = int(time.time() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


class Base(DeclarativeBase):
    """All tables. A service creates only the tables it owns (see ``mosaic.db.migrate``)."""

    metadata = MetaData(naming_convention=NAMING)


class TenantScoped:
    """Mixin for every row that belongs to a tenant. The session refuses to read or write rows of
    any tenant but its own (``mosaic.db.tenancy``)."""

    @declared_attr
    def tenant_id(cls) -> Mapped[str]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(String(64), nullable=False, index=True)
