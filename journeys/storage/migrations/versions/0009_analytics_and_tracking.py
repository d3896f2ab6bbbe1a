"""Analytics and tracking: journey runs, email events after sending, hourly roll-ups, tracked links

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:52:35.205006
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from journeys.storage.tables import UtcDateTime


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('journey_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('journey', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('entry_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('entered_at', UtcDateTime(), nullable=False),
    sa.Column('ended_at', UtcDateTime(), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('exit_event', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('journey', 'entry_id', name='uq_journey_runs')
    )
    with op.batch_alter_table('journey_runs', schema=None) as batch_op:
        batch_op.create_index('ix_journey_runs_customer', ['customer_id', 'entered_at'], unique=False)
        batch_op.create_index('ix_journey_runs_journey_entered', ['journey', 'entered_at'], unique=False)

    op.create_table('journey_stats',
    sa.Column('journey', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('split', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('variant', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('hour', UtcDateTime(), nullable=False),
    sa.Column('metric', sqlmodel.sql.sqltypes.AutoString(length=140), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('journey', 'step', 'split', 'variant', 'hour', 'metric')
    )
    op.create_table('message_events',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('machine', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('occurred_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('message_events', schema=None) as batch_op:
        batch_op.create_index('ix_message_events_customer', ['customer_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_message_events_message', ['message_id', 'occurred_at'], unique=False)

    with op.batch_alter_table('split_assignments', schema=None) as batch_op:
        batch_op.create_index('ix_split_assignments_entry', ['journey', 'entry_id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('links', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('counted_at', UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('opened_at', UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('clicked_at', UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('bounced_at', UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('complained_at', UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('unsubscribed_at', UtcDateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('split_assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_split_assignments_entry')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('unsubscribed_at')
        batch_op.drop_column('complained_at')
        batch_op.drop_column('bounced_at')
        batch_op.drop_column('clicked_at')
        batch_op.drop_column('opened_at')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('counted_at')
        batch_op.drop_column('links')
        batch_op.drop_column('entry_id')

    with op.batch_alter_table('message_events', schema=None) as batch_op:
        batch_op.drop_index('ix_message_events_message')
        batch_op.drop_index('ix_message_events_customer')

    op.drop_table('message_events')
    op.drop_table('journey_stats')
    with op.batch_alter_table('journey_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_journey_runs_journey_entered')
        batch_op.drop_index('ix_journey_runs_customer')

    op.drop_table('journey_runs')
