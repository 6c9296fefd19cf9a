"""How ``keyrotor serve`` logs: its level, text or JSON lines, and the opt-in access log.

One configuration (``logging.config.dictConfig``) for keyrotor's loggers and uvicorn's,
applied before the store is opened (so start-up events are logged too) and handed to
uvicorn and to each ``--workers`` process. JSON lines carry ``time``, ``level``,
``logger``, ``message``; an audit line adds ``event`` (``keyrotor.audit.summary``), an
access line ``http``. Access lines mask the values of query parameters whose names look
secret; no log line carries a token, a client secret or key material.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any

import click

from keyrotor.clock import iso

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
_SECRET_NAME = re.compile(r"secret|token|assertion|password|code|jwt|dpop|key", re.IGNORECASE)
_QUERY_PAIR = re.compile(r"([?&])([^=&#]*)=([^&#]*)")


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        found: dict[str, Any] = {
            "time": iso(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        event = getattr(record, "event", None)
        if isinstance(event, dict):
            found["event"] = event
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            found["http"] = {
                "client": client,
                "method": method,
                "path": path,
                "version": version,
                "status": status,
            }
        if record.exc_info:
            found["exception"] = self.formatException(record.exc_info)
        return json.dumps(found, ensure_ascii=False, default=str)


class MaskQuery(logging.Filter):
    """Access lines: the values of query parameters named like a secret become ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], mask_query(args[2]), *args[3:])
        return True


def mask_query(path: str) -> str:
    def masked(match: re.Match[str]) -> str:
        sep, name, value = match.groups()
        return f"{sep}{name}={'***' if _SECRET_NAME.search(name) else value}"

    return _QUERY_PAIR.sub(masked, path)


def config(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """The ``dictConfig`` of ``keyrotor serve`` (also uvicorn's ``log_config``)."""
    if level not in LEVELS or fmt not in FORMATS:
        raise ValueError(f"log level {level!r} or format {fmt!r} not known")
    name = level.upper()
    if fmt == "json":
        formatters: dict[str, Any] = {
            "default": {"()": JsonFormatter},
            "access": {"()": JsonFormatter},
        }
    else:
        formatters = {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(asctime)s %(levelprefix)s %(name)s: %(message)s",
                "use_colors": False,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(asctime)s %(levelprefix)s %(client_addr)s - "%(request_line)s" '
                "%(status_code)s",
                "use_colors": False,
            },
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "filters": {"mask": {"()": MaskQuery}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["mask"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "keyrotor": {"handlers": ["default"], "level": name, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": name, "propagate": False},
            "uvicorn.error": {"level": name},
            "uvicorn.access": {"handlers": ["access"], "level": name, "propagate": False},
        },
    }


def configure(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """Apply ``config`` to this process; returns it (for uvicorn)."""
    found = config(level, fmt)
    logging.config.dictConfig(found)
    return found


def say(fmt: str, line: str) -> None:
    """A line of ``serve``'s start-up banner: as it is (stdout), or a JSON log line."""
    if fmt == "json":
        logging.getLogger("keyrotor.serve").info(line)
    else:
        click.echo(line)
