"""Every component's migrations on the real PostgreSQL server: a fresh database gets exactly the
tables its models describe (the platform's branch included), and a database migrated before the
platform had its own branch (platform tables made by the contacts service's revisions) is adopted,
not broken."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from mosaic import services
from mosaic.config import load_settings
from mosaic.db import Base, get_engine
from mosaic.db.engine import dispose_engines, schema_for
from mosaic.db.migrate import PLATFORM_TABLES, load_models, migrate, migrate_all, owned_tables
from tests.conftest import fresh_database

pytestmark = pytest.mark.postgres


def _settings(name: str):
    return load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_DATABASE_URL": fresh_database(name)})


def _differences(settings, component: str) -> list:
    """What the component's models have that its database lacks (or the reverse)."""
    load_models()
    owned = set(owned_tables(component))

    def include(obj, name, type_, reflected, compare_to):
        if type_ == "table":
            return name in owned
        table = getattr(obj, "table", None)
        return table is None or table.name in owned

    with get_engine(settings, component).connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": False})
        return [d for d in compare_metadata(context, Base.metadata)
                # expression and partial indexes are not compared reliably by alembic
                if not (isinstance(d, tuple) and d[0] in ("add_index", "remove_index"))]


def _versions(settings, component: str) -> set[str]:
    with get_engine(settings, component).connect() as conn:
        return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def test_a_fresh_database_gets_what_every_model_describes():
    settings = _settings("mosaic_it_migrations")
    try:
        migrate_all(settings)
        for component in services.components():
            assert _differences(settings, component) == [], component
        assert _versions(settings, "contacts") == {"0002", PLATFORM_HEAD}
        migrate_all(settings)  # a second run changes nothing
        assert _versions(settings, "contacts") == {"0002", PLATFORM_HEAD}
    finally:
        dispose_engines()


#: the platform branch's head revision
PLATFORM_HEAD = "platform_0005_import_job_modules"
#: platform tables added after the platform got its own branch: no old database has them
LATER_PLATFORM = ("field_indexes", "request_log", "tenant_users")
#: the platform tables the contacts service's old revision 0001 created (0002 made the rest)
OLD_0001_PLATFORM = ("metadata_fields", "metadata_objects", "metadata_versions", "records", "audit_entries",
                     "outbox", "processed_events", "import_jobs", "import_chunks", "import_row_errors")


@pytest.mark.parametrize("old_version", ["0002", "0001"])
def test_a_database_from_before_the_platform_branch_is_adopted(old_version):
    settings = _settings(f"mosaic_it_migrations_{old_version}")
    try:
        load_models()
        engine = get_engine(settings, "contacts")
        own = services.get("contacts").tables
        built = own + (OLD_0001_PLATFORM if old_version == "0001"
                       else tuple(t for t in PLATFORM_TABLES if t not in LATER_PLATFORM))
        with engine.begin() as conn:  # what the contacts revisions up to old_version used to build
            conn.execute(text(f'CREATE SCHEMA "{schema_for("contacts")}"'))
            Base.metadata.create_all(conn, tables=[Base.metadata.tables[t] for t in built])
            if old_version == "0001":  # 0002 added the task fields
                conn.execute(text("ALTER TABLE activities DROP COLUMN due_at, DROP COLUMN status"))
            conn.execute(text("ALTER TABLE import_jobs DROP COLUMN modules"))  # platform_0005 added it
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
            conn.execute(text(f"INSERT INTO alembic_version VALUES ('{old_version}')"))
        migrate(settings, "contacts")
        assert _versions(settings, "contacts") == {"0002", PLATFORM_HEAD}
        assert _differences(settings, "contacts") == []
    finally:
        dispose_engines()
