"""The gateway's own tables: tenants, users, tokens, API keys, field overrides, idempotency.

They live in the gateway's database (``mosaic.db.get_engine(settings, "gateway")``): the SQLite
file ``gateway.db`` in the embedded mode, the ``mosaic_gateway`` schema on PostgreSQL.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.db import Base, JSONType, TenantScoped, UTCDateTime, new_id, schema_for, utcnow


class Tenant(Base):
    """A customer organisation. Not tenant-scoped itself: it *is* the scope."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    modules: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    plugins: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class User(TenantScoped, Base):
    """A person who logs in. ``email`` is stored lowercased and is unique within its tenant."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    roles: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RefreshToken(TenantScoped, Base):
    """An opaque refresh token, stored as its sha256. Each refresh rotates it: the old row is
    revoked and the new one names it in ``rotated_from``; all rows of one login share
    ``family_id`` so that reuse of a revoked token can revoke the whole chain in one statement."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    family_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    rotated_from: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiKey(TenantScoped, Base):
    """A key for integrations. Only ``prefix`` (shown in listings) and the sha256 of the whole
    secret are kept: keys are high-entropy, so a fast hash is enough (passwords use argon2id)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    prefix: Mapped[str] = mapped_column(String(8), unique=True, nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    roles: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FieldPermission(TenantScoped, Base):
    """A per-field restriction for one role: ``none`` (hidden) or ``read`` (read-only).
    No row means the role's object permissions apply to the field unchanged."""

    __tablename__ = "field_permissions"
    __table_args__ = (UniqueConstraint("tenant_id", "object", "field", "role"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    object: Mapped[str] = mapped_column(String(130), nullable=False)
    field: Mapped[str] = mapped_column(String(130), nullable=False)
    role: Mapped[str] = mapped_column(String(64), nullable=False)
    access: Mapped[str] = mapped_column(String(8), nullable=False)


class IdempotencyRecord(Base):
    """The outcome of one POST sent with an ``Idempotency-Key``. ``status`` is NULL while the
    first request is still running. Scoped by ``tenant_id`` explicitly (the operator API has no
    tenant), not by the tenant session."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("tenant_id", "key"), Index(None, "created_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    key: Mapped[str] = mapped_column(String(200), nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[dict | list | None] = mapped_column(JSONType, nullable=True)
    headers: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


GATEWAY_TABLES = [m.__table__ for m in (Tenant, User, RefreshToken, ApiKey, FieldPermission,
                                        IdempotencyRecord)]


def create_tables(engine: Engine) -> None:
    """Create the gateway's tables if missing, without alembic (tests, tools); deployments run
    the migrations. On PostgreSQL the engine's search path puts them in ``mosaic_gateway``."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_for("gateway")}"'))
        Base.metadata.create_all(conn, tables=GATEWAY_TABLES)
