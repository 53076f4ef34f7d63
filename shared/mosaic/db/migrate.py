"""Alembic migrations, per component (the gateway and every installed service).

Every component owns its tables. A service that hosts records also has the platform's tables
(metadata, generic records, audit, outbox, processed events, the low-code runtime) in its own
database: their migrations are one alembic branch of the platform (``mosaic/db/migrations``,
branch label ``platform``) that each such service's history includes, so a change to the outbox
is one migration, not one per service. A component's own revisions live in its package's
``migrations/`` folder, whose env calls :func:`run_env`; ``mosaic migrate`` runs
:func:`migrate_all`. On PostgreSQL a component's tables and its ``alembic_version`` live in its
own schema; in the embedded mode, in its own SQLite file.
"""
from __future__ import annotations

import importlib
import logging
from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from mosaic import services
from mosaic.config import Settings
from mosaic.db.base import Base
from mosaic.db.engine import get_engine, schema_for, statement_role

log = logging.getLogger(__name__)

#: the platform's tables, in every record-hosting service's database
PLATFORM_TABLES = ("metadata_fields", "metadata_objects", "metadata_versions", "records", "audit_entries",
                   "outbox", "processed_events",
                   # the low-code runtime: definitions, processes, automation, webhooks
                   "metadata_behaviours", "tenant_plugins", "process_transitions", "process_approvals",
                   "automation_jobs", "assignment_cursors", "notifications", "webhook_subscriptions",
                   "webhook_deliveries", "webhook_attempts",
                   # CSV import jobs
                   "import_jobs", "import_row_errors", "import_chunks",
                   # background builds of custom field indexes (issue 7)
                   "field_indexes",
                   # writes take effect once: each write's request id and outcome (issue 7)
                   "request_log",
                   # the read model of tenants' users, for owner checks (issue 7)
                   "tenant_users")
#: the modules defining the platform's tables
PLATFORM_MODELS = ("mosaic.metadata.store", "mosaic.records.models", "mosaic.audit", "mosaic.events.outbox",
                   "mosaic.events.consumer", "mosaic.logic.models", "mosaic.processes.models",
                   "mosaic.automation.jobs", "mosaic.automation.execute", "mosaic.automation.notifications",
                   "mosaic.webhooks.models", "mosaic.imports.models", "mosaic.request_log",
                   "mosaic.users.models")


def load_models() -> None:
    """Import every module that defines tables, so ``Base.metadata`` knows them all."""
    for module in PLATFORM_MODELS:
        importlib.import_module(module)
    for comp in services.components().values():
        for module in comp.models:
            importlib.import_module(module)


def owned_tables(component: str) -> tuple[str, ...]:
    """The tables ``component``'s migrations manage (the platform's included where it hosts them)."""
    comp = services.component(component)
    return (PLATFORM_TABLES if comp.platform_tables else ()) + tuple(comp.tables)


def run_env(context, component: str) -> None:
    """The body of a component's ``migrations/env.py``."""
    load_models()
    owned = set(owned_tables(component))

    def include(obj, name, type_, reflected, compare_to):
        if type_ == "table":
            return name in owned
        table = getattr(obj, "table", None)
        return table is None or table.name in owned

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through mosaic.db.migrate.migrate()")
    context.configure(connection=connection, target_metadata=Base.metadata, include_object=include,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                      user_module_prefix="mosaic.db.base.")
    with context.begin_transaction():
        context.run_migrations()


def platform_versions() -> str:
    """The folder of the platform branch's revisions."""
    return str(files("mosaic.db") / "migrations" / "versions")


def alembic_config(component: str) -> Config:
    """The alembic configuration of one component: its own revisions, plus the platform branch
    where it hosts the platform's tables."""
    comp = services.component(component)
    cfg = Config()
    cfg.set_main_option("script_location", f"{comp.package}:migrations")
    own = str(files(comp.package) / "migrations" / "versions")
    locations = [platform_versions(), own] if comp.platform_tables else [own]
    # A space-separated list; the folders of an installed package have no spaces in practice.
    cfg.set_main_option("version_locations", " ".join(locations))
    return cfg


def migrate(settings: Settings, component: str, revision: str = "heads") -> None:
    """Upgrade one component's database to ``revision`` (every branch's head by default)."""
    engine = get_engine(settings, component)
    with statement_role("migration"):  # no statement timeout: a migration takes its time
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_for(component)}"'))
        cfg = alembic_config(component)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    log.info("migrated %s to %s", component, revision)


def migrate_all(settings: Settings) -> None:
    """The gateway's and every installed service's migrations."""
    for component in services.components():
        migrate(settings, component)
