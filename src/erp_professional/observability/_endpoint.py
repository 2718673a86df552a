"""``/metrics`` under the toolkit prefix, and a standalone server or WSGI app for workers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..web import Exchange, Response
from ._metrics import render_metrics
from ._prometheus import CONTENT_TYPE

__all__ = ["MetricsServer", "metrics_endpoint", "metrics_wsgi_app", "start_metrics_server"]


def metrics_endpoint(exchange: Exchange) -> Response:
    """The ``{prefix}/metrics`` endpoint handler: Prometheus text of every meter."""
    body = render_metrics().encode("utf-8")
    return Response(200, [("content-type", CONTENT_TYPE), ("cache-control", "no-store")], body)


def metrics_wsgi_app(
    environ: dict[str, Any], start_response: Callable[..., object]
) -> Iterable[bytes]:
    """A WSGI app answering every GET with the metrics (mount it anywhere)."""
    if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
        start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
        return [b""]
    body = render_metrics().encode("utf-8")
    start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = render_metrics().encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class MetricsServer:
    """A running standalone metrics server; ``close()`` stops it."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.host = str(server.server_address[0])
        self.port = int(server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(port: int = 9464, host: str = "127.0.0.1") -> MetricsServer:
    """Serve the metrics at ``http://host:port/`` (any path) from a daemon thread.

    For processes without an HTTP app of their own (queue workers, schedulers). ``port=0``
    picks a free port (see ``.port``).
    """
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, name="erp-professional-metrics-server", daemon=True
    )
    thread.start()
    return MetricsServer(server, thread)
