"""The platform's own tables, which every service that hosts records has in its own database:
metadata, generic records, audit, outbox and processed events, the low-code runtime
(behaviours, tenant plugins, processes, automation jobs, notifications, webhooks), and CSV
import jobs.

Revision ID: platform_0001
Revises:
Create Date: 2026-12-03

Databases migrated before the platform had its own branch got these tables from the contacts
service's revisions 0001 and 0002: a table that exists already is adopted, not created again.
"""
from alembic import op
import sqlalchemy as sa
import mosaic.db.base
from sqlalchemy.dialects import postgresql

revision = 'platform_0001'
down_revision = None
branch_labels = ('platform',)
depends_on = None


def _exists(table: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if not _exists('audit_entries'):
        op.create_table('audit_entries',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('actor', sa.String(length=128), nullable=False),
        sa.Column('at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
        )
        op.create_index('ix_audit_entries_record', 'audit_entries', ['tenant_id', 'object', 'record_id', 'at'], unique=False)
        op.create_index(op.f('ix_audit_entries_tenant_id'), 'audit_entries', ['tenant_id'], unique=False)
    if not _exists('metadata_fields'):
        op.create_table('metadata_fields',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_metadata_fields')),
        sa.UniqueConstraint('tenant_id', 'object', 'name', name=op.f('uq_metadata_fields_tenant_id_object_name'))
        )
        op.create_index(op.f('ix_metadata_fields_tenant_id'), 'metadata_fields', ['tenant_id'], unique=False)
    if not _exists('metadata_objects'):
        op.create_table('metadata_objects',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_metadata_objects')),
        sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_metadata_objects_tenant_id_name'))
        )
        op.create_index(op.f('ix_metadata_objects_tenant_id'), 'metadata_objects', ['tenant_id'], unique=False)
    if not _exists('metadata_versions'):
        op.create_table('metadata_versions',
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_metadata_versions'))
        )
    if not _exists('outbox'):
        op.create_table('outbox',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('type', sa.String(length=200), nullable=False),
        sa.Column('object', sa.String(length=100), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=True),
        sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('traceparent', sa.String(length=64), nullable=True),
        sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('published_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_outbox')),
        sa.UniqueConstraint('id', name=op.f('uq_outbox_id'))
        )
        op.create_index(op.f('ix_outbox_tenant_id'), 'outbox', ['tenant_id'], unique=False)
        op.create_index('ix_outbox_type_seq', 'outbox', ['type', 'seq'], unique=False)
        op.create_index('ix_outbox_unpublished', 'outbox', ['seq'], unique=False, postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))
    if not _exists('processed_events'):
        op.create_table('processed_events',
        sa.Column('consumer', sa.String(length=100), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=True),
        sa.Column('type', sa.String(length=200), nullable=True),
        sa.Column('processed_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('consumer', 'event_id', name=op.f('pk_processed_events'))
        )
    if not _exists('records'):
        op.create_table('records',
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_records'))
        )
        op.create_index('ix_records_data_gin', 'records', ['data'], unique=False, postgresql_using='gin', postgresql_ops={'data': 'jsonb_path_ops'})
        op.create_index(op.f('ix_records_tenant_id'), 'records', ['tenant_id'], unique=False)
        op.create_index('ix_records_tenant_object_id', 'records', ['tenant_id', 'object', 'id'], unique=False)
    if not _exists('assignment_cursors'):
        op.create_table('assignment_cursors',
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('key', sa.String(length=300), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', 'key', name=op.f('pk_assignment_cursors'))
        )
    if not _exists('automation_jobs'):
        op.create_table('automation_jobs',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=64), nullable=False),
        sa.Column('key', sa.String(length=400), nullable=False),
        sa.Column('object', sa.String(length=100), nullable=True),
        sa.Column('record_id', sa.String(length=64), nullable=True),
        sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('run_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_jobs')),
        sa.UniqueConstraint('tenant_id', 'kind', 'key', name='uq_automation_jobs_tenant_kind_key')
        )
        op.create_index('ix_automation_jobs_status_run_at', 'automation_jobs', ['status', 'run_at'], unique=False)
        op.create_index(op.f('ix_automation_jobs_tenant_id'), 'automation_jobs', ['tenant_id'], unique=False)
    if not _exists('metadata_behaviours'):
        op.create_table('metadata_behaviours',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_metadata_behaviours')),
        sa.UniqueConstraint('tenant_id', 'kind', 'name', name=op.f('uq_metadata_behaviours_tenant_id_kind_name'))
        )
        op.create_index(op.f('ix_metadata_behaviours_tenant_id'), 'metadata_behaviours', ['tenant_id'], unique=False)
    if not _exists('notifications'):
        op.create_table('notifications',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('recipient', sa.String(length=200), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('object', sa.String(length=100), nullable=True),
        sa.Column('record_id', sa.String(length=64), nullable=True),
        sa.Column('source', sa.String(length=200), nullable=True),
        sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('read_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
        )
        op.create_index('ix_notifications_inbox', 'notifications', ['tenant_id', 'recipient', 'created_at', 'id'], unique=False)
        op.create_index(op.f('ix_notifications_tenant_id'), 'notifications', ['tenant_id'], unique=False)
    if not _exists('process_approvals'):
        op.create_table('process_approvals',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('process', sa.String(length=64), nullable=False),
        sa.Column('transition', sa.String(length=64), nullable=False),
        sa.Column('from_stage', sa.String(length=64), nullable=True),
        sa.Column('to_stage', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('requested_by', sa.String(length=128), nullable=False),
        sa.Column('requested_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('decided_by', sa.String(length=128), nullable=True),
        sa.Column('decided_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('decision_comment', sa.Text(), nullable=True),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_process_approvals'))
        )
        op.create_index('ix_process_approvals_status', 'process_approvals', ['tenant_id', 'status', 'requested_at'], unique=False)
        op.create_index(op.f('ix_process_approvals_tenant_id'), 'process_approvals', ['tenant_id'], unique=False)
        op.create_index('uq_process_approvals_pending', 'process_approvals', ['tenant_id', 'record_id', 'process'], unique=True, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    if not _exists('process_transitions'):
        op.create_table('process_transitions',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('process', sa.String(length=64), nullable=False),
        sa.Column('from_stage', sa.String(length=64), nullable=True),
        sa.Column('to_stage', sa.String(length=64), nullable=False),
        sa.Column('transition', sa.String(length=64), nullable=True),
        sa.Column('actor', sa.String(length=128), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_process_transitions'))
        )
        op.create_index('ix_process_transitions_record', 'process_transitions', ['tenant_id', 'record_id', 'at'], unique=False)
        op.create_index(op.f('ix_process_transitions_tenant_id'), 'process_transitions', ['tenant_id'], unique=False)
    if not _exists('tenant_plugins'):
        op.create_table('tenant_plugins',
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('plugins', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_tenant_plugins'))
        )
    if not _exists('webhook_deliveries'):
        op.create_table('webhook_deliveries',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('subscription_id', sa.String(length=36), nullable=True),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('secret', sa.String(length=200), nullable=True),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('event_type', sa.String(length=200), nullable=False),
        sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
        sa.UniqueConstraint('subscription_id', 'event_id', name='uq_webhook_deliveries_sub_event')
        )
        op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['status', 'next_attempt_at'], unique=False)
        op.create_index('ix_webhook_deliveries_log', 'webhook_deliveries', ['subscription_id', 'created_at', 'id'], unique=False)
        op.create_index(op.f('ix_webhook_deliveries_tenant_id'), 'webhook_deliveries', ['tenant_id'], unique=False)
    if not _exists('webhook_subscriptions'):
        op.create_table('webhook_subscriptions',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('events', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('secret', sa.String(length=200), nullable=False),
        sa.Column('description', sa.String(length=500), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions'))
        )
        op.create_index(op.f('ix_webhook_subscriptions_tenant_id'), 'webhook_subscriptions', ['tenant_id'], unique=False)
    if not _exists('webhook_attempts'):
        op.create_table('webhook_attempts',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('delivery_id', sa.String(length=36), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts'))
        )
        op.create_index('ix_webhook_attempts_delivery', 'webhook_attempts', ['delivery_id', 'attempt'], unique=False)
        op.create_index(op.f('ix_webhook_attempts_tenant_id'), 'webhook_attempts', ['tenant_id'], unique=False)
    if not _exists('import_jobs'):
        op.create_table('import_jobs',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('object', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('policy', sa.String(length=8), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=True),
        sa.Column('total_rows', sa.Integer(), nullable=False),
        sa.Column('rows_done', sa.Integer(), nullable=False),
        sa.Column('created', sa.Integer(), nullable=False),
        sa.Column('updated', sa.Integer(), nullable=False),
        sa.Column('skipped', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('actor', sa.String(length=128), nullable=False),
        sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('header', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('columns', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('roles', sa.String(length=255), nullable=False),
        sa.Column('next_seq', sa.Integer(), nullable=False),
        sa.Column('next_row', sa.Integer(), nullable=False),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('heartbeat_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs'))
        )
        op.create_index('ix_import_jobs_status', 'import_jobs', ['status', 'created_at'], unique=False)
        op.create_index(op.f('ix_import_jobs_tenant_id'), 'import_jobs', ['tenant_id'], unique=False)
    if not _exists('import_chunks'):
        op.create_table('import_chunks',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('job_id', sa.String(length=36), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['import_jobs.id'], name=op.f('fk_import_chunks_job_id_import_jobs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_chunks')),
        sa.UniqueConstraint('job_id', 'seq', name=op.f('uq_import_chunks_job_id_seq'))
        )
        op.create_index(op.f('ix_import_chunks_tenant_id'), 'import_chunks', ['tenant_id'], unique=False)
    if not _exists('import_row_errors'):
        op.create_table('import_row_errors',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('job_id', sa.String(length=36), nullable=False),
        sa.Column('row_number', sa.Integer(), nullable=False),
        sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['import_jobs.id'], name=op.f('fk_import_row_errors_job_id_import_jobs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_row_errors'))
        )
        op.create_index('ix_import_row_errors_job', 'import_row_errors', ['tenant_id', 'job_id', 'row_number'], unique=False)
        op.create_index(op.f('ix_import_row_errors_tenant_id'), 'import_row_errors', ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_import_row_errors_tenant_id'), table_name='import_row_errors')
    op.drop_index('ix_import_row_errors_job', table_name='import_row_errors')
    op.drop_table('import_row_errors')
    op.drop_index(op.f('ix_import_chunks_tenant_id'), table_name='import_chunks')
    op.drop_table('import_chunks')
    op.drop_index(op.f('ix_import_jobs_tenant_id'), table_name='import_jobs')
    op.drop_index('ix_import_jobs_status', table_name='import_jobs')
    op.drop_table('import_jobs')
    op.drop_index(op.f('ix_webhook_attempts_tenant_id'), table_name='webhook_attempts')
    op.drop_index('ix_webhook_attempts_delivery', table_name='webhook_attempts')
    op.drop_table('webhook_attempts')
    op.drop_index(op.f('ix_webhook_subscriptions_tenant_id'), table_name='webhook_subscriptions')
    op.drop_table('webhook_subscriptions')
    op.drop_index(op.f('ix_webhook_deliveries_tenant_id'), table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_log', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_table('tenant_plugins')
    op.drop_index(op.f('ix_process_transitions_tenant_id'), table_name='process_transitions')
    op.drop_index('ix_process_transitions_record', table_name='process_transitions')
    op.drop_table('process_transitions')
    op.drop_index('uq_process_approvals_pending', table_name='process_approvals', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.drop_index(op.f('ix_process_approvals_tenant_id'), table_name='process_approvals')
    op.drop_index('ix_process_approvals_status', table_name='process_approvals')
    op.drop_table('process_approvals')
    op.drop_index(op.f('ix_notifications_tenant_id'), table_name='notifications')
    op.drop_index('ix_notifications_inbox', table_name='notifications')
    op.drop_table('notifications')
    op.drop_index(op.f('ix_metadata_behaviours_tenant_id'), table_name='metadata_behaviours')
    op.drop_table('metadata_behaviours')
    op.drop_index(op.f('ix_automation_jobs_tenant_id'), table_name='automation_jobs')
    op.drop_index('ix_automation_jobs_status_run_at', table_name='automation_jobs')
    op.drop_table('automation_jobs')
    op.drop_table('assignment_cursors')
    op.drop_index('ix_records_tenant_object_id', table_name='records')
    op.drop_index(op.f('ix_records_tenant_id'), table_name='records')
    op.drop_index('ix_records_data_gin', table_name='records', postgresql_using='gin', postgresql_ops={'data': 'jsonb_path_ops'})
    op.drop_table('records')
    op.drop_table('processed_events')
    op.drop_index('ix_outbox_unpublished', table_name='outbox', postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))
    op.drop_index('ix_outbox_type_seq', table_name='outbox')
    op.drop_index(op.f('ix_outbox_tenant_id'), table_name='outbox')
    op.drop_table('outbox')
    op.drop_table('metadata_versions')
    op.drop_index(op.f('ix_metadata_objects_tenant_id'), table_name='metadata_objects')
    op.drop_table('metadata_objects')
    op.drop_index(op.f('ix_metadata_fields_tenant_id'), table_name='metadata_fields')
    op.drop_table('metadata_fields')
    op.drop_index(op.f('ix_audit_entries_tenant_id'), table_name='audit_entries')
    op.drop_index('ix_audit_entries_record', table_name='audit_entries')
    op.drop_table('audit_entries')
