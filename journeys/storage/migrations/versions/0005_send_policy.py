"""send policy: subscriptions, suppression reasons, and the policy's columns in the ledger

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from journeys.storage.tables import UtcDateTime


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subscriptions',
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('subscribed', sa.Boolean(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', 'topic')
    )

    # One row per (address, reason): a hard bounce and a complaint are kept apart, and
    # lifting one leaves the other. Rebuilt rather than altered (SQLite cannot alter a key).
    op.create_table('suppressions_new',
    sa.Column('email_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('email_sha256', 'reason')
    )
    op.execute(
        "INSERT INTO suppressions_new (email_sha256, reason, source, created_at) "
        "SELECT email_sha256, reason, CASE WHEN reason = 'erased' THEN 'erasure' ELSE 'api' END, created_at "
        "FROM suppressions"
    )
    op.drop_table('suppressions')
    op.rename_table('suppressions_new', 'suppressions')

    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch.add_column(sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True))
        batch.add_column(sa.Column('deferred_until', UtcDateTime(), nullable=True))
        batch.add_column(sa.Column('claimed_at', UtcDateTime(), nullable=True))
        batch.add_column(sa.Column('history', sa.JSON(), nullable=False, server_default='[]'))
        batch.create_index('ix_messages_customer_claimed', ['customer_id', 'claimed_at'], unique=False)
    # Sends before the policy existed count toward caps from when they were sent.
    op.execute("UPDATE messages SET claimed_at = sent_at WHERE sent_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_index('ix_messages_customer_claimed')
        for column in ('history', 'claimed_at', 'deferred_until', 'topic', 'category'):
            batch.drop_column(column)
    op.create_table('suppressions_old',
    sa.Column('email_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('email_sha256')
    )
    op.execute(
        "INSERT INTO suppressions_old (email_sha256, reason, created_at) "
        "SELECT email_sha256, MIN(reason), MIN(created_at) FROM suppressions GROUP BY email_sha256"
    )
    op.drop_table('suppressions')
    op.rename_table('suppressions_old', 'suppressions')
    op.drop_table('subscriptions')
