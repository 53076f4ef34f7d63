"""the hub's tables: notifications, the approvals inbox, processed events, request log

Revision ID: hub_0001
Revises: 
Create Date: 2026-12-03 13:26:31.849054
"""
from alembic import op
import sqlalchemy as sa
import mosaic.db.base
from sqlalchemy.dialects import postgresql

revision = 'hub_0001'
down_revision = None
branch_labels = ('hub',)
depends_on = None

def upgrade() -> None:

    op.create_table('hub_approvals',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('object', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('process', sa.String(length=64), nullable=False),
    sa.Column('transition', sa.String(length=64), nullable=False),
    sa.Column('from_stage', sa.String(length=64), nullable=True),
    sa.Column('to_stage', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('approver_roles', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('approver_users', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('requested_by', sa.String(length=128), nullable=False),
    sa.Column('requested_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('decided_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=True),
    sa.Column('event_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_approvals'))
    )
    op.create_index('ix_hub_approvals_inbox', 'hub_approvals', ['tenant_id', 'status', 'requested_at', 'id'], unique=False)
    op.create_index(op.f('ix_hub_approvals_tenant_id'), 'hub_approvals', ['tenant_id'], unique=False)
    op.create_table('hub_notifications',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('object', sa.String(length=100), nullable=True),
    sa.Column('record_id', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('service', sa.String(length=64), nullable=True),
    sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_notifications'))
    )
    op.create_index('ix_hub_notifications_inbox', 'hub_notifications', ['tenant_id', 'recipient', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_hub_notifications_tenant_id'), 'hub_notifications', ['tenant_id'], unique=False)
    op.create_index('ix_hub_notifications_unread', 'hub_notifications', ['tenant_id', 'recipient', 'read_at'], unique=False)
    op.create_table('processed_events',
    sa.Column('consumer', sa.String(length=100), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=True),
    sa.Column('type', sa.String(length=200), nullable=True),
    sa.Column('processed_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'event_id', name=op.f('pk_processed_events'))
    )
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
    op.create_table('hub_approval_approvers',
    sa.Column('approval_id', sa.String(length=36), nullable=False),
    sa.Column('approver', sa.String(length=200), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['approval_id'], ['hub_approvals.id'], name=op.f('fk_hub_approval_approvers_approval_id_hub_approvals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('approval_id', 'approver', name=op.f('pk_hub_approval_approvers'))
    )
    op.create_index('ix_hub_approval_approvers_approver', 'hub_approval_approvers', ['tenant_id', 'approver', 'approval_id'], unique=False)
    op.create_index(op.f('ix_hub_approval_approvers_tenant_id'), 'hub_approval_approvers', ['tenant_id'], unique=False)

def downgrade() -> None:

    op.drop_index(op.f('ix_hub_approval_approvers_tenant_id'), table_name='hub_approval_approvers')
    op.drop_index('ix_hub_approval_approvers_approver', table_name='hub_approval_approvers')
    op.drop_table('hub_approval_approvers')
    op.drop_index('ix_request_log_created_at', table_name='request_log')
    op.drop_table('request_log')
    op.drop_table('processed_events')
    op.drop_index('ix_hub_notifications_unread', table_name='hub_notifications')
    op.drop_index(op.f('ix_hub_notifications_tenant_id'), table_name='hub_notifications')
    op.drop_index('ix_hub_notifications_inbox', table_name='hub_notifications')
    op.drop_table('hub_notifications')
    op.drop_index(op.f('ix_hub_approvals_tenant_id'), table_name='hub_approvals')
    op.drop_index('ix_hub_approvals_inbox', table_name='hub_approvals')
    op.drop_table('hub_approvals')

