"""Service apps: client metadata, app grants (from ``org_scopes``), used JWT ids.

Revision ID: 0005
Revises: 0004
"""

import secrets
import string

import sqlalchemy as sa
from alembic import op

from keyrotor.storage.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BASE62 = string.ascii_letters + string.digits


def upgrade() -> None:
    op.create_table(
        "app_grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("oauth_clients.client_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("scope_id", sa.String(64), nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("client_id", "scope_id", name="ux_app_grants_client_scope"),
    )
    op.create_table(
        "used_jtis",
        sa.Column("issuer", sa.String(128), primary_key=True),
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("expires", UTCDateTime, nullable=False),
    )
    op.create_index("ix_used_jtis_expires", "used_jtis", ["expires"])
    conn = op.get_bind()
    clients = sa.table(
        "oauth_clients",
        sa.column("client_id"),
        sa.column("org_scopes"),
        sa.column("created", UTCDateTime),
    )
    rows = conn.execute(
        sa.select(clients.c.client_id, clients.c.org_scopes, clients.c.created)
    ).all()
    # the column goes first: on SQLite the batch rebuilds ``oauth_clients`` (a copy, then a
    # drop), and with foreign keys on, that drop would cascade to grants already inserted
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("org_scopes")
        batch.add_column(sa.Column("metadata", sa.Text, nullable=False, server_default="{}"))
    grants = sa.table(
        "app_grants",
        sa.column("id"),
        sa.column("client_id"),
        sa.column("scope_id"),
        sa.column("issuer"),
        sa.column("created", UTCDateTime),
        sa.column("created_by"),
    )
    for client_id, scopes, created in rows:
        for scope in str(scopes).split():  # granted by the CLI's --org-scope before grants existed
            grant_id = "oag" + "".join(secrets.choice(_BASE62) for _ in range(17))
            conn.execute(
                grants.insert().values(
                    id=grant_id,
                    client_id=client_id,
                    scope_id=scope,
                    issuer="",  # the org issuer, named when answered
                    created=created,
                    created_by="cli",
                )
            )


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("metadata")
        batch.add_column(sa.Column("org_scopes", sa.Text, nullable=False, server_default=""))
    op.drop_index("ix_used_jtis_expires", "used_jtis")
    op.drop_table("used_jtis")
    op.drop_table("app_grants")
