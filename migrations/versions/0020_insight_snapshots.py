"""insight snapshots: the kept figures of a course's funnel, weekly activity and quiz
difficulty, recomputed when older than a few minutes

Revision ID: 0020_insight_snapshots
Revises: 0019_teaching_insight
Create Date: 2026-12-05 13:12:43.353757

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_insight_snapshots'
down_revision = '0019_teaching_insight'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('insight_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_insight_snapshot_course_id_course'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insight_snapshot')),
    sa.UniqueConstraint('course_id', 'name', name='uq_insight_snapshot_name')
    )


def downgrade():
    op.drop_table('insight_snapshot')
