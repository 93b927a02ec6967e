"""update claims: who is handling an update, since when, when it was done, and its JSON while
Telegram was answered before it was done

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 13:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('taken_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('done_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('payload', sa.Text(), nullable=True))
    # ids recorded under the old rule were handled (or lost) already: they count as done
    op.execute(
        "UPDATE processed_updates SET taken_at = received_at, done_at = received_at"
    )


def downgrade() -> None:
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.drop_column('payload')
        batch_op.drop_column('done_at')
        batch_op.drop_column('taken_at')
        batch_op.drop_column('taken_by')
