from sqlalchemy import inspect

from mosaic.db import get_engine, system_session
from mosaic.db.migrate import migrate
from mosaic_gateway import identity
from mosaic_gateway.models import GATEWAY_TABLES


def test_the_gateway_migration_builds_what_the_models_need(settings, tmp_path):
    migrated = settings.with_(data_dir=tmp_path / "migrated")
    migrated.data_dir.mkdir()
    migrate(migrated, "gateway")
    engine = get_engine(migrated, "gateway")
    try:
        inspector = inspect(engine)
        for table in GATEWAY_TABLES:
            assert {c.name for c in table.columns} == {c["name"] for c in inspector.get_columns(table.name)}
        with system_session(engine) as s:
            identity.create_tenant(s, "acme", "Acme", "boss@acme.test", "correct horse battery")
            s.commit()
            assert identity.verify_login(s, "acme", "boss@acme.test", "correct horse battery").roles == ["admin"]
    finally:
        engine.dispose()
