"""``keyrotor``: start the server, and administer servers, keys, tokens and clients on its store.

Every failure of every command ends in one place, ``Keyrotor.invoke``: one line on stderr,
``Error: …`` with its cause and no secret, and exit code 1 (a traceback only with
``KEYROTOR_DEBUG=1``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from keyrotor import __version__
from keyrotor.cli.access import clients, tokens
from keyrotor.cli.audit import audit
from keyrotor.cli.client_keys import client_keys
from keyrotor.cli.common import DEBUG_ENV, current_database, describe
from keyrotor.cli.encryption import encryption_keys
from keyrotor.cli.hooks import hooks
from keyrotor.cli.keys import keys, servers
from keyrotor.cli.ops import db, kek
from keyrotor.cli.secrets import secrets
from keyrotor.cli.serve import serve
from keyrotor.cli.store import init
from keyrotor.cli.transfer import db_backup, db_copy, db_restore


class Keyrotor(click.Group):
    """The command group that turns any exception of a command into click's one-line error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # the reader left (`… | head -n 1`): stop without a word
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(1) from None
        except Exception as exc:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            raise click.ClickException(describe(exc, current_database(ctx))) from None


@click.group(cls=Keyrotor, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keyrotor")
def main() -> None:
    """Okta-compatible signing keys for OAuth 2.0 / OpenID Connect authorization servers."""


for command in (init, serve, servers, keys, tokens, clients, db, kek, audit, hooks):
    main.add_command(command)
for command in (db_copy, db_backup, db_restore):
    db.add_command(command)
servers.add_command(encryption_keys)  # keyrotor servers encryption-keys …
clients.add_command(secrets)  # keyrotor clients secrets …
clients.add_command(client_keys)  # keyrotor clients keys …

__all__ = ["main"]
