"""A TCP proxy between keyrotor and PostgreSQL that a test can cut, freeze and restore.

``cut()`` resets every proxied connection and refuses new ones (the database host went
down); ``freeze()`` keeps every socket open but moves no byte and answers no new
connection (a network partition, or a database that stopped answering); ``restore()``
moves bytes again, delivering what was held, as a healed partition would. Each direction
of each connection has its own thread, so a slow reader never stalls the others.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from enum import Enum


class Mode(Enum):
    UP = "up"
    CUT = "cut"
    FROZEN = "frozen"


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._mode = Mode.UP
        self._changed = threading.Condition()
        self._open: set[socket.socket] = set()
        self._held: list[socket.socket] = []  # accepted while frozen, not yet connected
        self._closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cut(self) -> None:
        """Reset every connection; new ones are reset as soon as they arrive."""
        self._set(Mode.CUT)
        self._reset_all()

    def freeze(self) -> None:
        """Move no byte; keep every socket open; leave new connections unanswered."""
        self._set(Mode.FROZEN)

    def restore(self) -> None:
        self._set(Mode.UP)
        with self._changed:
            held, self._held = self._held, []
        for client in held:
            self._connect(client)

    def close(self) -> None:
        with self._changed:
            self._closed = True
        self._set(Mode.CUT)
        self._reset_all()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _set(self, mode: Mode) -> None:
        with self._changed:
            self._mode = mode
            self._changed.notify_all()

    def _reset_all(self) -> None:
        with self._changed:
            doomed = [*self._open, *self._held]
            self._open.clear()
            self._held.clear()
        for sock in doomed:
            _reset(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._changed:
                if self._closed or self._mode is Mode.CUT:
                    mode = Mode.CUT
                else:
                    mode = self._mode
                    if mode is Mode.FROZEN:
                        self._held.append(client)
            if mode is Mode.CUT:
                _reset(client)
            elif mode is Mode.UP:
                self._connect(client)

    def _connect(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self._upstream, timeout=2)
        except OSError:
            _reset(client)
            return
        server.settimeout(None)
        with self._changed:
            if self._mode is not Mode.UP:  # cut or frozen while connecting
                doomed = True
            else:
                doomed = False
                self._open.update((client, server))
        if doomed:
            _reset(client)
            _reset(server)
            return
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                with self._changed:
                    self._changed.wait_for(lambda: self._mode is not Mode.FROZEN)
                    if self._mode is Mode.CUT:
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._changed:
                self._open.discard(source)
                self._open.discard(sink)
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a host that went away would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
