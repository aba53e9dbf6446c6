"""mail and tokens: the outgoing-mail queue and log, and the hashed single-use links of
password reset, email verification and email change

Revision ID: 0014_mail_and_tokens
Revises: 0013_account_lifecycle
Create Date: 2026-12-05 05:15:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0014_mail_and_tokens'
down_revision = '0013_account_lifecycle'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outgoing_mail',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recipient', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('template', sa.String(length=64), nullable=False),
        sa.Column('text_body', sa.Text(), nullable=False),
        sa.Column('html_body', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')",
                           name=op.f('ck_outgoing_mail_status')),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'],
                                name=op.f('fk_outgoing_mail_user_id_user'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outgoing_mail')),
    )
    with op.batch_alter_table('outgoing_mail', schema=None) as batch_op:
        batch_op.create_index('ix_outgoing_mail_status_id', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outgoing_mail_user_id'), ['user_id'], unique=False)

    op.create_table(
        'account_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('new_email', sa.String(length=254), nullable=True),
        sa.CheckConstraint("purpose IN ('reset', 'verify', 'email_change')",
                           name=op.f('ck_account_token_purpose')),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'],
                                name=op.f('fk_account_token_user_id_user'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_token')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_account_token_token_hash')),
    )
    with op.batch_alter_table('account_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_token_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_table('account_token')
    op.drop_table('outgoing_mail')
