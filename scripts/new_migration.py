"""Autogenerate an alembic revision for one component against a scratch PostgreSQL database.

    .venv/bin/python scripts/new_migration.py contacts "add import chunks"

The scratch database is migrated to head first, so the revision holds only what changed.
"""
import sys

from alembic import command

from mosaic.config import load_settings
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import alembic_config, migrate
from mosaic.localdev import drop_database, fresh_database

SCRATCH = "mosaic_autogen"


def main(component: str, message: str, rev_id: str | None = None) -> None:
    fresh_database(SCRATCH)
    settings = load_settings({"MOSAIC_MODE": "distributed",
                              "MOSAIC_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{SCRATCH}"})
    migrate(settings, component)
    from mosaic.db import get_engine

    engine = get_engine(settings, component)
    cfg = alembic_config(component)
    with engine.begin() as c:
        cfg.attributes["connection"] = c
        command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
    dispose_engines()
    drop_database(SCRATCH)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
