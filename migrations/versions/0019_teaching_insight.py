"""teaching insight: which attempt a quiz's gradebook shows (best or last), and the
indexes that make a course's roster, funnel and weekly figures index range reads

Revision ID: 0019_teaching_insight
Revises: 0018_moderation
Create Date: 2026-12-05 13:01:31.052207

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_teaching_insight'
down_revision = '0018_moderation'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('enrollment', schema=None) as batch_op:
        batch_op.create_index('ix_enrollment_course_activity', ['course_id', 'last_activity_at'], unique=False)
        batch_op.create_index('ix_enrollment_course_created', ['course_id', 'created_at'], unique=False)

    with op.batch_alter_table('lesson_progress', schema=None) as batch_op:
        batch_op.create_index('ix_lesson_progress_course_lesson', ['course_id', 'lesson_id', 'completed_at'], unique=False)

    with op.batch_alter_table('quiz', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gradebook_score', sa.String(length=8),
                                      server_default=sa.text("'best'"), nullable=False))
        batch_op.create_check_constraint(op.f('ck_quiz_gradebook_score'),
                                         "gradebook_score IN ('best', 'last')")

    with op.batch_alter_table('section_progress', schema=None) as batch_op:
        batch_op.create_index('ix_section_progress_course_section', ['course_id', 'section_id', 'completed_at'], unique=False)



def downgrade():
    with op.batch_alter_table('section_progress', schema=None) as batch_op:
        batch_op.drop_index('ix_section_progress_course_section')

    with op.batch_alter_table('quiz', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_quiz_gradebook_score'), type_='check')
        batch_op.drop_column('gradebook_score')

    with op.batch_alter_table('lesson_progress', schema=None) as batch_op:
        batch_op.drop_index('ix_lesson_progress_course_lesson')

    with op.batch_alter_table('enrollment', schema=None) as batch_op:
        batch_op.drop_index('ix_enrollment_course_created')
        batch_op.drop_index('ix_enrollment_course_activity')

