"""initial contacts tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 03:10:07.458135
"""
from alembic import op
import sqlalchemy as sa
import mosaic.db.base
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = ('contacts',)
# The platform's tables (metadata, records, audit, outbox, …) are the platform's alembic
# branch (mosaic/db/migrations), upgraded beside this one; this revision holds only the
# contacts service's own tables.
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('industry', sa.String(length=64), nullable=True),
    sa.Column('size', sa.String(length=16), nullable=True),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('website', sa.String(length=500), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('address_street', sa.String(length=255), nullable=True),
    sa.Column('address_city', sa.String(length=128), nullable=True),
    sa.Column('address_province', sa.String(length=128), nullable=True),
    sa.Column('address_country', sa.String(length=64), nullable=True),
    sa.Column('address_postal_code', sa.String(length=32), nullable=True),
    sa.Column('name_key', sa.String(length=255), nullable=True),
    sa.Column('custom', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts'))
    )
    op.create_index('ix_accounts_custom_gin', 'accounts', ['custom'], unique=False, postgresql_using='gin', postgresql_ops={'custom': 'jsonb_path_ops'})
    op.create_index(op.f('ix_accounts_tenant_id'), 'accounts', ['tenant_id'], unique=False)
    op.create_index('ix_accounts_tenant_id_id', 'accounts', ['tenant_id', 'id'], unique=False)
    op.create_index('ix_accounts_tenant_name_key', 'accounts', ['tenant_id', 'name_key'], unique=False, postgresql_ops={'name_key': 'varchar_pattern_ops'})
    op.create_table('activities',
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('direction', sa.String(length=16), nullable=True),
    sa.Column('occurred_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=64), nullable=True),
    sa.Column('contact_id', sa.String(length=36), nullable=True),
    sa.Column('account_id', sa.String(length=36), nullable=True),
    sa.Column('related_object', sa.String(length=64), nullable=True),
    sa.Column('related_id', sa.String(length=64), nullable=True),
    sa.Column('custom', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities'))
    )
    op.create_index('ix_activities_custom_gin', 'activities', ['custom'], unique=False, postgresql_using='gin', postgresql_ops={'custom': 'jsonb_path_ops'})
    op.create_index('ix_activities_tenant_account_at', 'activities', ['tenant_id', 'account_id', 'occurred_at'], unique=False)
    op.create_index('ix_activities_tenant_contact_at', 'activities', ['tenant_id', 'contact_id', 'occurred_at'], unique=False)
    op.create_index(op.f('ix_activities_tenant_id'), 'activities', ['tenant_id'], unique=False)
    op.create_table('contacts',
    sa.Column('first_name', sa.String(length=128), nullable=True),
    sa.Column('last_name', sa.String(length=128), nullable=True),
    sa.Column('title', sa.String(length=128), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('mobile', sa.String(length=32), nullable=True),
    sa.Column('address_street', sa.String(length=255), nullable=True),
    sa.Column('address_city', sa.String(length=128), nullable=True),
    sa.Column('address_province', sa.String(length=128), nullable=True),
    sa.Column('address_country', sa.String(length=64), nullable=True),
    sa.Column('address_postal_code', sa.String(length=32), nullable=True),
    sa.Column('birthday', sa.Date(), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('email_consent', sa.Boolean(), nullable=False),
    sa.Column('sms_consent', sa.Boolean(), nullable=False),
    sa.Column('lifecycle_stage', sa.String(length=16), nullable=False),
    sa.Column('lifecycle_changed_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('account_id', sa.String(length=36), nullable=True),
    sa.Column('company_name', sa.String(length=255), nullable=True),
    sa.Column('email_key', sa.String(length=320), nullable=True),
    sa.Column('phone_key', sa.String(length=32), nullable=True),
    sa.Column('name_key', sa.String(length=255), nullable=True),
    sa.Column('custom', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts'))
    )
    op.create_index('ix_contacts_custom_gin', 'contacts', ['custom'], unique=False, postgresql_using='gin', postgresql_ops={'custom': 'jsonb_path_ops'})
    op.create_index('ix_contacts_tenant_account', 'contacts', ['tenant_id', 'account_id'], unique=False)
    op.create_index('ix_contacts_tenant_created', 'contacts', ['tenant_id', 'created_at'], unique=False)
    op.create_index('ix_contacts_tenant_email_key', 'contacts', ['tenant_id', 'email_key'], unique=False)
    op.create_index(op.f('ix_contacts_tenant_id'), 'contacts', ['tenant_id'], unique=False)
    op.create_index('ix_contacts_tenant_id_id', 'contacts', ['tenant_id', 'id'], unique=False)
    op.create_index('ix_contacts_tenant_name_key', 'contacts', ['tenant_id', 'name_key'], unique=False, postgresql_ops={'name_key': 'varchar_pattern_ops'})
    op.create_index('ix_contacts_tenant_phone_key', 'contacts', ['tenant_id', 'phone_key'], unique=False)
    op.create_table('lifecycle_changes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('from_stage', sa.String(length=16), nullable=True),
    sa.Column('to_stage', sa.String(length=16), nullable=False),
    sa.Column('changed_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lifecycle_changes'))
    )
    op.create_index(op.f('ix_lifecycle_changes_tenant_id'), 'lifecycle_changes', ['tenant_id'], unique=False)
    op.create_index('ix_lifecycle_tenant_contact', 'lifecycle_changes', ['tenant_id', 'contact_id', 'changed_at'], unique=False)
    op.create_table('merges',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('object', sa.String(length=32), nullable=False),
    sa.Column('survivor_id', sa.String(length=36), nullable=False),
    sa.Column('merged_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('snapshots', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('merged_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merges'))
    )
    op.create_index(op.f('ix_merges_tenant_id'), 'merges', ['tenant_id'], unique=False)
    op.create_table('relationships',
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=True),
    sa.Column('job_title', sa.String(length=128), nullable=True),
    sa.Column('is_primary', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('custom', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mosaic.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relationships'))
    )
    op.create_index('ix_relationships_custom_gin', 'relationships', ['custom'], unique=False, postgresql_using='gin', postgresql_ops={'custom': 'jsonb_path_ops'})
    op.create_index('ix_relationships_tenant_account', 'relationships', ['tenant_id', 'account_id'], unique=False)
    op.create_index('ix_relationships_tenant_contact', 'relationships', ['tenant_id', 'contact_id'], unique=False)
    op.create_index(op.f('ix_relationships_tenant_id'), 'relationships', ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_relationships_tenant_id'), table_name='relationships')
    op.drop_index('ix_relationships_tenant_contact', table_name='relationships')
    op.drop_index('ix_relationships_tenant_account', table_name='relationships')
    op.drop_index('ix_relationships_custom_gin', table_name='relationships', postgresql_using='gin', postgresql_ops={'custom': 'jsonb_path_ops'})
    op.drop_table('relationships')
    op.drop_index(op.f('ix_merges_tenant_id'), table_name='merges')
    op.drop_table('merges')
    op.drop_index('ix_lifecycle_tenant_contact', table_name='lifecycle_changes')
    op.drop_index(op.f('ix_lifecycle_changes_tenant_id'), table_name='lifecycle_changes')
    op.drop_table('lifecycle_changes')
    op.drop_index('ix_contacts_tenant_phone_key', table_name='contacts')
    op.drop_index('ix_contacts_tenant_name_key', table_name='contacts', postgresql_ops={'name_key': 'varchar_pattern_ops'})
    op.drop_index('ix_contacts_tenant_id_id', table_name='contacts')
    op.drop_index(op.f('ix_contacts_tenant_id'), table_name='contacts')
    op.drop_index('ix_contacts_tenant_email_key', table_name='contacts')
    op.drop_index('ix_contacts_tenant_created', table_name='contacts')
    op.drop_index('ix_contacts_tenant_account', table_name='contacts')
    op.drop_index('ix_contacts_custom_gin', table_name='contacts', postgresql_using='gin', postgresql_ops={'custom': 'jsonb_path_ops'})
    op.drop_table('contacts')
    op.drop_index(op.f('ix_activities_tenant_id'), table_name='activities')
    op.drop_index('ix_activities_tenant_contact_at', table_name='activities')
    op.drop_index('ix_activities_tenant_account_at', table_name='activities')
    op.drop_index('ix_activities_custom_gin', table_name='activities', postgresql_using='gin', postgresql_ops={'custom': 'jsonb_path_ops'})
    op.drop_table('activities')
    op.drop_index('ix_accounts_tenant_name_key', table_name='accounts', postgresql_ops={'name_key': 'varchar_pattern_ops'})
    op.drop_index('ix_accounts_tenant_id_id', table_name='accounts')
    op.drop_index(op.f('ix_accounts_tenant_id'), table_name='accounts')
    op.drop_index('ix_accounts_custom_gin', table_name='accounts', postgresql_using='gin', postgresql_ops={'custom': 'jsonb_path_ops'})
    op.drop_table('accounts')
