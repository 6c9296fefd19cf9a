"""Client secrets with their own lifecycle (Okta's app credentials, secrets).

Each client's ``oauth_clients.secret_digest`` becomes one ACTIVE row of ``client_secrets``
(its ``created`` the client's), and the column goes. The value of a secret is not known
here, so a moved secret's ``secret_hash`` is 128 random bits in the same shape: it names
the secret and says nothing of it. The downgrade puts back one digest per client, of its
newest ACTIVE secret (a second ACTIVE secret cannot be kept by the older schema).

``oauth_clients`` is altered in place (``ALTER TABLE … DROP COLUMN``, SQLite 3.35 or
newer), never copied and dropped as Alembic's batch mode does on SQLite: with SQLite's
foreign keys on, dropping the table would delete the rows that refer to it
(``ON DELETE CASCADE``), the secrets moved here and the app grants among them.

Revision ID: 0008
Revises: 0007
"""

import base64
import os
import secrets
import sqlite3
import string

import sqlalchemy as sa
from alembic import op

from keyrotor.storage.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BASE62 = string.ascii_letters + string.digits


def _secrets_table() -> sa.TableClause:
    return sa.table(
        "client_secrets",
        sa.column("id"),
        sa.column("client_id"),
        sa.column("digest"),
        sa.column("secret_hash"),
        sa.column("status"),
        sa.column("created", UTCDateTime),
        sa.column("last_updated", UTCDateTime),
    )


def _check_sqlite() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError(
            f"migration 0008 needs SQLite 3.35 or newer (ALTER TABLE … DROP COLUMN); "
            f"this Python has SQLite {sqlite3.sqlite_version}"
        )


def upgrade() -> None:
    _check_sqlite()
    op.create_table(
        "client_secrets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("oauth_clients.client_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("last_updated", UTCDateTime, nullable=False),
    )
    op.create_index("ix_client_secrets_client", "client_secrets", ["client_id"])
    conn = op.get_bind()
    clients = sa.table(
        "oauth_clients",
        sa.column("client_id"),
        sa.column("secret_digest"),
        sa.column("created", UTCDateTime),
    )
    rows = conn.execute(
        sa.select(clients.c.client_id, clients.c.secret_digest, clients.c.created).where(
            clients.c.secret_digest != ""
        )
    ).all()
    moved = [
        {
            "id": "ocs" + "".join(secrets.choice(_BASE62) for _ in range(17)),
            "client_id": client_id,
            "digest": digest,
            "secret_hash": base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode(),
            "status": "ACTIVE",
            "created": created,
            "last_updated": created,
        }
        for client_id, digest, created in rows
    ]
    if moved:
        conn.execute(_secrets_table().insert(), moved)
    op.drop_column("oauth_clients", "secret_digest")  # in place, see the docstring


def downgrade() -> None:
    _check_sqlite()
    op.add_column(
        "oauth_clients",
        sa.Column("secret_digest", sa.String(64), nullable=False, server_default=""),
    )
    conn = op.get_bind()
    found = _secrets_table()
    rows = conn.execute(
        sa.select(found.c.client_id, found.c.digest)
        .where(found.c.status == "ACTIVE")
        .order_by(found.c.created, found.c.id)
    ).all()
    newest = {str(client_id): str(digest) for client_id, digest in rows}  # the last wins
    clients = sa.table("oauth_clients", sa.column("client_id"), sa.column("secret_digest"))
    for client_id, digest in newest.items():
        conn.execute(
            clients.update().where(clients.c.client_id == client_id).values(secret_digest=digest)
        )
    if conn.dialect.name == "postgresql":  # as 0002 made it: no default
        op.alter_column("oauth_clients", "secret_digest", server_default=None)
    op.drop_index("ix_client_secrets_client", "client_secrets")
    op.drop_table("client_secrets")
