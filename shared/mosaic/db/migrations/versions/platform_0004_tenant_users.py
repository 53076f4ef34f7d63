"""tenant users: each service's read model of its tenants' users, which the gateway keeps in sync,
so a record's owner_id is checked in the write's own transaction (mosaic.users)

Revision ID: platform_0004_tenant_users
Revises: platform_0003_request_log
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa
import mosaic.db.base

revision = 'platform_0004_tenant_users'
down_revision = 'platform_0003_request_log'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tenant_users',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'user_id', name=op.f('pk_tenant_users'))
    )


def downgrade() -> None:
    op.drop_table('tenant_users')
