"""Tables the contacts service owns."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.db import Base, JSONType, TenantScoped, UTCDateTime, new_id, utcnow
from mosaic.records.models import CoreRecord


def _gin(table: str):
    return Index(f"ix_{table}_custom_gin", "custom", postgresql_using="gin",
                 postgresql_ops={"custom": "jsonb_path_ops"})


class Account(CoreRecord, Base):
    """A company."""

    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    industry: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[str | None] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(64))
    website: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(32))
    address_street: Mapped[str | None] = mapped_column(String(255))
    address_city: Mapped[str | None] = mapped_column(String(128))
    address_province: Mapped[str | None] = mapped_column(String(128))
    address_country: Mapped[str | None] = mapped_column(String(64))
    address_postal_code: Mapped[str | None] = mapped_column(String(32))
    name_key: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_accounts_tenant_id_id", "tenant_id", "id"),
        Index("ix_accounts_tenant_name_key", "tenant_id", "name_key", postgresql_ops={"name_key": "varchar_pattern_ops"}),
        _gin("accounts"),
    )


class Contact(CoreRecord, Base):
    """A person."""

    __tablename__ = "contacts"

    first_name: Mapped[str | None] = mapped_column(String(128))
    last_name: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    mobile: Mapped[str | None] = mapped_column(String(32))
    address_street: Mapped[str | None] = mapped_column(String(255))
    address_city: Mapped[str | None] = mapped_column(String(128))
    address_province: Mapped[str | None] = mapped_column(String(128))
    address_country: Mapped[str | None] = mapped_column(String(64))
    address_postal_code: Mapped[str | None] = mapped_column(String(32))
    birthday: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list | None] = mapped_column(JSONType)
    email_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    sms_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), nullable=False, default="subscriber")
    lifecycle_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    account_id: Mapped[str | None] = mapped_column(String(36))
    company_name: Mapped[str | None] = mapped_column(String(255))
    # Normalised keys for duplicate detection, maintained by the service, never by callers.
    email_key: Mapped[str | None] = mapped_column(String(320))
    phone_key: Mapped[str | None] = mapped_column(String(32))
    name_key: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_contacts_tenant_id_id", "tenant_id", "id"),
        Index("ix_contacts_tenant_created", "tenant_id", "created_at"),
        Index("ix_contacts_tenant_email_key", "tenant_id", "email_key"),
        Index("ix_contacts_tenant_phone_key", "tenant_id", "phone_key"),
        # prefix search for fuzzy duplicate candidates (LIKE 'abc%' needs pattern ops on PostgreSQL)
        Index("ix_contacts_tenant_name_key", "tenant_id", "name_key", postgresql_ops={"name_key": "varchar_pattern_ops"}),
        Index("ix_contacts_tenant_account", "tenant_id", "account_id"),
        _gin("contacts"),
    )


class Relationship(CoreRecord, Base):
    """A contact's role at an account, in the account's decision chain."""

    __tablename__ = "relationships"

    contact_id: Mapped[str] = mapped_column(String(36), nullable=False)
    account_id: Mapped[str] = mapped_column(String(36), nullable=False)
    role: Mapped[str | None] = mapped_column(String(32))
    job_title: Mapped[str | None] = mapped_column(String(128))
    is_primary: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    notes: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_relationships_tenant_contact", "tenant_id", "contact_id"),
        Index("ix_relationships_tenant_account", "tenant_id", "account_id"),
        _gin("relationships"),
    )


class Activity(CoreRecord, Base):
    """A call, email, meeting, visit, chat, note or task, linked to a contact and/or an account."""

    __tablename__ = "activities"

    type: Mapped[str] = mapped_column(String(16), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(32))
    direction: Mapped[str | None] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(64))
    contact_id: Mapped[str | None] = mapped_column(String(36))
    account_id: Mapped[str | None] = mapped_column(String(36))
    related_object: Mapped[str | None] = mapped_column(String(64))
    related_id: Mapped[str | None] = mapped_column(String(64))
    #: a task's deadline and state (automation creates tasks; other types leave them empty)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)

    __table_args__ = (
        Index("ix_activities_tenant_contact_at", "tenant_id", "contact_id", "occurred_at"),
        Index("ix_activities_tenant_account_at", "tenant_id", "account_id", "occurred_at"),
        _gin("activities"),
    )


class LifecycleChange(TenantScoped, Base):
    """Each change of a contact's lifecycle stage, timestamped."""

    __tablename__ = "lifecycle_changes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    contact_id: Mapped[str] = mapped_column(String(36), nullable=False)
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)

    __table_args__ = (Index("ix_lifecycle_tenant_contact", "tenant_id", "contact_id", "changed_at"),)


class MergeRecord(TenantScoped, Base):
    """What a merge kept and what it folded in, so a merge can be explained later."""

    __tablename__ = "merges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    object: Mapped[str] = mapped_column(String(32), nullable=False)
    survivor_id: Mapped[str] = mapped_column(String(36), nullable=False)
    merged_ids: Mapped[list] = mapped_column(JSONType, nullable=False)
    snapshots: Mapped[list] = mapped_column(JSONType, nullable=False)
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
