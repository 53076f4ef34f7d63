"""mosaic.metadata.store: custom fields and objects per tenant, versioned and cached."""
from __future__ import annotations

import pytest
from metadata_factories import RECORDS, Widget, make_widget_object
from mosaic.db import make_engine, system_session, tenant_session
from mosaic.errors import Conflict, NotFound, ValidationFailed
from mosaic.metadata import (FieldDef, FieldDefinition, FieldType, MetadataVersion, ObjectDef,
                             add_field, change_field, count_records, create_object, delete_object,
                             metadata_version, remove_field, store, tenant_object,
                             tenant_object_by_path, tenant_objects)
from sqlalchemy import insert, select


def _object(make_session, registry, tenant="t1", name="widget") -> ObjectDef:
    s = make_session(tenant)
    try:
        return tenant_objects(s, registry)[name]
    finally:
        s.close()


def test_core_objects_come_from_the_registry(session, registry):
    objects = tenant_objects(session, registry)
    assert list(objects) == ["widget"]
    assert objects["widget"] is registry.get("widget")
    assert metadata_version(session) == 0


def test_add_field_appends_a_custom_json_field_and_bumps_the_version(session, registry, field_def):
    fdef = add_field(session, registry, "widget", field_def(label="Region", required=True))
    session.commit()
    assert (fdef.name, fdef.type, fdef.custom, fdef.storage) == \
        ("region", FieldType.TEXT, True, "json")
    widget = tenant_objects(session, registry)["widget"]
    assert widget.field("region") == fdef
    assert [f.name for f in widget.custom_fields] == ["region"]
    assert metadata_version(session) == 1


def test_fields_keep_their_creation_order(session, registry, field_def):
    for name in ("zeta", "alpha", "mid"):
        add_field(session, registry, "widget", field_def(name=name))
    session.commit()
    assert [f.name for f in tenant_objects(session, registry)["widget"].custom_fields] == \
        ["zeta", "alpha", "mid"]


def test_add_field_errors(session, registry, field_def):
    with pytest.raises(NotFound):
        add_field(session, registry, "nope", field_def())
    add_field(session, registry, "widget", field_def())
    with pytest.raises(Conflict):
        add_field(session, registry, "widget", field_def(type="integer"))
    with pytest.raises(ValidationFailed) as exc:
        add_field(session, registry, "widget", field_def(name="name"))
    assert "core field" in exc.value.errors["name"][0]
    with pytest.raises(ValidationFailed) as exc:
        add_field(session, registry, "widget", field_def(name="owner_id"))
    assert "system field" in exc.value.errors["name"][0]
    session.commit()
    assert metadata_version(session) == 1


def test_the_unique_constraint_is_the_last_guard_against_duplicates(make_session, registry,
                                                                     field_def):
    # Another process inserted the row after our view was built (simulated without a version
    # bump, so our cached view cannot know): validation passes, the constraint still refuses.
    s = make_session()
    tenant_objects(s, registry)
    s.add(FieldDefinition(object="widget", name="region",
                          definition=FieldDef("region", FieldType.TEXT, custom=True).to_dict()))
    s.commit()
    with pytest.raises(Conflict):
        add_field(s, registry, "widget", field_def())
    # the caller's transaction survived the failed savepoint
    assert metadata_version(s) == 0
    add_field(s, registry, "widget", field_def(name="other"))
    s.commit()
    assert metadata_version(s) == 1
    assert tenant_objects(s, registry)["widget"].field("region").type is FieldType.TEXT


def test_tenant_b_never_sees_tenant_a_fields(make_session, registry, field_def):
    a = make_session("tenant-a")
    add_field(a, registry, "widget", field_def())
    create_object(a, registry, {"name": "project", "fields": [{"name": "name", "type": "text"}]})
    a.commit()
    a.close()
    b = make_session("tenant-b")
    objects = tenant_objects(b, registry)
    assert objects["widget"].field("region") is None
    assert "project" not in objects
    assert metadata_version(b) == 0
    # and B may create the same names independently
    add_field(b, registry, "widget", field_def(type="integer"))
    b.commit()
    assert tenant_objects(b, registry)["widget"].field("region").type is FieldType.INTEGER
    b.close()
    assert _object(make_session, registry, "tenant-a").field("region").type is FieldType.TEXT


def test_cache_hits_until_the_version_moves(session, registry, field_def, monkeypatch):
    loads = []
    real_load = store._load
    monkeypatch.setattr(store, "_load", lambda s, r: loads.append(1) or real_load(s, r))
    tenant_objects(session, registry)
    tenant_objects(session, registry)
    assert len(loads) == 1
    add_field(session, registry, "widget", field_def())
    session.commit()
    assert tenant_objects(session, registry)["widget"].field("region") is not None
    tenant_objects(session, registry)
    assert len(loads) == 2  # add_field itself hit the cache; one rebuild after the commit


def test_another_process_sees_committed_changes(db_url, make_session, make_registry, field_def):
    # Two engines and two registries: what two processes of one service have.
    other_engine = make_engine(db_url, "svc")
    mine, theirs = make_registry(), make_registry()
    try:
        s = make_session("t1")
        assert tenant_objects(s, mine)["widget"].field("region") is None
        s.close()
        o = tenant_session(other_engine, "t1")
        add_field(o, theirs, "widget", field_def())
        o.commit()
        o.close()
        s = make_session("t1")
        assert tenant_objects(s, mine)["widget"].field("region") is not None
        s.close()
    finally:
        other_engine.dispose()


def test_an_uncommitted_change_never_enters_the_cache(make_session, registry, field_def):
    s = make_session()
    add_field(s, registry, "widget", field_def())
    assert tenant_objects(s, registry)["widget"].field("region") is not None  # own change visible
    s.rollback()
    s.close()
    s2 = make_session()
    assert tenant_objects(s2, registry)["widget"].field("region") is None
    add_field(s2, registry, "widget", field_def(name="other"))
    s2.commit()
    # version 1 now means "other", never the rolled-back "region"
    widget = tenant_objects(s2, registry)["widget"]
    assert widget.field("other") is not None and widget.field("region") is None


def test_registering_an_object_clears_the_cache(session, registry):
    assert "gadget" not in tenant_objects(session, registry)
    registry.register(make_widget_object(name="gadget", plural="gadgets"))
    assert "gadget" in tenant_objects(session, registry)


def test_version_row_is_created_once_then_incremented(session, registry, field_def):
    add_field(session, registry, "widget", field_def(name="a1"))
    add_field(session, registry, "widget", field_def(name="a2"))
    session.commit()
    rows = session.scalars(select(MetadataVersion)).all()
    assert [(r.tenant_id, r.version) for r in rows] == [("t1", 2)]


def test_change_field_keeps_type_and_name(session, registry, field_def):
    add_field(session, registry, "widget", field_def(type="picklist", choices=["north", "south"]))
    session.commit()
    changed = change_field(session, registry, "widget", "region",
                           {"choices": ["north", "south", "east"], "required": True,
                            "help_text": "Sales region"})
    session.commit()
    assert changed.choices == ("north", "south", "east") and changed.required
    assert tenant_objects(session, registry)["widget"].field("region") == changed
    assert metadata_version(session) == 2
    with pytest.raises(ValidationFailed) as exc:
        change_field(session, registry, "widget", "region", {"type": "text"})
    assert "type" in exc.value.errors
    with pytest.raises(ValidationFailed):
        change_field(session, registry, "widget", "region", {"name": "area"})
    with pytest.raises(ValidationFailed) as exc:
        change_field(session, registry, "widget", "name", {"label": "Title"})
    assert "core field" in exc.value.detail
    with pytest.raises(NotFound):
        change_field(session, registry, "widget", "missing", {"label": "x"})


def test_change_field_may_clear_an_option(session, registry, field_def):
    add_field(session, registry, "widget", field_def(max_length=10))
    changed = change_field(session, registry, "widget", "region", {"max_length": None})
    assert changed.max_length is None


def test_remove_field_deletes_its_values(session, registry, field_def):
    add_field(session, registry, "widget", field_def())
    add_field(session, registry, "widget", field_def(name="size", type="integer"))
    session.add_all([Widget(id="w1", name="a", custom={"region": "eu", "size": 3}),
                     Widget(id="w2", name="b", custom={"size": 4})])
    session.commit()
    remove_field(session, registry, "widget", "region")
    session.commit()
    assert tenant_objects(session, registry)["widget"].field("region") is None
    session.expire_all()
    assert {w.id: w.custom for w in session.scalars(select(Widget))} == \
        {"w1": {"size": 3}, "w2": {"size": 4}}


def test_remove_field_refuses_core_and_system_fields(session, registry):
    for name in ("name", "id", "owner_id"):
        with pytest.raises(ValidationFailed):
            remove_field(session, registry, "widget", name)
    with pytest.raises(NotFound):
        remove_field(session, registry, "widget", "region")


def test_remove_field_leaves_other_tenants_values(make_session, registry, field_def):
    for tenant in ("t1", "t2"):
        s = make_session(tenant)
        add_field(s, registry, "widget", field_def())
        s.add(Widget(id=f"w-{tenant}", name="x", custom={"region": tenant}))
        s.commit()
        s.close()
    s = make_session("t1")
    remove_field(s, registry, "widget", "region")
    s.commit()
    s.close()
    with system_session(s.get_bind()) as sys:
        assert {w.id: w.custom for w in sys.scalars(select(Widget))} == \
            {"w-t1": {}, "w-t2": {"region": "t2"}}


def test_create_object_builds_a_custom_object(session, registry):
    obj = create_object(session, registry, {
        "name": "project", "label": "Project", "plural": "projects",
        "fields": [{"name": "name", "type": "text", "required": True},
                   {"name": "budget", "type": "money", "currency": "EUR"},
                   {"name": "parent", "type": "lookup", "lookup": "project"},
                   {"name": "widget", "type": "lookup", "lookup": "widget"}],
    })
    session.commit()
    stored = tenant_objects(session, registry)["project"]
    assert stored == obj
    assert (stored.kind, stored.service, stored.path, stored.title_field, stored.model) == \
        ("custom", "svc", "projects", "name", None)
    assert [f.name for f in stored.fields] == \
        ["id", "version", "owner_id", "created_at", "updated_at", "name", "budget", "parent",
         "widget"]
    assert tenant_object_by_path(session, registry, "projects") == stored
    assert tenant_object(session, registry, "project") == stored
    with pytest.raises(NotFound):
        tenant_object_by_path(session, registry, "nothing")
    # fields can then be added to it like to any object
    add_field(session, registry, "project", {"name": "due", "type": "date"})
    assert tenant_objects(session, registry)["project"].field("due").type is FieldType.DATE


def test_create_object_conflicts(session, registry):
    create_object(session, registry, {"name": "project"})
    with pytest.raises(Conflict):
        create_object(session, registry, {"name": "project"})
    with pytest.raises(Conflict):
        create_object(session, registry, {"name": "widget"})
    with pytest.raises(Conflict):
        create_object(session, registry, {"name": "task", "plural": "projects"})
    with pytest.raises(ValidationFailed):
        create_object(session, registry, {"name": "Bad Name"})


def _add_records(session, n, obj="project", tenant="t1"):
    conn = session.connection()
    conn.execute(insert(RECORDS), [{"id": f"{tenant}-{obj}-{i}", "tenant_id": tenant,
                                    "object": obj, "data": {"name": f"r{i}"}} for i in range(n)])


def test_delete_object_refuses_with_records_unless_forced(session, registry):
    create_object(session, registry,
                  {"name": "project", "fields": [{"name": "name", "type": "text"}]})
    create_object(session, registry, {"name": "task"})
    _add_records(session, 3)
    _add_records(session, 2, obj="task")
    session.commit()
    with pytest.raises(Conflict) as exc:
        delete_object(session, registry, "project")
    assert exc.value.extra["records"] == 3
    assert delete_object(session, registry, "project", force=True) == 3
    session.commit()
    assert "project" not in tenant_objects(session, registry)
    assert count_records(session, "project") == 0 and count_records(session, "task") == 2
    assert session.scalars(
        select(FieldDefinition).where(FieldDefinition.object == "project")).all() == []
    # the name is free again
    create_object(session, registry, {"name": "project"})


def test_delete_object_without_records_and_errors(session, registry):
    create_object(session, registry, {"name": "project"})
    assert delete_object(session, registry, "project") == 0
    with pytest.raises(NotFound):
        delete_object(session, registry, "project")
    with pytest.raises(ValidationFailed):
        delete_object(session, registry, "widget")


def test_delete_object_refuses_while_looked_up(session, registry):
    create_object(session, registry, {"name": "project"})
    add_field(session, registry, "widget",
              {"name": "project", "type": "lookup", "lookup": "project"})
    with pytest.raises(Conflict) as exc:
        delete_object(session, registry, "project")
    assert exc.value.extra["references"] == ["widget.project"]


def test_force_delete_touches_only_this_tenants_records(make_session, registry):
    for tenant in ("t1", "t2"):
        s = make_session(tenant)
        create_object(s, registry, {"name": "project"})
        _add_records(s, 2, tenant=tenant)
        s.commit()
        s.close()
    s = make_session("t1")
    delete_object(s, registry, "project", force=True)
    s.commit()
    s.close()
    s = make_session("t2")
    assert count_records(s, "project") == 2
    assert "project" in tenant_objects(s, registry)


def test_remove_field_of_custom_object_purges_record_data(session, registry):
    create_object(session, registry, {"name": "project", "fields": [
        {"name": "name", "type": "text"}, {"name": "code", "type": "text"}]})
    session.connection().execute(insert(RECORDS), [
        {"id": "r1", "tenant_id": "t1", "object": "project", "data": {"name": "a", "code": "X"}},
        {"id": "r2", "tenant_id": "t1", "object": "other", "data": {"code": "keep"}}])
    remove_field(session, registry, "project", "code")
    with pytest.raises(ValidationFailed):
        remove_field(session, registry, "project", "name")  # the title field
    session.commit()
    rows = dict(session.connection().execute(select(RECORDS.c.id, RECORDS.c.data)).all())
    assert rows == {"r1": {"name": "a"}, "r2": {"code": "keep"}}


def test_metadata_functions_need_a_tenant_session(engine, registry):
    with system_session(engine) as s:
        with pytest.raises(Exception, match="tenant session"):
            tenant_objects(s, registry)
