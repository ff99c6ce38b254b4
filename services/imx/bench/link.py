"""A loopback TCP relay that can be cut and restored: a station's link, the broker left running.

``imx bench outbox`` and the outbox's outage tests use it.

Kafka clients connect to the address the broker *advertises*, not only to the bootstrap, so a
relay in front of the bootstrap alone would be bypassed after the first metadata answer. The
broker under test therefore advertises the relay's port (``localbroker.up(advertised_port=)``),
and every byte between client and broker crosses the relay. ``cut`` resets every open
connection and stops listening (new connections are refused, as with a link that is down);
``restore`` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from imx.kafka.localbroker import free_port


class Link:
    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.port = port or free_port()
        self._target = ("127.0.0.1", target_port)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = False

    def restore(self) -> None:
        """Listen (again) and relay new connections."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and reset every relayed connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                sock.close()

    def close(self) -> None:
        self._closed = True
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut: the listener was closed
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()
            with self._lock:
                self._open -= {source, sink}


@contextlib.contextmanager
def link_to(target_port: int, port: int | None = None) -> Iterator[Link]:
    link = Link(target_port, port)
    link.restore()
    try:
        yield link
    finally:
        link.close()
