"""register_entries: the school index also covers provider and attended (providers engaged per year)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 20:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('register_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_register_entries_school')
        batch_op.create_index('ix_register_entries_school',
                              ['school_id', 'academic_year', 'counted', 'provider_id', 'attended'], unique=False)


def downgrade():
    with op.batch_alter_table('register_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_register_entries_school')
        batch_op.create_index('ix_register_entries_school', ['school_id', 'academic_year', 'counted'], unique=False)
