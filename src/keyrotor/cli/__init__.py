"""``keyrotor``: start the server, and administer servers, keys, tokens and clients on its store."""

from __future__ import annotations

import click

from keyrotor import __version__
from keyrotor.cli.access import clients, tokens
from keyrotor.cli.keys import keys, servers
from keyrotor.cli.ops import db, kek
from keyrotor.cli.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keyrotor")
def main() -> None:
    """Okta-compatible signing keys for OAuth 2.0 / OpenID Connect authorization servers."""


for command in (serve, servers, keys, tokens, clients, db, kek):
    main.add_command(command)

__all__ = ["main"]
