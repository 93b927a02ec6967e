"""article texts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 09:30:43.419498
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('article_texts',
    sa.Column('article_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paragraphs', sa.JSON(), nullable=False),
    sa.Column('final_url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('article_id')
    )
    with op.batch_alter_table('article_texts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_article_texts_fetched_at'), ['fetched_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('article_texts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_article_texts_fetched_at'))

    op.drop_table('article_texts')
