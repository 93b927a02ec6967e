"""user preferences text: the five preference tables as one column of the user row, which the
digest tick's claim reads instead of aggregating the tables for every due reader

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 20:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage import due_readers


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('users', sa.Column('preferences', sa.Text(), nullable=True))
    # every existing reader's text, computed by the statement the store refreshes it with (a
    # row left NULL would still read right, from the tables, only slower)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(due_readers.PG_REFRESH_ALL)
    else:
        op.execute(due_readers.SQLITE_REFRESH_ALL)


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch copy of the table: dropping the
    # old users table would cascade to every preference row (foreign keys are on)
    op.drop_column('users', 'preferences')
