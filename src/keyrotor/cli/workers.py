"""``serve --workers N``: N server processes on one port, each with a socket of its own.

Each worker binds the port with ``SO_REUSEPORT``, so the kernel spreads connections over
the workers evenly. (Workers that share one listening socket, as uvicorn's own supervisor
makes them, leave it to whichever process wakes first: a client that opens all its
keep-alive connections at once may find every one of them on the same worker.) The parent
only supervises: it restarts a worker that dies and stops them all on SIGTERM or SIGINT.
A worker whose parent died, even by SIGKILL, stops by itself: no orphan keeps answering on
the port beside the next ``serve``.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

import click

RESTART_PAUSE = 1.0  # seconds before a worker that died is started again


def run_workers(count: int, host: str, port: int, server: dict[str, Any]) -> None:
    """Start ``count`` workers serving ``keyrotor.cli.serve:worker_app`` and watch them."""
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    try:
        _listen(host, port).close()  # a port it cannot bind fails here, once, in one line
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers = [_start(context, host, port, server) for _ in range(count)]
    while not stopping:
        time.sleep(0.2)
        for i, worker in enumerate(workers):
            if not worker.is_alive() and not stopping:
                click.echo(f"worker {worker.pid} exited ({worker.exitcode}); starting another")
                time.sleep(RESTART_PAUSE)
                workers[i] = _start(context, host, port, server)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join(15)
        if worker.is_alive():
            worker.kill()


def _start(context: Any, host: str, port: int, server: dict[str, Any]) -> BaseProcess:
    process: BaseProcess = context.Process(target=_serve, args=(host, port, server))
    process.start()
    return process


def _serve(host: str, port: int, server: dict[str, Any]) -> None:
    """One worker: its own ``SO_REUSEPORT`` socket, uvicorn and the app over its own store."""
    import uvicorn

    _stop_with_parent()
    config = uvicorn.Config("keyrotor.cli.serve:worker_app", factory=True, **server)
    uvicorn.Server(config).run(sockets=[_listen(host, port)])


def _stop_with_parent() -> None:
    """Once the parent is gone (its end of the spawn pipe closes), SIGTERM this worker:
    uvicorn's graceful stop, as if the parent had sent it."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="keyrotor-parent", daemon=True).start()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket of its own on the shared port (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock
