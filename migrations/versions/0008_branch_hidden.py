"""branches: editors can hide a branch lesson (visibility "hidden")

Revision ID: 0008_branch_hidden
Revises: 0007_sessions
Create Date: 2026-12-04 16:30:00

"""
from alembic import op


revision = '0008_branch_hidden'
down_revision = '0007_sessions'
branch_labels = None
depends_on = None


def _checks(visibilities: str, promoted: str) -> None:
    with op.batch_alter_table('branch', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_branch_visibility'), type_='check')
        batch_op.drop_constraint(op.f('ck_branch_promoted_has_date'), type_='check')
        batch_op.create_check_constraint(op.f('ck_branch_visibility'),
                                         f"visibility IN ({visibilities})")
        batch_op.create_check_constraint(op.f('ck_branch_promoted_has_date'), promoted)


def upgrade():
    _checks("'requesters', 'course', 'hidden'",
            "visibility <> 'course' OR promoted_at IS NOT NULL")


def downgrade():
    op.execute("UPDATE branch SET visibility = 'requesters' WHERE visibility = 'hidden'")
    _checks("'requesters', 'course'", "visibility = 'requesters' OR promoted_at IS NOT NULL")
