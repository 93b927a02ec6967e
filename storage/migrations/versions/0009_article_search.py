"""article search: the full-text index (FTS5 on SQLite, tsvector on PostgreSQL), saved searches

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 13:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage import search_index

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL_CHUNK = 2000


def upgrade() -> None:
    op.create_table('saved_searches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('query', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('saved_searches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_searches_created_at'), ['created_at'], unique=False)

    connection = op.get_bind()
    postgres = connection.dialect.name == 'postgresql'
    for statement in search_index.PG_CREATE if postgres else search_index.SQLITE_CREATE:
        connection.execute(sa.text(statement))
    # Back-fill what is already stored, in id order and chunks (memory stays flat).
    last = 0
    select = sa.text(
        'SELECT id, title, summary FROM articles WHERE id > :last ORDER BY id LIMIT :limit'
    )
    while True:
        rows = connection.execute(select, {'last': last, 'limit': _BACKFILL_CHUNK}).all()
        if not rows:
            break
        search_index.write(connection, [(int(r[0]), r[1], r[2] or '') for r in rows])
        last = int(rows[-1][0])


def downgrade() -> None:
    connection = op.get_bind()
    postgres = connection.dialect.name == 'postgresql'
    for statement in search_index.PG_DROP if postgres else search_index.SQLITE_DROP:
        connection.execute(sa.text(statement))
    with op.batch_alter_table('saved_searches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_searches_created_at'))
    op.drop_table('saved_searches')
