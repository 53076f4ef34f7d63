"""an index for the hourly purge of notifications read long ago (MOSAIC_NOTIFICATIONS_KEEP_DAYS)

Revision ID: hub_0003_notifications_read_at
Revises: hub_0002_webhooks
Create Date: 2026-12-03 14:35:00
"""
from alembic import op

revision = 'hub_0003_notifications_read_at'
down_revision = 'hub_0002_webhooks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_hub_notifications_read_at', 'hub_notifications', ['read_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_hub_notifications_read_at', table_name='hub_notifications')
