"""community: questions and answers with votes and revisions, channels and their
messages, announcements, events with RSVPs and calendar feeds, notifications, flags;
the community's rules as site settings; the general channel

Revision ID: 0017_community
Revises: 0016_notification_preferences
Create Date: 2026-12-05 08:00:01.565588

"""
from alembic import op
import sqlalchemy as sa


revision = '0017_community'
down_revision = '0016_notification_preferences'
branch_labels = None
depends_on = None

OLD_KEYS = ('site_name', 'institution_name', 'support_email', 'logo',
            'page_privacy', 'page_terms', 'page_accessibility')
NEW_KEYS = (*OLD_KEYS, 'flag_hide_threshold', 'newcomer_days', 'newcomer_posts',
            'newcomer_posts_per_hour', 'member_posts_per_hour', 'message_max_length',
            'edit_window_minutes', 'notification_retention_days')


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _keys(keys):
    with op.batch_alter_table('site_setting', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_site_setting_key'), type_='check')
        batch_op.create_check_constraint(op.f('ck_site_setting_key'), _in('key', keys))


def upgrade():
    op.create_table('calendar_feed',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_calendar_feed_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feed')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_calendar_feed_token_hash')),
    sa.UniqueConstraint('user_id', name='uq_calendar_feed_user_id')
    )
    op.create_table('announcement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('html_policy', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('flag_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('visible', 'hidden', 'deleted')", name=op.f('ck_announcement_status')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_announcement_author_id_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_announcement_course_id_course'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcement'))
    )
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_announcement_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_announcement_course', ['course_id', 'id'], unique=False)

    op.create_table('channel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=40), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_channel_course_id_course'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel')),
    sa.UniqueConstraint('course_id', name=op.f('uq_channel_course_id')),
    sa.UniqueConstraint('slug', name=op.f('uq_channel_slug'))
    )
    op.create_table('event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('online_url', sa.String(length=500), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('going_count', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('reminder_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('html_policy', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('flag_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('scheduled', 'cancelled')", name=op.f('ck_event_state')),
    sa.CheckConstraint("status IN ('visible', 'hidden', 'deleted')", name=op.f('ck_event_status')),
    sa.CheckConstraint('capacity IS NULL OR capacity > 0', name=op.f('ck_event_capacity')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_event_ends_after_start')),
    sa.CheckConstraint('going_count >= 0', name=op.f('ck_event_going_count')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_event_author_id_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_event_course_id_course'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event'))
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_event_course_starts', ['course_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_event_starts', ['starts_at', 'id'], unique=False)

    op.create_table('flag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("reason IN ('spam', 'abuse', 'off_topic', 'wrong', 'other')", name=op.f('ck_flag_reason')),
    sa.CheckConstraint("status IN ('open', 'dismissed', 'upheld')", name=op.f('ck_flag_status')),
    sa.CheckConstraint("target_kind IN ('question', 'answer', 'message', 'event', 'lesson', 'announcement')", name=op.f('ck_flag_target_kind')),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_flag_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['user.id'], name=op.f('fk_flag_resolved_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_flag_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flag')),
    sa.UniqueConstraint('user_id', 'target_kind', 'target_id', name='uq_flag_user_target')
    )
    with op.batch_alter_table('flag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flag_course_id'), ['course_id'], unique=False)
        batch_op.create_index('ix_flag_status', ['status', 'id'], unique=False)
        batch_op.create_index('ix_flag_target', ['target_kind', 'target_id'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('delivery', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('digested_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("delivery IN ('in_app', 'email', 'digest')", name=op.f('ck_notification_delivery')),
    sa.CheckConstraint("kind IN ('question_answered', 'answer_accepted', 'mention', 'thread_reply', 'announcement', 'event_update', 'waitlist_promoted', 'branch_ready', 'draft_finished')", name=op.f('ck_notification_kind')),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_notification_actor_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_notification_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_notification_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_created', ['created_at'], unique=False)
        batch_op.create_index('ix_notification_digest', ['delivery', 'digested_at'], unique=False)
        batch_op.create_index('ix_notification_unread', ['user_id'], unique=False, sqlite_where=sa.text('read_at IS NULL'), postgresql_where=sa.text('read_at IS NULL'))
        batch_op.create_index('ix_notification_user_id_id', ['user_id', 'id'], unique=False)

    op.create_table('channel_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('reply_count', sa.Integer(), nullable=False),
    sa.Column('last_reply_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('html_policy', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('flag_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('visible', 'hidden', 'deleted')", name=op.f('ck_channel_message_status')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_channel_message_author_id_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['channel_id'], ['channel.id'], name=op.f('fk_channel_message_channel_id_channel'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['channel_message.id'], name=op.f('fk_channel_message_parent_id_channel_message'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_message'))
    )
    with op.batch_alter_table('channel_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_message_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_channel_message_channel_top', ['channel_id', 'parent_id', 'id'], unique=False)
        batch_op.create_index('ix_channel_message_thread', ['parent_id', 'id'], unique=False)

    op.create_table('event_rsvp',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('waitlisted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('going', 'waitlisted', 'not_going')", name=op.f('ck_event_rsvp_status')),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_event_rsvp_event_id_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_event_rsvp_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_rsvp')),
    sa.UniqueConstraint('user_id', 'event_id', name='uq_event_rsvp_user_event')
    )
    with op.batch_alter_table('event_rsvp', schema=None) as batch_op:
        batch_op.create_index('ix_event_rsvp_event_status', ['event_id', 'status', 'waitlisted_at'], unique=False)

    op.create_table('qa_question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=True),
    sa.Column('section_key', sa.String(length=120), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('answer_count', sa.Integer(), nullable=False),
    sa.Column('accepted_answer_id', sa.Integer(), nullable=True),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('html_policy', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('flag_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('visible', 'hidden', 'deleted')", name=op.f('ck_qa_question_status')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_qa_question_author_id_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_qa_question_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_qa_question_lesson_id_lesson'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_question'))
    )
    with op.batch_alter_table('qa_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_question_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_qa_question_course_newest', ['course_id', 'id'], unique=False)
        batch_op.create_index('ix_qa_question_course_score', ['course_id', 'score', 'id'], unique=False)
        batch_op.create_index('ix_qa_question_lesson', ['lesson_id', 'id'], unique=False)

    op.create_table('qa_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('html_policy', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('flag_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('visible', 'hidden', 'deleted')", name=op.f('ck_qa_answer_status')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_qa_answer_author_id_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['qa_question.id'], name=op.f('fk_qa_answer_question_id_qa_question'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_answer'))
    )
    with op.batch_alter_table('qa_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_answer_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_qa_answer_question', ['question_id', 'id'], unique=False)
        batch_op.create_index('uq_qa_answer_accepted', ['question_id'], unique=True, sqlite_where=sa.text('accepted'), postgresql_where=sa.text('accepted'))

    op.create_table('post_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=True),
    sa.Column('answer_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('editor_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(CASE WHEN question_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN answer_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN message_id IS NULL THEN 0 ELSE 1 END) = 1', name=op.f('ck_post_revision_one_target')),
    sa.ForeignKeyConstraint(['answer_id'], ['qa_answer.id'], name=op.f('fk_post_revision_answer_id_qa_answer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['editor_id'], ['user.id'], name=op.f('fk_post_revision_editor_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['channel_message.id'], name=op.f('fk_post_revision_message_id_channel_message'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['qa_question.id'], name=op.f('fk_post_revision_question_id_qa_question'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_post_revision'))
    )
    with op.batch_alter_table('post_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_post_revision_answer_id'), ['answer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_post_revision_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_post_revision_question_id'), ['question_id'], unique=False)

    op.create_table('qa_vote',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=True),
    sa.Column('answer_id', sa.Integer(), nullable=True),
    sa.Column('value', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(question_id IS NULL) <> (answer_id IS NULL)', name=op.f('ck_qa_vote_one_target')),
    sa.CheckConstraint('value IN (-1, 1)', name=op.f('ck_qa_vote_value')),
    sa.ForeignKeyConstraint(['answer_id'], ['qa_answer.id'], name=op.f('fk_qa_vote_answer_id_qa_answer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['qa_question.id'], name=op.f('fk_qa_vote_question_id_qa_question'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_qa_vote_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_vote')),
    sa.UniqueConstraint('user_id', 'answer_id', name='uq_qa_vote_user_answer'),
    sa.UniqueConstraint('user_id', 'question_id', name='uq_qa_vote_user_question')
    )
    with op.batch_alter_table('qa_vote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_vote_answer_id'), ['answer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_qa_vote_question_id'), ['question_id'], unique=False)
    _keys(NEW_KEYS)
    channel = sa.table('channel', sa.column('slug', sa.String), sa.column('created_at', sa.DateTime))
    op.execute(channel.insert().values(slug='general', created_at=sa.func.current_timestamp()))


def downgrade():
    setting = sa.table('site_setting', sa.column('key', sa.String))
    op.execute(setting.delete().where(setting.c.key.not_in(OLD_KEYS)))
    _keys(OLD_KEYS)
    with op.batch_alter_table('qa_vote', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_vote_question_id'))
        batch_op.drop_index(batch_op.f('ix_qa_vote_answer_id'))

    op.drop_table('qa_vote')
    with op.batch_alter_table('post_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_post_revision_question_id'))
        batch_op.drop_index(batch_op.f('ix_post_revision_message_id'))
        batch_op.drop_index(batch_op.f('ix_post_revision_answer_id'))

    op.drop_table('post_revision')
    with op.batch_alter_table('qa_answer', schema=None) as batch_op:
        batch_op.drop_index('uq_qa_answer_accepted', sqlite_where=sa.text('accepted'), postgresql_where=sa.text('accepted'))
        batch_op.drop_index('ix_qa_answer_question')
        batch_op.drop_index(batch_op.f('ix_qa_answer_author_id'))

    op.drop_table('qa_answer')
    with op.batch_alter_table('qa_question', schema=None) as batch_op:
        batch_op.drop_index('ix_qa_question_lesson')
        batch_op.drop_index('ix_qa_question_course_score')
        batch_op.drop_index('ix_qa_question_course_newest')
        batch_op.drop_index(batch_op.f('ix_qa_question_author_id'))

    op.drop_table('qa_question')
    with op.batch_alter_table('event_rsvp', schema=None) as batch_op:
        batch_op.drop_index('ix_event_rsvp_event_status')

    op.drop_table('event_rsvp')
    with op.batch_alter_table('channel_message', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_message_thread')
        batch_op.drop_index('ix_channel_message_channel_top')
        batch_op.drop_index(batch_op.f('ix_channel_message_author_id'))

    op.drop_table('channel_message')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_user_id_id')
        batch_op.drop_index('ix_notification_unread', sqlite_where=sa.text('read_at IS NULL'), postgresql_where=sa.text('read_at IS NULL'))
        batch_op.drop_index('ix_notification_digest')
        batch_op.drop_index('ix_notification_created')

    op.drop_table('notification')
    with op.batch_alter_table('flag', schema=None) as batch_op:
        batch_op.drop_index('ix_flag_target')
        batch_op.drop_index('ix_flag_status')
        batch_op.drop_index(batch_op.f('ix_flag_course_id'))

    op.drop_table('flag')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_starts')
        batch_op.drop_index('ix_event_course_starts')
        batch_op.drop_index(batch_op.f('ix_event_author_id'))

    op.drop_table('event')
    op.drop_table('channel')
    with op.batch_alter_table('announcement', schema=None) as batch_op:
        batch_op.drop_index('ix_announcement_course')
        batch_op.drop_index(batch_op.f('ix_announcement_author_id'))

    op.drop_table('announcement')
    op.drop_table('calendar_feed')
