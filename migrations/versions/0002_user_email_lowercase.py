"""user emails are stored lower-cased (CHECK), so their uniqueness is case-insensitive

Revision ID: 0002_user_email_lowercase
Revises: 0001_foundation
Create Date: 2026-11-21 23:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_user_email_lowercase'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade():
    # Accounts are only created through the service, which lower-cases emails;
    # this makes the database refuse anything else.
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_user_email_lowercase'),
                                         sa.text('email = lower(email)'))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_user_email_lowercase'), type_='check')
