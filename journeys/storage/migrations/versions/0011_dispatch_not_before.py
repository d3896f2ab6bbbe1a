"""Outbox rows that may not go before a moment (a person's click waits out the burst window)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from journeys.storage.tables import UtcDateTime


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        # Unlike next_attempt_at (a never-tried row's is only the relay's grace), every
        # dispatcher honours it: journeys/dispatch/outbox.py.
        batch_op.add_column(sa.Column('not_before', UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.drop_column('not_before')
