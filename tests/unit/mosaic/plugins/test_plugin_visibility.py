"""A tenant sees the objects and fields of the plugins it runs, and no others."""
from __future__ import annotations

from dataclasses import replace

from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.plugins.visibility import visible_objects

CONTACT = ObjectDef(name="contact", label="Contact", service="contacts",
                    fields=SYSTEM_FIELDS + (FieldDef("last_name", FieldType.TEXT, storage="column"),
                                            FieldDef("acme__budget", FieldType.DECIMAL, namespace="acme"),
                                            FieldDef("mine", FieldType.TEXT, custom=True)))
GADGET = ObjectDef(name="acme__gadget", label="Gadget", service="contacts", kind="plugin", namespace="acme",
                   fields=SYSTEM_FIELDS)


def test_without_the_plugin_its_objects_and_fields_are_hidden():
    view = visible_objects({"contact": CONTACT, "acme__gadget": GADGET}, frozenset({"contacts"}))
    assert set(view) == {"contact"}
    names = [f.name for f in view["contact"].fields]
    assert "acme__budget" not in names and "mine" in names and "last_name" in names
    assert view["contact"].field("acme__budget") is None  # the index was rebuilt too


def test_with_the_plugin_everything_is_there_unchanged():
    objects = {"contact": CONTACT, "acme__gadget": GADGET}
    view = visible_objects(objects, frozenset({"contacts", "acme"}))
    assert view["contact"] is CONTACT and view["acme__gadget"] is GADGET


def test_a_custom_object_is_never_hidden():
    custom = replace(GADGET, name="deal", kind="custom", namespace=None, _index={})
    assert "deal" in visible_objects({"deal": custom}, frozenset())
