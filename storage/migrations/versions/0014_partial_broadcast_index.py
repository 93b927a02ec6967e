"""outbox broadcast index: broadcast rows only (partial), not every digest row's NULL

Every query by broadcast is ``broadcast_id = x`` (cancel, progress counts, failure reasons),
which SQLite and PostgreSQL both answer from an index ``WHERE broadcast_id IS NOT NULL``; the
digest tick's rows, 200,000 for 100,000 readers, then write one index entry fewer each.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 20:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BROADCAST_ROWS = sa.text('broadcast_id IS NOT NULL')


def upgrade() -> None:
    op.drop_index('ix_deliveries_broadcast_id', table_name='deliveries')
    op.create_index(
        'ix_deliveries_broadcast_id', 'deliveries', ['broadcast_id'], unique=False,
        sqlite_where=_BROADCAST_ROWS, postgresql_where=_BROADCAST_ROWS,
    )


def downgrade() -> None:
    op.drop_index('ix_deliveries_broadcast_id', table_name='deliveries')
    op.create_index('ix_deliveries_broadcast_id', 'deliveries', ['broadcast_id'], unique=False)
