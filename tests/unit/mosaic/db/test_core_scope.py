"""Core statements in a tenant session are scoped or refused, whichever way they are written.

Every statement kind a new service may write: Core selects, joins (inner, outer, explicit),
subqueries, unions, CTEs, updates, deletes, inserts (single, executemany, multi-VALUES,
INSERT ... FROM SELECT), textual SQL, and the session's Connection used directly.
"""
from __future__ import annotations

import pytest
from sqlalchemy import (String, column, delete, exists, func, insert, literal, select, table,
                        text, union_all, update)
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.db import Base, TenantLeak, TenantScoped, system_session, tenant_session
from mosaic.db.base import new_id


class Item(TenantScoped, Base):
    __tablename__ = "core_scope_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    body: Mapped[str] = mapped_column(String(100))


class Tag(TenantScoped, Base):
    __tablename__ = "core_scope_tags"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    item_body: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(100))


items, tags = Item.__table__, Tag.__table__


@pytest.fixture
def engine(tmp_path):
    from sqlalchemy import create_engine

    eng = create_engine(f"sqlite:///{tmp_path}/scope.db")
    Base.metadata.create_all(eng, tables=[items, tags])
    with system_session(eng) as s:
        s.add_all([Item(tenant_id="a", body="a1"), Item(tenant_id="a", body="a2"),
                   Item(tenant_id="b", body="b1"), Item(tenant_id="b", body="shared"),
                   Tag(tenant_id="a", item_body="a1", label="ta"),
                   Tag(tenant_id="b", item_body="a1", label="tb"),
                   Tag(tenant_id="b", item_body="shared", label="tb2")])
        s.commit()
    yield eng
    eng.dispose()


def all_rows(engine):
    with system_session(engine) as s:
        return sorted((r.tenant_id, r.body) for r in s.execute(select(items)))


def test_core_select_of_a_table_sees_only_the_tenant(engine):
    with tenant_session(engine, "a") as s:
        assert sorted(r.body for r in s.execute(select(items))) == ["a1", "a2"]
        assert s.scalar(select(func.count()).select_from(items)) == 2
        assert s.scalars(select(items.c.body).where(items.c.tenant_id == "b")).all() == []


def test_light_table_clauses_are_tenant_tables_too(engine):
    light = table("core_scope_items", column("tenant_id"), column("body"))
    with tenant_session(engine, "a") as s:
        assert sorted(s.scalars(select(light.c.body))) == ["a1", "a2"]


def test_joins_scope_both_sides(engine):
    with tenant_session(engine, "a") as s:
        inner = select(items.c.body, tags.c.label).join(tags, tags.c.item_body == items.c.body)
        assert s.execute(inner).all() == [("a1", "ta")]
        explicit = select(items.c.body, tags.c.label).select_from(
            items.join(tags, tags.c.item_body == items.c.body))
        assert s.execute(explicit).all() == [("a1", "ta")]
        implicit = select(items.c.body, tags.c.label).where(tags.c.item_body == items.c.body)
        assert s.execute(implicit).all() == [("a1", "ta")]


def test_outer_joins_keep_unmatched_rows_without_other_tenants(engine):
    with tenant_session(engine, "a") as s:
        outer = (select(items.c.body, tags.c.label)
                 .outerjoin(tags, tags.c.item_body == items.c.body).order_by(items.c.body))
        assert s.execute(outer).all() == [("a1", "ta"), ("a2", None)]
        explicit = (select(items.c.body, tags.c.label)
                    .select_from(items.outerjoin(tags, tags.c.item_body == items.c.body))
                    .order_by(items.c.body))
        assert s.execute(explicit).all() == [("a1", "ta"), ("a2", None)]
        aliased_tags = tags.alias("t2")
        with_alias = (select(items.c.body, aliased_tags.c.label)
                      .outerjoin(aliased_tags, aliased_tags.c.item_body == items.c.body)
                      .order_by(items.c.body))
        assert s.execute(with_alias).all() == [("a1", "ta"), ("a2", None)]


def test_joins_that_cannot_be_scoped_are_refused(engine):
    with tenant_session(engine, "a") as s:
        with pytest.raises(TenantLeak, match="FULL JOIN"):
            s.execute(select(items.c.body).select_from(
                items.join(tags, tags.c.item_body == items.c.body, full=True)))


def test_subqueries_ctes_unions_and_exists_are_scoped(engine):
    with tenant_session(engine, "a") as s:
        sub = select(items.c.body).subquery()
        assert sorted(s.scalars(select(sub.c.body))) == ["a1", "a2"]
        cte = select(items.c.body).cte("bodies")
        assert sorted(s.scalars(select(cte.c.body))) == ["a1", "a2"]
        both = union_all(select(items.c.body), select(tags.c.label))
        assert sorted(s.scalars(both)) == ["a1", "a2", "ta"]
        tagged = select(items.c.body).where(exists().where(tags.c.item_body == items.c.body))
        assert s.scalars(tagged).all() == ["a1"]
        in_sub = select(tags.c.label).where(tags.c.item_body.in_(select(items.c.body)))
        assert s.scalars(in_sub).all() == ["ta"]
        count = select(select(func.count()).select_from(items).scalar_subquery())
        assert s.scalar(count) == 2


def test_core_update_and_delete_touch_only_the_tenant(engine):
    with tenant_session(engine, "a") as s:
        s.execute(update(items).values(body="x"))
        s.execute(delete(items).where(items.c.body == "shared"))
        s.commit()
    assert all_rows(engine) == [("a", "x"), ("a", "x"), ("b", "b1"), ("b", "shared")]


def test_update_from_another_table_scopes_that_table_too(engine):
    with tenant_session(engine, "a") as s:
        # a2 has no tag of tenant a; tenant b's tag "tb" on a1 must not be seen either
        s.execute(update(items).where(tags.c.item_body == items.c.body, tags.c.label == "tb")
                  .values(body="leaked"))
        s.commit()
    assert ("a", "leaked") not in all_rows(engine)


def test_update_may_not_move_rows_to_another_tenant(engine):
    with tenant_session(engine, "a") as s:
        with pytest.raises(TenantLeak):
            s.execute(update(items).values(tenant_id="b"))
        with pytest.raises(TenantLeak):
            s.connection().execute(update(items).where(items.c.body == "a1"),
                                   [{"tenant_id": "b"}])


def test_inserts_are_stamped_single_and_executemany(engine):
    with tenant_session(engine, "a") as s:
        s.execute(insert(items).values(id=new_id(), body="one"))
        s.execute(insert(items), [{"id": new_id(), "body": "many1"}, {"id": new_id(), "body": "many2"}])
        s.connection().execute(insert(items), [{"id": new_id(), "body": "conn"}])
        s.execute(insert(items).values([{"id": new_id(), "body": "multi", "tenant_id": "a"}]))
        s.commit()
    rows = all_rows(engine)
    assert {("a", b) for b in ("one", "many1", "many2", "conn", "multi")} <= set(rows)
    assert [r for r in rows if r[0] == "b"] == [("b", "b1"), ("b", "shared")]


@pytest.mark.parametrize("attempt", [
    lambda s: s.execute(insert(items).values(id=new_id(), body="x", tenant_id="b")),
    lambda s: s.execute(insert(items), [{"id": new_id(), "body": "x"},
                                        {"id": new_id(), "body": "y", "tenant_id": "b"}]),
    lambda s: s.connection().execute(insert(items), [{"id": new_id(), "body": "x", "tenant_id": "b"}]),
    lambda s: s.execute(insert(items).values([{"id": new_id(), "body": "x", "tenant_id": "b"}])),
    lambda s: s.execute(insert(items).values([{"id": new_id(), "body": "x"}])),
], ids=["values", "executemany", "connection", "multi-values", "multi-values-unnamed"])
def test_inserts_naming_another_tenant_are_refused(engine, attempt):
    with tenant_session(engine, "a") as s:
        with pytest.raises(TenantLeak):
            attempt(s)
    assert [r for r in all_rows(engine) if r[1] in ("x", "y")] == []


def test_insert_from_select_copies_only_the_tenants_rows(engine):
    with tenant_session(engine, "a") as s:
        src = select((items.c.id + "-copy").label("id"), items.c.body, items.c.body,
                     items.c.tenant_id)
        s.execute(insert(tags).from_select(["id", "item_body", "label", "tenant_id"], src))
        s.commit()
    with system_session(engine) as s:
        copied = sorted(s.execute(select(tags.c.tenant_id, tags.c.label)
                                  .where(tags.c.id.like("%-copy"))).all())
    assert copied == [("a", "a1"), ("a", "a2")]


@pytest.mark.parametrize("tenant_column", [
    lambda: literal("b"), lambda: literal("a"), None,
], ids=["other-literal", "own-literal", "missing"])
def test_insert_from_select_must_take_the_tenant_from_the_tenant(engine, tenant_column):
    with tenant_session(engine, "a") as s:
        cols = [(items.c.id + "-x").label("id"), items.c.body, items.c.body.label("b2")]
        names = ["id", "item_body", "label"]
        if tenant_column is not None:
            cols.append(tenant_column().label("tenant_id"))
            names.append("tenant_id")
        stmt = insert(tags).from_select(names, select(*cols))
        if tenant_column is not None and tenant_column().value == "a":
            s.execute(stmt)
            return
        with pytest.raises(TenantLeak):
            s.execute(stmt)


def test_textual_sql_is_refused_at_both_levels(engine):
    with tenant_session(engine, "a") as s:
        with pytest.raises(TenantLeak):
            s.execute(text("SELECT * FROM core_scope_items"))
        with pytest.raises(TenantLeak):
            s.connection().execute(text("SELECT * FROM core_scope_items"))
        with pytest.raises(TenantLeak):
            s.connection().exec_driver_sql("DELETE FROM core_scope_items")
        with pytest.raises(TenantLeak):
            s.execute(select(items.c.body).select_from(text("core_scope_items")))
    assert len(all_rows(engine)) == 4


def test_connection_level_core_statements_are_scoped(engine):
    with tenant_session(engine, "b") as s:
        conn = s.connection()
        assert sorted(conn.execute(select(items.c.body)).scalars()) == ["b1", "shared"]
        conn.execute(delete(items))
        s.commit()
    assert all_rows(engine) == [("a", "a1"), ("a", "a2")]


def test_system_sessions_still_see_every_tenant_on_a_reused_connection(engine):
    with engine.connect() as conn:
        with tenant_session(conn, "a") as s:
            assert len(s.execute(select(items)).all()) == 2
        with system_session(conn) as s:
            assert len(s.execute(select(items)).all()) == 4


def test_orm_statements_mixing_core_tables_are_scoped(engine):
    with tenant_session(engine, "a") as s:
        stmt = select(Item.body).join(tags, tags.c.item_body == Item.body)
        assert s.scalars(stmt).all() == ["a1"]
        stmt = select(Item.body).where(Item.body.in_(select(tags.c.item_body)))
        assert s.scalars(stmt).all() == ["a1"]


def test_an_insert_whose_values_read_a_tenant_table_reads_only_the_tenants_rows(engine):
    with tenant_session(engine, "b") as s:
        first = select(items.c.body).where(items.c.body.in_(["a1", "b1"])).limit(1).scalar_subquery()
        s.execute(insert(tags).values(id=new_id(), item_body=first, label="copied"))
        s.commit()
    with system_session(engine) as s:
        assert s.execute(select(tags.c.tenant_id, tags.c.item_body)
                         .where(tags.c.label == "copied")).all() == [("b", "b1")]


def test_a_statement_shape_seen_before_is_still_scoped_for_each_tenant(engine):
    for tenant, expected in (("a", ["a1", "a2"]), ("b", ["b1", "shared"]), ("a", ["a1", "a2"])):
        with tenant_session(engine, tenant) as s:
            assert sorted(s.scalars(select(items.c.body))) == expected


def test_flat_statements_are_scoped_on_a_copy_and_reused_for_each_tenant(engine):
    # One statement object run for one tenant, then another: the criteria added for the first
    # must neither stay on it nor leak into the second.
    read = select(items.c.body).where(items.c.body != "zzz").join(tags, tags.c.item_body == items.c.body)
    rename = update(items).where(items.c.body.in_(["a2", "shared"])).values(body="renamed")
    drop = delete(tags).where(tags.c.label.in_(["ta", "tb2"]))
    before = [str(stmt) for stmt in (read, rename, drop)]
    for tenant, joined in (("a", ["a1"]), ("b", ["shared"])):
        with tenant_session(engine, tenant) as s:
            assert sorted(s.scalars(read)) == joined
            s.execute(rename)
            s.execute(drop)
            s.commit()
    assert [str(stmt) for stmt in (read, rename, drop)] == before
    assert all_rows(engine) == [("a", "a1"), ("a", "renamed"), ("b", "b1"), ("b", "renamed")]
    with system_session(engine) as s:
        assert sorted((t.tenant_id, t.label) for t in s.scalars(select(Tag))) == [("b", "tb")]


def test_only_one_level_statements_take_the_flat_path():
    from mosaic.db.core_scope import statement_shape

    sub = select(tags.c.item_body).scalar_subquery()
    assert statement_shape(update(items).where(items.c.id == "x").values(body="y")) == (True, True)
    assert statement_shape(select(items).join(tags, tags.c.item_body == items.c.body)) == (True, True)
    assert statement_shape(select(items).where(items.c.body == sub)) == (True, False)
    assert statement_shape(delete(items).where(exists(select(tags.c.id)))) == (True, False)
    assert statement_shape(select(items.join(tags, tags.c.item_body == items.c.body))) == (True, False)
    assert statement_shape(select(items.alias("i"))) == (True, False)
    assert statement_shape(select(func.now())) == (False, True)
