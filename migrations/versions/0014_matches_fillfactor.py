"""matches: fillfactor 70 on PostgreSQL, so bringing waiting proposals up to date can update rows in place (HOT)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 22:30:00

The setting applies to pages written from now on; `VACUUM FULL matches` (or pg_repack) packs the existing rows to
it when convenient (it locks the table, so this migration does not do it). SQLite has no such setting.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE matches SET (fillfactor = 70)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE matches RESET (fillfactor)")
