"""The pool of pre-generated keys, and the change log replicas watch on SQLite.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from keyrotor.storage.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_pool",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("n", sa.Text, nullable=False),
        sa.Column("e", sa.String(16), nullable=False),
        sa.Column("sealed_private", sa.LargeBinary, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
    )
    op.create_table(
        "store_changes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("store_changes")
    op.drop_table("key_pool")
