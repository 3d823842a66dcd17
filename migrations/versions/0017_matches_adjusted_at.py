"""matches: adjusted_at, when a coordinator took a proposal in hand (changed its allocation or held it): a new
matching run no longer resizes or replaces such a proposal

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 23:50:00

Proposals still waiting that a coordinator changed or held before this revision are found by their history rows
(the notes services.matches.change_allocation and services.auto_approval.hold write), so they are kept too.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases (SQLite has had DROP COLUMN since 3.35): a batch operation would copy
# `matches` into a new table on SQLite, and dropping the old one, with foreign keys on, deletes every match's history
# (match_events, ON DELETE CASCADE).

def upgrade():
    op.add_column('matches', sa.Column('adjusted_at', sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE matches SET adjusted_at = ("
        "  SELECT max(e.at) FROM match_events e WHERE e.match_id = matches.id"
        "  AND e.from_status = 'proposed' AND e.to_status = 'proposed'"
        "  AND (e.note = 'held for review'"
        "       OR (e.note LIKE 'allocation changed from %' AND e.note NOT LIKE '% by a new matching run'))) "
        "WHERE status = 'proposed'")


def downgrade():
    op.drop_column('matches', 'adjusted_at')
