"""Tables of the low-code configuration a tenant admin defines, and of each tenant's plugins."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.db import Base, JSONType, TenantScoped, UTCDateTime, new_id, utcnow


class BehaviourDefinition(TenantScoped, Base):
    """A tenant's process, automation rule or validation rule (plugins' live in code)."""

    __tablename__ = "metadata_behaviours"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TenantPlugins(Base):
    """The plugins a tenant has enabled, as this service last heard from the gateway: what timers
    and event handlers (which have no request context) run for the tenant."""

    __tablename__ = "tenant_plugins"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plugins: Mapped[list] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

