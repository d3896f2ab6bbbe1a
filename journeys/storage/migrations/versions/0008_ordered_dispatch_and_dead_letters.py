"""Dispatch in storing order per customer (claims, customer on each outbox row) and dead letters

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from journeys.storage.tables import UtcDateTime


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dispatches') as batch:
        batch.add_column(sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch.add_column(sa.Column('refusals', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('first_attempt_at', UtcDateTime(), nullable=True))
        batch.add_column(sa.Column('last_attempt_at', UtcDateTime(), nullable=True))
        batch.add_column(sa.Column('dead_at', UtcDateTime(), nullable=True))
        batch.add_column(sa.Column('resolution', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch.add_column(sa.Column('resolved_at', UtcDateTime(), nullable=True))
        batch.drop_index('ix_dispatches_pending')
    # Every outbox row names its customer, so the order per customer needs no join.
    op.execute(
        "UPDATE dispatches SET customer_id = "
        "(SELECT events.customer_id FROM events WHERE events.id = dispatches.event_id)"
    )
    op.execute("UPDATE dispatches SET customer_id = '' WHERE customer_id IS NULL")
    with op.batch_alter_table('dispatches') as batch:
        batch.alter_column('customer_id', existing_type=sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False)
        batch.create_index('ix_dispatches_pending', ['dispatched_at', 'dead_at', 'next_attempt_at'], unique=False)
        batch.create_index(
            'ix_dispatches_customer_pending', ['customer_id', 'dispatched_at', 'dead_at', 'id'], unique=False
        )
    op.create_table('dispatch_claims',
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('until', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id')
    )
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('context', sa.JSON(), server_default='{}', nullable=False))
        batch.add_column(sa.Column('if_capped', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='skip', nullable=False))
        batch.add_column(sa.Column('esp_calls', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('resolution', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch.add_column(sa.Column('resolved_at', UtcDateTime(), nullable=True))
        batch.create_index('ix_messages_dead_letters', ['status', 'resolution'], unique=False)
        # Room for the longest workflow id, entry event id and step together.
        batch.alter_column(
            'idempotency_key',
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=600),
            type_=sqlmodel.sql.sqltypes.AutoString(length=2000),
            existing_nullable=False,
        )
    with op.batch_alter_table('journey_entries') as batch:
        batch.alter_column(
            'workflow_id',
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=600),
            type_=sqlmodel.sql.sqltypes.AutoString(length=1000),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table('journey_entries') as batch:
        batch.alter_column(
            'workflow_id',
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=1000),
            type_=sqlmodel.sql.sqltypes.AutoString(length=600),
            existing_nullable=False,
        )
    with op.batch_alter_table('messages') as batch:
        batch.alter_column(
            'idempotency_key',
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=2000),
            type_=sqlmodel.sql.sqltypes.AutoString(length=600),
            existing_nullable=False,
        )
        batch.drop_index('ix_messages_dead_letters')
        batch.drop_column('resolved_at')
        batch.drop_column('resolution')
        batch.drop_column('esp_calls')
        batch.drop_column('if_capped')
        batch.drop_column('context')
    op.drop_table('dispatch_claims')
    with op.batch_alter_table('dispatches') as batch:
        batch.drop_index('ix_dispatches_customer_pending')
        batch.drop_index('ix_dispatches_pending')
        batch.create_index('ix_dispatches_pending', ['dispatched_at', 'next_attempt_at'], unique=False)
        batch.drop_column('resolved_at')
        batch.drop_column('resolution')
        batch.drop_column('dead_at')
        batch.drop_column('last_attempt_at')
        batch.drop_column('first_attempt_at')
        batch.drop_column('refusals')
        batch.drop_column('customer_id')
