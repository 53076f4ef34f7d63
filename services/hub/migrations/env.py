"""Alembic environment of the hub component (see mosaic.db.migrate)."""
from alembic import context

from mosaic.db.migrate import run_env

run_env(context, "hub")
