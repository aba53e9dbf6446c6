"""maintenance: one row per scheduled maintenance task (its last run and the lease that
lets one process run it at a time); the security-event retention rule as a site setting

Revision ID: 0021_maintenance
Revises: 0020_insight_snapshots
Create Date: 2026-12-06 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_maintenance'
down_revision = '0020_insight_snapshots'
branch_labels = None
depends_on = None

OLD_KEYS = ('site_name', 'institution_name', 'support_email', 'logo',
            'page_privacy', 'page_terms', 'page_accessibility', 'flag_hide_threshold',
            'newcomer_days', 'newcomer_posts', 'newcomer_posts_per_hour',
            'member_posts_per_hour', 'message_max_length', 'edit_window_minutes',
            'notification_retention_days', 'hold_links_from_newcomers',
            'hold_branch_requests', 'claim_minutes')
NEW_KEYS = (*OLD_KEYS, 'security_event_retention_days')


def _keys(values):
    # Rules are rows only once an admin sets them (the default lives in the code), so
    # nothing is seeded: the key only has to be allowed.
    with op.batch_alter_table('site_setting', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_site_setting_key'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_site_setting_key'), f"key IN ({', '.join(repr(v) for v in values)})")


def upgrade():
    op.create_table('maintenance_task',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('last_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_outcome', sa.String(length=10), nullable=True),
    sa.Column('last_detail', sa.String(length=200), nullable=True),
    sa.Column('last_duration_ms', sa.Integer(), nullable=True),
    sa.Column('run_count', sa.Integer(), nullable=False),
    sa.Column('lease_holder', sa.String(length=80), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("last_outcome IN ('ok', 'failed', 'skipped')", name=op.f('ck_maintenance_task_last_outcome')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_maintenance_task'))
    )
    _keys(NEW_KEYS)


def downgrade():
    setting = sa.table('site_setting', sa.column('key', sa.String))
    op.execute(setting.delete().where(setting.c.key.not_in(OLD_KEYS)))
    _keys(OLD_KEYS)
    op.drop_table('maintenance_task')
