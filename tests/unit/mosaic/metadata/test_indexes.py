"""mosaic.metadata.indexes: names and DDL of the JSON field indexes (PostgreSQL behaviour is in
tests/integration/test_metadata_pg.py)."""
from __future__ import annotations

from metadata_factories import Widget, make_object, make_widget_object
from mosaic.metadata import FieldDef, FieldType, base_json_indexes, ensure_field_index
from mosaic.metadata.indexes import field_index, field_index_name
from sqlalchemy import Column, MetaData, String, Table, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex


def test_names_are_deterministic_and_fit_postgres_identifiers():
    assert field_index_name("contacts", "region") == "ix_contacts_cf_region"
    long_a = field_index_name("opportunity_line_items", "a" * 60)
    long_b = field_index_name("opportunity_line_items", "a" * 59 + "b")
    assert len(long_a) == 63 and long_a == field_index_name("opportunity_line_items", "a" * 60)
    assert long_a != long_b


def _ddl(index) -> str:
    return str(CreateIndex(index, if_not_exists=True).compile(dialect=postgresql.dialect()))


def test_core_table_expression_index_ddl():
    fdef = FieldDef("region", FieldType.TEXT, indexed=True, custom=True)
    assert _ddl(field_index(make_widget_object(), fdef)) == (
        "CREATE INDEX IF NOT EXISTS ix_widgets_cf_region ON widgets "
        "(tenant_id, (custom ->> 'region'))")
    # the model's own table is never touched
    assert not any("cf_" in (ix.name or "") for ix in Widget.__table__.indexes)


def test_records_table_expression_index_ddl():
    fdef = FieldDef("code", FieldType.TEXT, indexed=True, custom=True)
    assert _ddl(field_index(make_object(fdef), fdef)) == (
        "CREATE INDEX IF NOT EXISTS ix_records_cf_code ON records "
        "(tenant_id, object, (data ->> 'code'))")


def test_ensure_field_index_is_a_no_op_on_sqlite(engine):
    fdef = FieldDef("region", FieldType.TEXT, indexed=True, custom=True)
    with engine.begin() as conn:
        assert ensure_field_index(conn, make_widget_object(), fdef) is None
        assert [ix["name"] for ix in inspect(conn).get_indexes("widgets")
                if "cf_" in ix["name"]] == []


def test_base_json_indexes_are_gin_path_ops_on_postgres_only(engine):
    by_name = base_json_indexes("contacts", "custom")[0]
    assert by_name.name == "ix_contacts_custom_gin"
    assert by_name.dialect_options["postgresql"]["using"] == "gin"
    table = Table("things", MetaData(), Column("id", String, primary_key=True),
                  Column("custom", postgresql.JSONB), *base_json_indexes("things", "custom"))
    assert _ddl(list(table.indexes)[0]) == (
        "CREATE INDEX IF NOT EXISTS ix_things_custom_gin ON things "
        "USING gin (custom jsonb_path_ops)")
    # on SQLite the index is skipped rather than built over the whole JSON text
    table.metadata.create_all(engine)
    assert inspect(engine).get_indexes("things") == []
    attached = Table("others", MetaData(), Column("data", postgresql.JSONB))
    base_json_indexes(attached, "data")
    assert [ix.name for ix in attached.indexes] == ["ix_others_data_gin"]
