"""customer aliases: anonymous ids merged into known customers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 22:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from journeys.storage.tables import UtcDateTime


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_aliases',
    sa.Column('alias_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('alias_id')
    )
    op.create_index(op.f('ix_customer_aliases_customer_id'), 'customer_aliases', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_customer_aliases_customer_id'), table_name='customer_aliases')
    op.drop_table('customer_aliases')
