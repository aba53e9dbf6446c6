"""quizzes: the author's policy (practice or graded, when feedback shows, partial credit),
and exact fractional points

Existing quizzes become graded with feedback after each submitted attempt and
all-or-nothing scoring: certificates depend on passing them, so their answers
must not be checkable before submitting (the old "Check answer" was), while
learners still see the feedback they saw before, on the result page, and scores
already given stay what they were.

Revision ID: 0009_quiz_policy
Revises: 0008_branch_hidden
Create Date: 2026-12-06 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0009_quiz_policy'
down_revision = '0008_branch_hidden'
branch_labels = None
depends_on = None

POLICY = (
    ('mode', 16, 'graded', "mode IN ('practice', 'graded')"),
    ('feedback', 24, 'after_submit', "feedback IN ('after_submit', 'after_last_attempt')"),
    ('scoring', 16, 'all_or_nothing', "scoring IN ('all_or_nothing', 'proportional')"),
)
LAST_ATTEMPT_RULE = ("feedback = 'after_submit' OR (mode = 'graded' AND max_attempts IS NOT NULL)")


def upgrade():
    with op.batch_alter_table('quiz', schema=None) as batch_op:
        for name, length, _default, _check in POLICY:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
    quiz = sa.table('quiz', *(sa.column(name, sa.String()) for name, *_rest in POLICY))
    op.execute(quiz.update().values({name: default for name, _length, default, _check in POLICY}))
    with op.batch_alter_table('quiz', schema=None) as batch_op:
        for name, length, _default, check in POLICY:
            batch_op.alter_column(name, existing_type=sa.String(length=length), nullable=False)
            batch_op.create_check_constraint(op.f(f'ck_quiz_{name}'), check)
        batch_op.create_check_constraint(
            op.f('ck_quiz_feedback_after_last_attempt_needs_limit'), LAST_ATTEMPT_RULE)

    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.alter_column('score', existing_type=sa.Integer(),
                              type_=sa.Numeric(precision=8, scale=2), existing_nullable=True)
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.alter_column('points', existing_type=sa.Integer(),
                              type_=sa.Numeric(precision=8, scale=2), existing_nullable=False)


def downgrade():
    # Whole points again: a partial credit is rounded down, never up.
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.alter_column('points', existing_type=sa.Numeric(precision=8, scale=2),
                              type_=sa.Integer(), existing_nullable=False,
                              postgresql_using='floor(points)::integer')
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.alter_column('score', existing_type=sa.Numeric(precision=8, scale=2),
                              type_=sa.Integer(), existing_nullable=True,
                              postgresql_using='floor(score)::integer')

    with op.batch_alter_table('quiz', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_quiz_feedback_after_last_attempt_needs_limit'),
                                 type_='check')
        for name, _length, _default, _check in reversed(POLICY):
            batch_op.drop_constraint(op.f(f'ck_quiz_{name}'), type_='check')
            batch_op.drop_column(name)
