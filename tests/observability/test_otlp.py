"""OTLP export end to end: a local collector on 127.0.0.1 receives the spans (HTTP and gRPC)."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from erp_professional._sections.observability import TracingConfig
from erp_professional.config import ServiceConfig
from erp_professional.observability import flush_tracing, setup_tracing, span

received: list[trace_service_pb2.ExportTraceServiceRequest] = []


def spans_received() -> list[tuple[str, str, dict[str, Any]]]:
    result = []
    for request in received:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for item in scope_spans.spans:
                    result.append((item.name, item.trace_id.hex(), resource))
    return result


class _Collector(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def http_collector() -> Iterator[str]:
    received.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)
    setup_tracing(TracingConfig(exporter="memory"))


def export_one(config: TracingConfig) -> str:
    setup_tracing(config, service=ServiceConfig(name="otlp-test", environment="ci"))
    with span("exported") as current:
        trace_id = format(current.get_span_context().trace_id, "032x")
    deadline = time.monotonic() + 10
    while not spans_received() and time.monotonic() < deadline:
        flush_tracing()
        time.sleep(0.05)
    return trace_id


def test_otlp_http_export(http_collector: str) -> None:
    trace_id = export_one(TracingConfig(exporter="otlp-http", endpoint=http_collector))
    ((name, got_trace, resource),) = spans_received()
    assert (name, got_trace) == ("exported", trace_id)
    assert resource["service.name"] == "otlp-test"
    assert resource["deployment.environment"] == "ci"


class _GrpcCollector(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def grpc_collector() -> Iterator[str]:
    import grpc

    received.clear()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_GrpcCollector(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop(grace=None)
    setup_tracing(TracingConfig(exporter="memory"))


def test_otlp_grpc_export(grpc_collector: str) -> None:
    trace_id = export_one(TracingConfig(exporter="otlp-grpc", endpoint=grpc_collector))
    ((name, got_trace, resource),) = spans_received()
    assert (name, got_trace) == ("exported", trace_id)
    assert resource["service.name"] == "otlp-test"
