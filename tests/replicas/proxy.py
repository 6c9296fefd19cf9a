"""A TCP proxy between keyrotor and PostgreSQL that a test can cut, freeze and restore.

``cut()`` resets every proxied connection and refuses new ones (the database host went
down); ``freeze()`` keeps every socket open but stops moving bytes and answers no new
connection (a network partition, or a database that stopped answering); ``restore()``
forwards again. One selector thread moves all the bytes.
"""

from __future__ import annotations

import contextlib
import selectors
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
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._mode = Mode.UP
        self._peers: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []  # accepted while frozen, not yet connected
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._thread.start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._peers) // 2

    def cut(self) -> None:
        """Reset every connection; new ones are reset as soon as they arrive."""
        with self._lock:
            self._mode = Mode.CUT
            for sock in [*self._peers, *self._held]:
                _reset(sock)
            self._peers.clear()
            self._held.clear()

    def freeze(self) -> None:
        """Stop moving bytes; keep every socket open; leave new connections unanswered."""
        with self._lock:
            self._mode = Mode.FROZEN

    def restore(self) -> None:
        with self._lock:
            self._mode = Mode.UP
            held, self._held = self._held, []
        for client in held:
            self._connect(client)

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        with self._lock:
            for sock in [*self._peers, *self._held]:
                _reset(sock)
            self._peers.clear()
            self._held.clear()
        self._listener.close()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            while not self._stopped.is_set():
                with self._lock:
                    frozen = self._mode is Mode.FROZEN
                    watched = [] if frozen else list(self._peers)
                for sock in watched:
                    with contextlib.suppress(ValueError, KeyError):  # closed by cut()
                        selector.register(sock, selectors.EVENT_READ)
                selector.register(self._listener, selectors.EVENT_READ)
                try:
                    ready = selector.select(0.05)
                finally:
                    for key in list(selector.get_map().values()):
                        selector.unregister(key.fileobj)
                for key, _ in ready:
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept()
                    else:
                        self._pump(sock)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        with self._lock:
            mode = self._mode
            if mode is Mode.FROZEN:
                self._held.append(client)
                return
        if mode is Mode.CUT:
            _reset(client)
            return
        self._connect(client)

    def _connect(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self._upstream, timeout=2)
        except OSError:
            _reset(client)
            return
        for sock in (client, server):
            sock.setblocking(True)
            sock.settimeout(2)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._peers[client] = server
            self._peers[server] = client

    def _pump(self, sock: socket.socket) -> None:
        with self._lock:
            other = self._peers.get(sock)
        if other is None:
            return
        try:
            data = sock.recv(65536)
            if data:
                other.sendall(data)
                return
        except OSError:
            pass
        with self._lock:  # one side closed: close both
            self._peers.pop(sock, None)
            self._peers.pop(other, None)
        sock.close()
        other.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a host that went away would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
