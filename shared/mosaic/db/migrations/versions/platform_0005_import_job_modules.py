"""import jobs keep the uploader's modules beside its roles, so a job processed later asks the
services its rows name as the uploader could (mosaic.imports.jobs.job_context)

Revision ID: platform_0005_import_job_modules
Revises: platform_0004_tenant_users
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = 'platform_0005_import_job_modules'
down_revision = 'platform_0004_tenant_users'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('import_jobs') as batch_op:
        batch_op.add_column(sa.Column('modules', sa.String(length=255), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('import_jobs') as batch_op:
        batch_op.drop_column('modules')
