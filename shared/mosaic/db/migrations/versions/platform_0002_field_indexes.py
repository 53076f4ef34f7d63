"""field indexes: the state of custom field indexes built in the background (issue 7)

Revision ID: platform_0002_field_indexes
Revises: platform_0001
Create Date: 2026-12-03 11:00:00
"""
from alembic import op
import sqlalchemy as sa
import mosaic.db.base
from sqlalchemy.dialects import postgresql

revision = 'platform_0002_field_indexes'
down_revision = 'platform_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('field_indexes',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('table_name', sa.String(length=63), nullable=False),
    sa.Column('spec', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('requested_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_field_indexes'))
    )
    op.create_index(op.f('ix_field_indexes_table_name'), 'field_indexes', ['table_name'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_field_indexes_table_name'), table_name='field_indexes')
    op.drop_table('field_indexes')
