"""A column field whose column is NOT NULL refuses null with a 422 naming it (generic: read
from the column, not listed per field), on create and on PATCH alike."""
from __future__ import annotations

from datetime import datetime

import pytest
from metadata_factories import FactoryBase
from sqlalchemy import Boolean, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.db import TenantScoped
from mosaic.errors import ValidationFailed
from mosaic.metadata import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.metadata.schema_factory import build_schema, load_create, load_update


class Gadget(TenantScoped, FactoryBase):
    __tablename__ = "gadgets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    happened_at: Mapped[datetime] = mapped_column("occurred", DateTime, nullable=False)
    nickname: Mapped[str | None] = mapped_column(String(50), nullable=True)


GADGET = ObjectDef(name="gadget", label="Gadget", service="svc", model=Gadget, fields=SYSTEM_FIELDS + (
    FieldDef("consent", FieldType.BOOLEAN, storage="column"),
    FieldDef("occurred_at", FieldType.DATETIME, storage="column", column="happened_at"),
    FieldDef("nickname", FieldType.TEXT, storage="column"),
    FieldDef("note", FieldType.TEXT, custom=True),
))


@pytest.mark.parametrize("field", ["consent", "occurred_at"])
def test_null_for_a_not_null_column_is_a_422_naming_the_field(field):
    with pytest.raises(ValidationFailed) as exc:
        load_update(GADGET, {field: None}, cache_key=("t", "gadget", "nn"))
    assert exc.value.status == 422
    assert exc.value.errors == {field: ["Field may not be null."]}
    with pytest.raises(ValidationFailed) as exc:
        load_create(GADGET, {field: None})
    assert field in exc.value.errors


def test_nullable_columns_and_json_fields_still_take_null():
    assert load_update(GADGET, {"nickname": None, "note": None}) == {"nickname": None, "note": None}
    assert load_update(GADGET, {"consent": True}) == {"consent": True}
    # left out, a NOT NULL column with a default is fine (the column's default applies)
    assert load_create(GADGET, {}) == {}


def test_the_schema_reads_nullability_from_the_mapped_column():
    schema = build_schema(GADGET)
    assert schema.fields["consent"].allow_none is False
    assert schema.fields["occurred_at"].allow_none is False
    assert schema.fields["nickname"].allow_none is True
