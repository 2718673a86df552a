"""A Redis outage: last flags keep being served (STALE), then the store heals (READY)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from erp_professional.flags import FeatureFlags, RedisStore, State

from .conftest import PREFIX


class Proxy:
    """A TCP relay to Redis that can drop every connection and refuse new ones."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

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
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up.clear()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets = []

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(url: str) -> Iterator[Proxy]:
    parts = urlsplit(url)
    relay = Proxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    yield relay
    relay.close()


def _eventually(check: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout}s")


def test_outage_serves_last_flags_then_heals(url: str, proxy: Proxy) -> None:
    db = urlsplit(url).path
    via_proxy = f"redis://127.0.0.1:{proxy.port}{db}"
    prefix = PREFIX[url]
    flags = FeatureFlags(store=RedisStore(via_proxy, prefix=prefix), refresh_interval=0.2)
    writer = FeatureFlags(store=RedisStore(url, prefix=prefix))
    try:
        writer.set_flag("a", {})
        assert flags.start(3) is State.READY
        assert flags.is_enabled("a")

        proxy.cut()
        _eventually(lambda: flags.state is State.STALE)
        assert flags.is_enabled("a")  # the last snapshot is still served
        assert flags.last_error is not None
        writer.set_flag("b", {})  # a change the cut-off process cannot hear about

        proxy.restore()
        _eventually(lambda: flags.state is State.READY and flags.is_enabled("b"))
    finally:
        flags.close()
        writer.close()
