"""A TCP proxy a test can cut, to make a server "briefly unreachable" for one client."""

from __future__ import annotations

import contextlib
import socket
import threading

from support.stack import free_port


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target``; ``cut()`` drops every connection.

    Every connection belongs to the listener that accepted it. A connection accepted
    while ``cut()`` runs (accepted, but its upstream not yet open) is registered only if
    its listener is still the live one, under the same lock ``cut()`` takes: otherwise
    it is closed at once. So nothing opened before ``cut()`` returns survives it.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and reset every open connection, as a network partition would."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener is not None:
            # close() alone does not wake a thread blocked in accept(): the socket would keep
            # accepting until that call returns. shutdown() does, and refuses the backlog.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for connection in connections:
            _reset(connection)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # the 5 s were for connecting: an idle pool may wait longer
            with self._lock:
                live = self._listener is listener
                if live:
                    self._connections += [client, upstream]
            if not live:  # cut() ran while this connection was being opened
                _reset(client)
                _reset(upstream)
                return
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()


def _reset(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
