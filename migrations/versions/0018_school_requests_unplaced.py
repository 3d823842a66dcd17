"""school_requests: unplaced_reasons and unplaced_at, why the area's latest matching run did not place a request in
full, in the engine's words, for the request's page

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-24 02:40:00

Empty until the next matching run of each area fills them.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases, as in 0017: a batch copy of school_requests on SQLite would drop the table
# that matches point at.

def upgrade():
    op.add_column('school_requests', sa.Column('unplaced_reasons', sa.Text(), nullable=True))
    op.add_column('school_requests', sa.Column('unplaced_at', sa.DateTime(), nullable=True))


def downgrade():
    op.drop_column('school_requests', 'unplaced_at')
    op.drop_column('school_requests', 'unplaced_reasons')
