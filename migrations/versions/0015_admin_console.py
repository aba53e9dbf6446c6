"""admin console: the audit trail becomes append-only in the database (triggers refuse
UPDATE and DELETE), the indexes that keep the audit log and security events fast to
filter and page a million rows deep, and the site settings an admin edits

Revision ID: 0015_admin_console
Revises: 0014_mail_and_tokens
Create Date: 2026-12-05 05:15:00

"""
import sqlalchemy as sa
from alembic import op

from webapp.models.audit import install_append_only_guard, remove_append_only_guard


revision = '0015_admin_console'
down_revision = '0014_mail_and_tokens'
branch_labels = None
depends_on = None


SITE_SETTING_KEYS = ('site_name', 'institution_name', 'support_email', 'logo',
                     'page_privacy', 'page_terms', 'page_accessibility')


def upgrade():
    op.create_table(
        'site_setting',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("key IN (" + ", ".join(f"'{k}'" for k in SITE_SETTING_KEYS) + ")",
                           name=op.f('ck_site_setting_key')),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_site_setting')),
    )
    op.drop_index('ix_audit_event_target', table_name='audit_event')
    op.create_index('ix_audit_event_target', 'audit_event', ['target_type', 'target_id', 'id'])
    op.create_index('ix_audit_event_actor_page', 'audit_event', ['actor_id', 'id'])
    op.create_index('ix_audit_event_action_page', 'audit_event', ['action', 'id'])
    op.create_index('ix_security_event_kind_page', 'security_event', ['kind', 'id'])
    op.create_index('ix_security_event_ip_page', 'security_event', ['ip', 'id'])
    op.create_index('ix_security_event_email_page', 'security_event', ['email', 'id'])
    # The same function the test suite uses to put the guard back after emptying tables.
    install_append_only_guard(op.get_bind())


def downgrade():
    remove_append_only_guard(op.get_bind())
    op.drop_index('ix_security_event_email_page', table_name='security_event')
    op.drop_index('ix_security_event_ip_page', table_name='security_event')
    op.drop_index('ix_security_event_kind_page', table_name='security_event')
    op.drop_index('ix_audit_event_action_page', table_name='audit_event')
    op.drop_index('ix_audit_event_actor_page', table_name='audit_event')
    op.drop_index('ix_audit_event_target', table_name='audit_event')
    op.create_index('ix_audit_event_target', 'audit_event', ['target_type', 'target_id'])
    op.drop_table('site_setting')
