"""content_generation: one row whose random tag changes with every content write

Revision ID: 0012_content_generation
Revises: 0011_user_time_zone
Create Date: 2026-12-04 18:15:00

"""
import secrets

import sqlalchemy as sa
from alembic import op


revision = '0012_content_generation'
down_revision = '0011_user_time_zone'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        'content_generation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tag', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_content_generation')),
    )
    op.bulk_insert(table, [{'id': 1, 'tag': secrets.token_hex(16)}])


def downgrade():
    op.drop_table('content_generation')
