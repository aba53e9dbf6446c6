"""accounts: verified email, timed suspensions with a reason, closed ("deleted") accounts,
when and from where each session was last seen, and the security events of password
recovery, email changes, data export and account deletion

Revision ID: 0013_account_lifecycle
Revises: 0012_content_generation
Create Date: 2026-12-05 05:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0013_account_lifecycle'
down_revision = '0012_content_generation'
branch_labels = None
depends_on = None

OLD_STATUSES = ('active', 'suspended', 'banned')
NEW_STATUSES = (*OLD_STATUSES, 'deleted')
OLD_KINDS = ('login_succeeded', 'login_failed', 'login_throttled', 'logout',
             'password_changed', 'role_changed', 'status_changed', 'registered')
NEW_KINDS = (*OLD_KINDS, 'login_blocked', 'password_reset_requested', 'password_reset',
             'email_verification_sent', 'email_verified', 'email_change_requested',
             'email_changed', 'session_ended', 'account_exported', 'account_deleted')


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('suspended_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('status_reason', sa.String(length=500),
                                      server_default=sa.text("''"), nullable=False))
        batch_op.drop_constraint(op.f('ck_user_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_user_status'), _in('status', NEW_STATUSES))
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ip', sa.String(length=64), nullable=True))
    with op.batch_alter_table('security_event', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_security_event_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_security_event_kind'), _in('kind', NEW_KINDS))


def downgrade():
    security_event = sa.table('security_event', sa.column('kind', sa.String))
    op.execute(security_event.delete().where(security_event.c.kind.not_in(OLD_KINDS)))
    with op.batch_alter_table('security_event', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_security_event_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_security_event_kind'), _in('kind', OLD_KINDS))
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_column('ip')
        batch_op.drop_column('last_seen_at')
    user = sa.table('user', sa.column('status', sa.String))
    # A closed account was anonymized; on the older schema it can only be a ban.
    op.execute(user.update().where(user.c.status == 'deleted').values(status='banned'))
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_user_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_user_status'), _in('status', OLD_STATUSES))
        batch_op.drop_column('status_reason')
        batch_op.drop_column('suspended_until')
        batch_op.drop_column('email_verified_at')
