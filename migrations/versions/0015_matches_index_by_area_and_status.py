"""matches: index by area, status and age (an area's live matches without reading its cancelled ones, in the
queue's order); the indexes on session_starts_at and auto_approve_at only over rows that have one (proposals,
new or replaced, write no entry)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 21:41:42

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


PARTIAL = ("session_starts_at", "auto_approve_at")


def upgrade():
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_matches_area_id'))
        batch_op.create_index('ix_matches_area_status', ['area_id', 'status', 'created_at', 'id'], unique=False)
        for name in PARTIAL:
            batch_op.drop_index(f'ix_matches_{name}')
            where = sa.text(f'{name} IS NOT NULL')
            batch_op.create_index(f'ix_matches_{name}', [name], unique=False, sqlite_where=where,
                                  postgresql_where=where)


def downgrade():
    with op.batch_alter_table('matches', schema=None) as batch_op:
        for name in PARTIAL:
            batch_op.drop_index(f'ix_matches_{name}')
            batch_op.create_index(f'ix_matches_{name}', [name], unique=False)
        batch_op.drop_index('ix_matches_area_status')
        batch_op.create_index(batch_op.f('ix_matches_area_id'), ['area_id'], unique=False)
