"""Alembic migrations, per service.

Every service owns its tables: the platform tables every record-hosting service has (metadata,
generic records, audit, outbox, processed events) plus its own. Each service package has a
``migrations/`` folder (alembic env + versions) whose env calls :func:`run_env`; ``mosaic
migrate`` runs :func:`migrate_all`. On PostgreSQL a service's tables and its ``alembic_version``
live in its own schema; in the embedded mode, in its own SQLite file.
"""
from __future__ import annotations

import importlib
import logging

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from mosaic.config import IMPLEMENTED_SERVICES, Settings
from mosaic.db.base import Base
from mosaic.db.engine import get_engine, schema_for

log = logging.getLogger(__name__)

#: tables every record-hosting service has
PLATFORM_TABLES = ("metadata_fields", "metadata_objects", "metadata_versions", "records", "audit_entries",
                   "outbox", "processed_events",
                   # the low-code runtime: definitions, processes, automation, webhooks (issue 3)
                   "metadata_behaviours", "tenant_plugins", "process_transitions", "process_approvals",
                   "automation_jobs", "assignment_cursors", "notifications", "webhook_subscriptions",
                   "webhook_deliveries", "webhook_attempts")
#: component -> (package holding models and migrations, its own tables)
COMPONENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gateway": ("mosaic_gateway", ("tenants", "users", "refresh_tokens", "api_keys", "field_permissions",
                                   "idempotency_records")),
    "contacts": ("mosaic_contacts", PLATFORM_TABLES + ("accounts", "contacts", "relationships", "activities",
                                                       "lifecycle_changes", "merges", "import_jobs",
                                                       "import_row_errors", "import_chunks")),
}


def load_models() -> None:
    """Import every module that defines tables, so ``Base.metadata`` knows them all."""
    for module in ("mosaic.metadata.store", "mosaic.records.models", "mosaic.audit", "mosaic.events.outbox",
                   "mosaic.events.consumer", "mosaic.logic.models", "mosaic.processes.models",
                   "mosaic.automation.jobs", "mosaic.automation.execute", "mosaic.automation.notifications",
                   "mosaic.webhooks.models", "mosaic_gateway.models", "mosaic_contacts.models"):
        importlib.import_module(module)


def owned_tables(component: str) -> tuple[str, ...]:
    return COMPONENTS[component][1]


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


def alembic_config(component: str) -> Config:
    package = COMPONENTS[component][0]
    cfg = Config()
    cfg.set_main_option("script_location", f"{package}:migrations")
    return cfg


def migrate(settings: Settings, component: str, revision: str = "head") -> None:
    """Upgrade one component's database to ``revision``."""
    engine = get_engine(settings, component)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_for(component)}"'))
    cfg = alembic_config(component)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    log.info("migrated %s to %s", component, revision)


def migrate_all(settings: Settings) -> None:
    """The gateway's and every implemented service's migrations."""
    for component in ("gateway", *IMPLEMENTED_SERVICES):
        migrate(settings, component)
