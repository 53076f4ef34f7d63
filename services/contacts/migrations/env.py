"""Alembic environment of the contacts component (see mosaic.db.migrate)."""
from alembic import context

from mosaic.db.migrate import run_env

run_env(context, "contacts")
