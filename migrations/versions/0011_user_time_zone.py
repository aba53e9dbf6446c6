"""users: the time zone each user reads times in (NULL: the site's TANGENT_TIME_ZONE)

Revision ID: 0011_user_time_zone
Revises: 0010_lesson_proposal
Create Date: 2026-12-04 18:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0011_user_time_zone'
down_revision = '0010_lesson_proposal'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
