"""A required field on an object with records: backfilled with its default, or refused."""
from __future__ import annotations

import pytest
from metadata_factories import RECORDS, Widget
from sqlalchemy import insert, select

from mosaic.db import system_session
from mosaic.errors import ValidationFailed
from mosaic.metadata import add_field, change_field, create_object


def widgets(engine):
    with system_session(engine) as s:
        return {w.id: w.custom for w in s.scalars(select(Widget))}


def seed(make_session):
    for tenant, ids in (("t1", ("w1", "w2", "w3")), ("t2", ("x1",))):
        s = make_session(tenant)
        customs = [{}, {"tier": "gold"}, None]
        s.add_all([Widget(id=i, name=i, custom=customs[n]) for n, i in enumerate(ids)])
        s.commit()


def test_a_required_field_without_default_is_refused_when_records_lack_it(make_session, registry,
                                                                          engine):
    seed(make_session)
    s = make_session("t1")
    with pytest.raises(ValidationFailed) as exc:
        add_field(s, registry, "widget", {"name": "tier", "type": "text", "required": True})
    assert exc.value.status == 422
    assert "2 existing widget records have no value" in exc.value.detail
    assert "required" in exc.value.errors


def test_a_required_field_with_default_backfills_only_records_without_a_value(make_session,
                                                                             registry, engine):
    seed(make_session)
    s = make_session("t1")
    add_field(s, registry, "widget", {"name": "tier", "type": "text", "required": True,
                                      "default": "basic"})
    s.commit()
    assert widgets(engine) == {"w1": {"tier": "basic"}, "w2": {"tier": "gold"},
                               "w3": {"tier": "basic"}, "x1": {}}  # tenant t2 untouched


def test_making_a_field_required_backfills_or_refuses(make_session, registry, engine):
    seed(make_session)
    s = make_session("t1")
    add_field(s, registry, "widget", {"name": "tier", "type": "text"})
    s.commit()
    with pytest.raises(ValidationFailed):
        change_field(s, registry, "widget", "tier", {"required": True})
    s.rollback()
    change_field(s, registry, "widget", "tier", {"required": True, "default": "silver"})
    s.commit()
    assert widgets(engine)["w1"] == {"tier": "silver"} and widgets(engine)["w2"] == {"tier": "gold"}


def test_custom_object_records_are_backfilled(make_session, registry, engine):
    s = make_session("t1")
    create_object(s, registry, {"name": "pet", "fields": [{"name": "name", "type": "text"}]})
    s.commit()
    with system_session(engine) as sys:
        sys.execute(insert(RECORDS), [{"id": "p1", "tenant_id": "t1", "object": "pet", "data": {"name": "rex"}},
                                      {"id": "p2", "tenant_id": "t2", "object": "pet", "data": {}}])
        sys.commit()
    add_field(s, registry, "pet", {"name": "legs", "type": "integer", "required": True, "default": 4})
    s.commit()
    with system_session(engine) as sys:
        data = dict(sys.execute(select(RECORDS.c.id, RECORDS.c.data)).all())
    assert data == {"p1": {"name": "rex", "legs": 4}, "p2": {}}


def test_a_required_field_on_an_object_without_records_needs_no_default(make_session, registry):
    s = make_session("t1")
    assert add_field(s, registry, "widget", {"name": "tier", "type": "text", "required": True}).required
