"""mosaic.metadata.registry: a service's in-code objects."""
from __future__ import annotations

import pytest
from metadata_factories import make_widget_object
from mosaic.metadata import SYSTEM_FIELDS, FieldDef, FieldType, ObjectRegistry


def test_register_get_all_and_by_path():
    widget = make_widget_object()
    gadget = make_widget_object(name="gadget", plural="gizmos")
    registry = ObjectRegistry("svc", [widget])
    assert registry.register(gadget) is gadget
    assert registry.get("widget") is widget and registry.get("nope") is None
    assert registry.all() == [widget, gadget] and registry.names() == ["widget", "gadget"]
    assert registry.by_path("widgets") is widget and registry.by_path("gizmos") is gadget
    assert registry.by_path("gadgets") is None
    assert "gadget" in registry and len(registry) == 2 and list(registry) == [widget, gadget]


def test_duplicates_are_refused():
    registry = ObjectRegistry("svc", [make_widget_object()])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(make_widget_object(plural="others"))
    with pytest.raises(ValueError, match="path"):
        registry.register(make_widget_object(name="other", plural="widgets"))
    assert len(registry) == 1


def test_objects_must_belong_to_the_service_and_be_well_formed():
    registry = ObjectRegistry("svc")
    with pytest.raises(ValueError, match="belongs to service"):
        registry.register(make_widget_object(service="sales"))
    with pytest.raises(ValueError, match="not a valid name"):
        registry.register(make_widget_object(name="Widget"))
    with pytest.raises(ValueError, match="twice"):
        registry.register(make_widget_object(
            fields=SYSTEM_FIELDS + (FieldDef("id", FieldType.TEXT),)))


def test_a_fields_dict_is_what_dataclasses_asdict_makes_of_it():
    from dataclasses import asdict

    from mosaic.metadata import FieldDef, FieldType

    def as_dict(f):
        return {**asdict(f), "type": f.type.value, "choices": list(f.choices)}

    plain = FieldDef("tier", FieldType.PICKLIST, "Tier", choices=("a", "b"), default="a", min_value=1.5)
    listed = FieldDef("tags", FieldType.MULTI_PICKLIST, choices=("a", "b"), default=["a"])
    for f in (plain, listed):
        assert f.to_dict() == as_dict(f)
        assert list(f.to_dict()) == list(as_dict(f))
    assert plain.to_dict()["type"] == "picklist" and plain.to_dict()["choices"] == ["a", "b"]
    assert listed.to_dict()["default"] == ["a"] and listed.to_dict()["default"] is not listed.default
