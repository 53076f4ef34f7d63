"""Caps on custom fields and indexed fields per object: a clear 422 beyond them."""
from __future__ import annotations

import pytest
from metadata_factories import make_widget_object

from mosaic.errors import ValidationFailed
from mosaic.metadata import FieldDef, FieldType, add_field, tenant_objects, validate_field, validate_object
from mosaic.metadata import definitions
from mosaic.metadata.definitions import MAX_INDEXED_FIELDS

KNOWN = {"widget"}


def widget_with(n: int, indexed: bool):
    extra = tuple(FieldDef(f"f{i}", FieldType.TEXT, indexed=indexed, custom=True) for i in range(n))
    obj = make_widget_object()
    return obj.with_fields(extra)


def test_indexed_fields_per_object_are_capped():
    obj = widget_with(MAX_INDEXED_FIELDS, indexed=True)
    with pytest.raises(ValidationFailed) as exc:
        validate_field({"name": "one_more", "type": "text", "indexed": True}, obj, KNOWN)
    assert exc.value.status == 422
    assert f"at most {MAX_INDEXED_FIELDS} indexed" in exc.value.errors["indexed"][0]
    # an unindexed field is still fine
    assert validate_field({"name": "plain", "type": "text"}, obj, KNOWN).name == "plain"


def test_custom_fields_per_object_are_capped(monkeypatch):
    monkeypatch.setattr(definitions, "MAX_FIELDS", 3)
    with pytest.raises(ValidationFailed) as exc:
        validate_field({"name": "fourth", "type": "text"}, widget_with(3, indexed=False), KNOWN)
    assert "at most 3" in exc.value.detail and "name" in exc.value.errors


def test_a_new_object_with_too_many_indexed_fields_is_refused():
    fields = [{"name": f"f{i}", "type": "text", "indexed": True} for i in range(MAX_INDEXED_FIELDS + 1)]
    with pytest.raises(ValidationFailed) as exc:
        validate_object({"name": "thing", "fields": fields}, service="svc", taken_names=(),
                        taken_paths=(), known_objects=())
    assert "fields" in exc.value.errors


def test_on_sqlite_nothing_is_built_and_the_status_stays_null(session, registry):
    fdef = add_field(session, registry, "widget", {"name": "region", "type": "text", "indexed": True})
    session.commit()
    shown = tenant_objects(session, registry)["widget"].field("region").to_dict()
    assert fdef.indexed and shown["index_status"] is None and shown["index_error"] is None
