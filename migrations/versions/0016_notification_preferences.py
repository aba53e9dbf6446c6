"""notifications: each user's channel (on the site, email, daily digest, off) for the
kinds of notification they changed from the default

Revision ID: 0016_notification_preferences
Revises: 0015_admin_console
Create Date: 2026-12-05 05:05:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0016_notification_preferences'
down_revision = '0015_admin_console'
branch_labels = None
depends_on = None

KINDS = ('question_answered', 'answer_accepted', 'mention', 'thread_reply', 'announcement',
         'event_update', 'waitlist_promoted', 'branch_ready', 'draft_finished')
CHANNELS = ('in_app', 'email', 'digest', 'off')


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table(
        'notification_preference',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_in('kind', KINDS), name=op.f('ck_notification_preference_kind')),
        sa.CheckConstraint(_in('channel', CHANNELS),
                           name=op.f('ck_notification_preference_channel')),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE',
                                name=op.f('fk_notification_preference_user_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_preference')),
        sa.UniqueConstraint('user_id', 'kind', name='uq_notification_preference_user_kind'),
    )


def downgrade():
    op.drop_table('notification_preference')
