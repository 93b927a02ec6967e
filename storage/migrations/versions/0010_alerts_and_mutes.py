"""followed phrases, muted sources and words, sent alerts (issue #13)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 13:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column:
    return sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False)


def _user() -> sa.Column:
    return sa.Column('user_id', sa.BigInteger(), sa.ForeignKey('users.id', ondelete='CASCADE'), autoincrement=False, nullable=False)


def upgrade() -> None:
    op.create_table('followed_phrases',
    _id(),
    _user(),
    sa.Column('phrase', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'key', name='uq_followed_phrases_user_key'),
    )
    op.create_index('ix_followed_phrases_key', 'followed_phrases', ['key'])
    op.create_table('muted_sources',
    _user(),
    sa.Column('source_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'source_id'),
    )
    op.create_table('muted_words',
    _id(),
    _user(),
    sa.Column('word', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'key', name='uq_muted_words_user_key'),
    )
    op.create_table('sent_alerts',
    _user(),
    sa.Column('story_key', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'story_key'),
    )
    op.create_index('ix_sent_alerts_created_at', 'sent_alerts', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_sent_alerts_created_at', table_name='sent_alerts')
    op.drop_table('sent_alerts')
    op.drop_table('muted_words')
    op.drop_table('muted_sources')
    op.drop_index('ix_followed_phrases_key', table_name='followed_phrases')
    op.drop_table('followed_phrases')
