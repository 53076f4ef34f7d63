"""Factories and test tables for the metadata tests (imported by conftest.py and the tests;
a uniquely named module, since every conftest.py is importable only as "conftest")."""
from __future__ import annotations

from mosaic.db import JSONType, TenantScoped
from mosaic.metadata import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class FactoryBase(DeclarativeBase):
    pass


class Widget(TenantScoped, FactoryBase):
    """Stands in for a core model: system columns, one core column, the ``custom`` JSON."""

    __tablename__ = "widgets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(255))
    custom: Mapped[dict] = mapped_column(JSONType, default=dict)


records_metadata = MetaData()
RECORDS = Table("records", records_metadata, Column("id", String(36), primary_key=True),
                Column("tenant_id", String(64)), Column("object", String(64)),
                Column("data", JSON), Column("version", Integer, default=1))


def make_widget_object(**overrides) -> ObjectDef:
    """The ``widget`` core object of service ``svc``."""
    values = dict(name="widget", label="Widget", service="svc", model=Widget,
                  fields=SYSTEM_FIELDS + (FieldDef("name", FieldType.TEXT, "Name", required=True,
                                                   storage="column"),))
    values.update(overrides)
    return ObjectDef(**values)


def make_object(*fields: FieldDef, **overrides) -> ObjectDef:
    """A custom object ``thing`` with the system fields and ``fields``."""
    values = dict(name="thing", label="Thing", service="svc", kind="custom",
                  fields=SYSTEM_FIELDS + fields)
    values.update(overrides)
    return ObjectDef(**values)


def make_field(type_: FieldType = FieldType.TEXT, **overrides) -> FieldDef:
    """A custom field ``f`` of ``type_``."""
    return FieldDef(**{"name": "f", "type": type_, "custom": True, **overrides})
