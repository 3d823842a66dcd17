"""matches: fillfactor 50 on PostgreSQL (was 70): a nightly matching run brings most waiting proposals up to date
(value, reasons, and now a new allocation in place), and at 70 few of those updates found room on their page

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 05:40:00

Measured on the synthetic region (bench/README.md, session 14): at 70 a run's updates of kept proposals were HOT
0.1-20% of the time, at 50 about 64%, and those statements took about a third less. As with 0014, the setting
applies to pages written from now on; `VACUUM FULL matches` packs the existing rows to it when convenient.
SQLite has no such setting.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE matches SET (fillfactor = 50)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE matches SET (fillfactor = 70)")
