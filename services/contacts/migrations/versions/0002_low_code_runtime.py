"""the contacts service's part of the low-code runtime: task fields on activities (the runtime's own tables are the platform branch's)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 04:15:02.860157
"""
from alembic import op
import sqlalchemy as sa
import mosaic.db.base
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('activities', sa.Column('due_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True))
    op.add_column('activities', sa.Column('status', sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column('activities', 'status')
    op.drop_column('activities', 'due_at')
