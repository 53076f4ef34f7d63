"""Tables every record-hosting service has: the system columns of a core object, and the generic
records table that holds the records of tenants' custom objects."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from mosaic.db import Base, JSONType, TenantScoped, UTCDateTime, new_id, utcnow


class RecordColumns(TenantScoped):
    """System columns of any record table: id, version (optimistic concurrency), owner, times.

    ``version`` is SQLAlchemy's version counter, so an UPDATE only succeeds against the version it
    read; two concurrent writers cannot silently overwrite each other.
    """

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    owner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    @declared_attr.directive
    def __mapper_args__(cls):  # noqa: N805
        return {"version_id_col": cls.__table__.c.version}


class CoreRecord(RecordColumns):
    """Mixin for a core object's table: system columns plus ``custom``, the tenant's custom fields."""

    custom: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)


class Record(RecordColumns, Base):
    """A record of a tenant-defined custom object (all its fields live in ``data``)."""

    __tablename__ = "records"

    object: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_records_tenant_object_id", "tenant_id", "object", "id"),
        Index("ix_records_data_gin", "data", postgresql_using="gin",
              postgresql_ops={"data": "jsonb_path_ops"}),
    )
