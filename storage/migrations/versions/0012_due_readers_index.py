"""due readers index: users by (next_due_at, id), the order the digest tick claims them in

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:10:00.000000
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_users_next_due_id', 'users', ['next_due_at', 'id'], unique=False)
    op.drop_index('ix_users_next_due_at', table_name='users')


def downgrade() -> None:
    op.create_index('ix_users_next_due_at', 'users', ['next_due_at'], unique=False)
    op.drop_index('ix_users_next_due_id', table_name='users')
