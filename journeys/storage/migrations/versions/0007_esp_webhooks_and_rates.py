"""ESPs: webhook tokens seen (replay protection), messages found by the ESP's id, per-ESP send slots

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 22:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from journeys.storage.tables import UtcDateTime


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_tokens',
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('seen_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('provider', 'token')
    )
    op.create_index('ix_messages_esp_message_id', 'messages', ['esp_message_id'], unique=False)
    op.create_table('esp_rate_slots',
    sa.Column('esp', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('next_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('esp')
    )


def downgrade() -> None:
    op.drop_table('esp_rate_slots')
    op.drop_index('ix_messages_esp_message_id', table_name='messages')
    op.drop_table('webhook_tokens')
