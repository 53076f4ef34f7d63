"""Autogenerate an alembic revision for one component against a scratch PostgreSQL database.

    .venv/bin/python scripts/new_migration.py contacts "add import chunks"
    .venv/bin/python scripts/new_migration.py contacts "outbox: a column" --platform

The scratch database is migrated to its heads first, so the revision holds only what changed.
With ``--platform`` the revision goes on the platform's branch (``mosaic/db/migrations``: the
tables every record-hosting service has), generated against ``component``'s database.
"""
import argparse

from alembic import command

from mosaic.config import load_settings
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import alembic_config, migrate, platform_versions
from mosaic.localdev import drop_database, fresh_database

SCRATCH = "mosaic_autogen"


def main(component: str, message: str, rev_id: str | None = None, platform: bool = False) -> None:
    fresh_database(SCRATCH)
    settings = load_settings({"MOSAIC_MODE": "distributed",
                              "MOSAIC_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{SCRATCH}"})
    migrate(settings, component)
    from mosaic.db import get_engine

    engine = get_engine(settings, component)
    cfg = alembic_config(component)
    extra = {"head": "platform@head", "version_path": platform_versions()} if platform else {"head": f"{component}@head"}
    with engine.begin() as c:
        cfg.attributes["connection"] = c
        command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id, **extra)
    dispose_engines()
    drop_database(SCRATCH)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("component")
    parser.add_argument("message")
    parser.add_argument("rev_id", nargs="?")
    parser.add_argument("--platform", action="store_true", help="a revision of the platform's branch")
    args = parser.parse_args()
    main(args.component, args.message, args.rev_id, args.platform)
