"""lesson proposals: AI rewrites of a lesson waiting for an editor's review; at most
one pending per lesson

Revision ID: 0010_lesson_proposal
Revises: 0009_quiz_policy
Create Date: 2026-12-04 18:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_lesson_proposal'
down_revision = '0009_quiz_policy'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lesson_proposal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('base_version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=160), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('model', sa.String(length=120), nullable=False),
    sa.Column('prompt_version', sa.String(length=40), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_version', sa.Integer(), nullable=True),
    sa.CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name=op.f('ck_lesson_proposal_decided_has_date')),
    sa.CheckConstraint("status <> 'published' OR published_version IS NOT NULL", name=op.f('ck_lesson_proposal_published_has_version')),
    sa.CheckConstraint("status IN ('pending', 'published', 'discarded')", name=op.f('ck_lesson_proposal_status')),
    sa.CheckConstraint('base_version >= 1', name=op.f('ck_lesson_proposal_base_version_positive')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_lesson_proposal_decided_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['generation_job.id'], name=op.f('fk_lesson_proposal_job_id_generation_job'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_lesson_proposal_lesson_id_lesson'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_lesson_proposal_requested_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lesson_proposal')),
    sa.UniqueConstraint('job_id', name=op.f('uq_lesson_proposal_job_id'))
    )
    with op.batch_alter_table('lesson_proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lesson_proposal_decided_by_id'), ['decided_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lesson_proposal_lesson_id'), ['lesson_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lesson_proposal_requested_by_id'), ['requested_by_id'], unique=False)
        batch_op.create_index('uq_lesson_proposal_pending_lesson', ['lesson_id'], unique=True, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))


def downgrade():
    with op.batch_alter_table('lesson_proposal', schema=None) as batch_op:
        batch_op.drop_index('uq_lesson_proposal_pending_lesson', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_lesson_proposal_requested_by_id'))
        batch_op.drop_index(batch_op.f('ix_lesson_proposal_lesson_id'))
        batch_op.drop_index(batch_op.f('ix_lesson_proposal_decided_by_id'))

    op.drop_table('lesson_proposal')
