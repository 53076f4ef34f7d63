"""The table of a service's read model of its tenants' users."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.db import Base, TenantScoped, utcnow
from mosaic.db.base import UTCDateTime


class TenantUser(TenantScoped, Base):
    """One user of a tenant, as the gateway (which owns users) last told this service.

    Deactivated users stay (``active`` false): records keep them as their owners, and an import of
    history may name them."""

    __tablename__ = "tenant_users"

    # The primary key (tenant, user) is the one index the owner check needs.
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
