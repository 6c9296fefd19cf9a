"""Authorization servers, their signing keys, API tokens.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from keyrotor.storage.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_servers",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("audiences", sa.Text, nullable=False),
        sa.Column("issuer_mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rotation_mode", sa.String(16), nullable=False),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("last_rotated", UTCDateTime, nullable=False),
        sa.Column("next_rotation", UTCDateTime),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("last_updated", UTCDateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column(
            "server_id",
            sa.String(64),
            sa.ForeignKey("auth_servers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.Text, nullable=False),
        sa.Column("e", sa.String(16), nullable=False),
        sa.Column("sealed_private", sa.LargeBinary, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("activated", UTCDateTime),
        sa.Column("expired", UTCDateTime),
    )
    op.create_index("ix_signing_keys_server", "signing_keys", ["server_id"])
    unique = (("ux_signing_keys_one_active", "ACTIVE"), ("ux_signing_keys_one_next", "NEXT"))
    for name, status in unique:
        where = sa.text(f"status = '{status}'")
        op.create_index(
            name,
            "signing_keys",
            ["server_id"],
            unique=True,
            sqlite_where=where,
            postgresql_where=where,
        )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("signing_keys")
    op.drop_table("auth_servers")
