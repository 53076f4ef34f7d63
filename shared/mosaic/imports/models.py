"""The tables of CSV import jobs, which every service hosting importable objects has (platform
tables: ``mosaic.db.migrate.PLATFORM_TABLES``)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.db import Base, JSONType, TenantScoped, UTCDateTime, new_id, utcnow


class ImportJob(TenantScoped, Base):
    """A CSV import: progress, outcome and where its per-row errors are."""

    __tablename__ = "import_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    object: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    policy: Mapped[str] = mapped_column(String(8), nullable=False, default="skip")
    filename: Mapped[str | None] = mapped_column(String(255))
    total_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the upload said and what it was validated into: the CSV header as sent, and the field
    # each column maps to (processing uses exactly the mapping the caller was answered with).
    header: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    columns: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    # The uploader's roles: processing runs later, without the caller, but with its permissions.
    roles: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # And its modules: the services its rows' references are asked of (mosaic.records.references).
    modules: Mapped[str] = mapped_column(String(255), nullable=False, default="", server_default="")
    # Resume point: the next row to process is row ``next_row`` of chunk ``next_seq``. Advanced in
    # the same transaction as each batch's writes, so a crash resumes exactly after the last batch.
    next_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_row: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Which process holds the job, and when it last proved alive (a stale claim is taken over).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_import_jobs_status", "status", "created_at"),)


class ImportChunk(TenantScoped, Base):
    """A piece of an uploaded CSV (whole records, no header), kept until its job finishes."""

    __tablename__ = "import_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36), ForeignKey("import_jobs.id", ondelete="CASCADE"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    data: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (UniqueConstraint("job_id", "seq"),)


class ImportRowError(TenantScoped, Base):
    """One rejected row of an import: its number, its raw values and why."""

    __tablename__ = "import_row_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36), ForeignKey("import_jobs.id", ondelete="CASCADE"), nullable=False)
    row_number: Mapped[int] = mapped_column(Integer, nullable=False)
    raw: Mapped[dict] = mapped_column(JSONType, nullable=False)
    errors: Mapped[dict] = mapped_column(JSONType, nullable=False)

    __table_args__ = (Index("ix_import_row_errors_job", "tenant_id", "job_id", "row_number"),)
