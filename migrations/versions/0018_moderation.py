"""moderation: the queue (one item per flagged, held or appealed target), moderation
actions and appeals; the moderator role; silenced accounts; flags on branch lessons and
profiles; held branch requests; the moderation rules as site settings; a notification
kind for moderation notices

Revision ID: 0018_moderation
Revises: 0017_community
Create Date: 2026-12-05 11:55:41.716994

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_moderation'
down_revision = '0017_community'
branch_labels = None
depends_on = None

OLD_ROLES = ('learner', 'editor', 'admin')
NEW_ROLES = ('learner', 'editor', 'moderator', 'admin')
OLD_TARGETS = ('question', 'answer', 'message', 'event', 'lesson', 'announcement')
NEW_TARGETS = (*OLD_TARGETS, 'branch', 'profile')
OLD_KINDS = ('question_answered', 'answer_accepted', 'mention', 'thread_reply', 'announcement',
             'event_update', 'waitlist_promoted', 'branch_ready', 'draft_finished')
NEW_KINDS = (*OLD_KINDS, 'moderation')
OLD_KEYS = ('site_name', 'institution_name', 'support_email', 'logo',
            'page_privacy', 'page_terms', 'page_accessibility', 'flag_hide_threshold',
            'newcomer_days', 'newcomer_posts', 'newcomer_posts_per_hour',
            'member_posts_per_hour', 'message_max_length', 'edit_window_minutes',
            'notification_retention_days')
NEW_KEYS = (*OLD_KEYS, 'hold_links_from_newcomers', 'hold_branch_requests', 'claim_minutes')
OLD_BRANCH = ('pending', 'ready', 'failed')
NEW_BRANCH = (*OLD_BRANCH, 'held')


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _choices(table, column, values):
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f'ck_{table}_{column}'), type_='check')
        batch_op.create_check_constraint(op.f(f'ck_{table}_{column}'), _in(column, values))


def _checks(new):
    roles, targets, kinds, keys, branch = new
    _choices('user', 'role', roles)
    _choices('flag', 'target_kind', targets)
    _choices('notification', 'kind', kinds)
    _choices('notification_preference', 'kind', kinds)
    _choices('site_setting', 'key', keys)
    _choices('branch', 'status', branch)


def upgrade():
    op.create_table('moderation_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('flag_count', sa.Integer(), nullable=False),
    sa.Column('reasons', sa.String(length=120), nullable=False),
    sa.Column('ai_generated', sa.Boolean(), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_flagged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.CheckConstraint("source IN ('flags', 'held', 'appeal')", name=op.f('ck_moderation_item_source')),
    sa.CheckConstraint("status IN ('open', 'closed')", name=op.f('ck_moderation_item_status')),
    sa.CheckConstraint("target_kind IN ('question', 'answer', 'message', 'event', 'lesson', 'announcement', 'branch', 'profile', 'appeal')", name=op.f('ck_moderation_item_target_kind')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_moderation_item_author_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['claimed_by_id'], ['user.id'], name=op.f('fk_moderation_item_claimed_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['closed_by_id'], ['user.id'], name=op.f('fk_moderation_item_closed_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_moderation_item_course_id_course'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_item')),
    sa.UniqueConstraint('target_kind', 'target_id', name='uq_moderation_item_target')
    )
    with op.batch_alter_table('moderation_item', schema=None) as batch_op:
        batch_op.create_index('ix_moderation_item_author', ['author_id', 'id'], unique=False)
        batch_op.create_index('ix_moderation_item_course', ['status', 'course_id', 'last_flagged_at', 'id'], unique=False)
        batch_op.create_index('ix_moderation_item_kind', ['status', 'target_kind', 'last_flagged_at', 'id'], unique=False)
        batch_op.create_index('ix_moderation_item_most', ['status', 'flag_count', 'id'], unique=False)
        batch_op.create_index('ix_moderation_item_newest', ['status', 'last_flagged_at', 'id'], unique=False)
        batch_op.create_index('ix_moderation_item_oldest', ['status', 'waiting_since', 'id'], unique=False)

    op.create_table('moderation_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('moderator_id', sa.Integer(), nullable=True),
    sa.Column('automated', sa.Boolean(), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('waited_seconds', sa.Integer(), nullable=True),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.Column('batch', sa.String(length=32), nullable=True),
    sa.CheckConstraint("action IN ('dismiss', 'hide', 'restore', 'delete', 'edit', 'approve', 'reject', 'warn', 'silence', 'suspend', 'ban', 'delete_posts', 'lift', 'appeal_granted', 'appeal_denied')", name=op.f('ck_moderation_action_action')),
    sa.CheckConstraint("reason IN ('spam', 'abuse', 'harassment', 'off_topic', 'wrong', 'personal_data', 'illegal', 'repeated', 'other')", name=op.f('ck_moderation_action_reason')),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_moderation_action_course_id_course'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['item_id'], ['moderation_item.id'], name=op.f('fk_moderation_action_item_id_moderation_item'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['moderator_id'], ['user.id'], name=op.f('fk_moderation_action_moderator_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subject_id'], ['user.id'], name=op.f('fk_moderation_action_subject_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['undone_by_id'], ['user.id'], name=op.f('fk_moderation_action_undone_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_action'))
    )
    with op.batch_alter_table('moderation_action', schema=None) as batch_op:
        batch_op.create_index('ix_moderation_action_created', ['created_at'], unique=False)
        batch_op.create_index('ix_moderation_action_item', ['item_id', 'id'], unique=False)
        batch_op.create_index('ix_moderation_action_subject', ['subject_id', 'id'], unique=False)

    op.create_table('appeal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'granted', 'denied')", name=op.f('ck_appeal_status')),
    sa.ForeignKeyConstraint(['action_id'], ['moderation_action.id'], name=op.f('fk_appeal_action_id_moderation_action'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_appeal_decided_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_appeal_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeal')),
    sa.UniqueConstraint('action_id', name='uq_appeal_action')
    )
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.create_index('ix_appeal_status', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appeal_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('silenced_until', sa.DateTime(timezone=True), nullable=True))
    _checks((NEW_ROLES, NEW_TARGETS, NEW_KINDS, NEW_KEYS, NEW_BRANCH))



def downgrade():
    # What the older schema cannot hold: moderators become editors (they keep their
    # courses), flags on the new kinds and moderation notices go, held branch requests
    # become failed ones, the new rules fall back to nothing.
    user = sa.table('user', sa.column('role', sa.String))
    op.execute(user.update().where(user.c.role == 'moderator').values(role='editor'))
    flag = sa.table('flag', sa.column('target_kind', sa.String))
    op.execute(flag.delete().where(flag.c.target_kind.not_in(OLD_TARGETS)))
    for table in ('notification', 'notification_preference'):
        rows = sa.table(table, sa.column('kind', sa.String))
        op.execute(rows.delete().where(rows.c.kind.not_in(OLD_KINDS)))
    setting = sa.table('site_setting', sa.column('key', sa.String))
    op.execute(setting.delete().where(setting.c.key.not_in(OLD_KEYS)))
    branch = sa.table('branch', sa.column('status', sa.String))
    op.execute(branch.update().where(branch.c.status == 'held').values(status='failed'))
    _checks((OLD_ROLES, OLD_TARGETS, OLD_KINDS, OLD_KEYS, OLD_BRANCH))
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('silenced_until')

    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appeal_user_id'))
        batch_op.drop_index('ix_appeal_status')

    op.drop_table('appeal')
    with op.batch_alter_table('moderation_action', schema=None) as batch_op:
        batch_op.drop_index('ix_moderation_action_subject')
        batch_op.drop_index('ix_moderation_action_item')
        batch_op.drop_index('ix_moderation_action_created')

    op.drop_table('moderation_action')
    with op.batch_alter_table('moderation_item', schema=None) as batch_op:
        batch_op.drop_index('ix_moderation_item_oldest')
        batch_op.drop_index('ix_moderation_item_newest')
        batch_op.drop_index('ix_moderation_item_most')
        batch_op.drop_index('ix_moderation_item_kind')
        batch_op.drop_index('ix_moderation_item_course')
        batch_op.drop_index('ix_moderation_item_author')

    op.drop_table('moderation_item')
