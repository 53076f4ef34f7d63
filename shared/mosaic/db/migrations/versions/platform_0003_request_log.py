"""request log: each write's request id and outcome, so a redelivered or retried write runs once
(mosaic.request_log)

Revision ID: platform_0003_request_log
Revises: platform_0002_field_indexes
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa
import mosaic.db.base
from sqlalchemy.dialects import postgresql

revision = 'platform_0003_request_log'
down_revision = 'platform_0002_field_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('request_log',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=200), nullable=False),
    sa.Column('method', sa.String(length=100), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'request_id', name=op.f('pk_request_log'))
    )
    op.create_index('ix_request_log_created_at', 'request_log', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_request_log_created_at', table_name='request_log')
    op.drop_table('request_log')
