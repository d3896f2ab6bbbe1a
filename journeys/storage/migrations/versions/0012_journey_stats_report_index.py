"""An index holding every column a journey report reads, in its grouping order

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 07:30:00
"""

from __future__ import annotations

from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('journey_stats', schema=None) as batch_op:
        batch_op.create_index(
            'ix_journey_stats_report', ['journey', 'split', 'step', 'variant', 'metric', 'hour', 'count'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('journey_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_journey_stats_report')
