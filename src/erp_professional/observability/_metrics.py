"""``setup_metrics``: the process's MeterProvider, read on demand as Prometheus text.

Every OpenTelemetry meter in the process (ours, other capabilities', the app's) feeds one
pull reader. In a multi-process server each process also writes its cumulative values to
``<multiprocess_dir>/erp-metrics-<pid>.json`` every ``multiprocess_interval`` seconds
(and at shutdown); ``/metrics`` in any process merges them (see ``_prometheus.merge``).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry import metrics as otel_metrics
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from .._sections.observability import MetricsConfig, ObservabilityConfig
from ..config import ProfessionalConfig, ServiceConfig
from ._prometheus import Family, families_from, merge, render

__all__ = ["DURATION_BUCKETS", "MetricsSetup", "render_metrics", "setup_metrics"]

log = logging.getLogger("erp_professional.observability")

#: OpenTelemetry HTTP semantic conventions' boundaries for durations in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_PREFIX = "erp-metrics-"
ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
_EXEMPLAR_ENV = "OTEL_METRICS_EXEMPLAR_FILTER"


class MetricsSetup:
    """The process's MeterProvider, its pull reader and the optional multi-process files."""

    def __init__(self, resource: Resource) -> None:
        self.reader = InMemoryMetricReader()
        # Exemplars are not part of the Prometheus text we serve: skip their per-measurement
        # work unless the environment asks for them.
        exemplars = None if os.environ.get(_EXEMPLAR_ENV) else AlwaysOffExemplarFilter()
        self.provider = MeterProvider(
            metric_readers=[self.reader], resource=resource, exemplar_filter=exemplars
        )
        self.directory: Path | None = None
        self.interval = 1.0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    # -- collection ----------------------------------------------------------------------
    def families(self) -> list[Family]:
        """This process's metrics now: the producers' (HTTP server metrics), then the SDK's."""
        families: list[Family] = []
        for producer in list(_producers):
            families.extend(producer())
        taken = {family["name"] for family in families}
        for family in families_from(self.reader.get_metrics_data()):
            if family["name"] not in taken:
                families.append(family)
        return families

    def render(self) -> str:
        """Prometheus text: this process alone, or merged over every process's file."""
        own = self.families()
        directory = self.directory
        if directory is None:
            return render(own)
        self._write(own)
        return render(merge(self._read_all(directory, own)))

    # -- multi-process -------------------------------------------------------------------
    def configure(self, directory: str | None, interval: float) -> None:
        path = Path(directory) if directory else None
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self.directory = path
            self.interval = interval
            self._wake.set()
            if path is not None and (self._thread is None or not self._thread.is_alive()):
                self._start()

    def _start(self) -> None:
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="erp-professional-metrics-files", daemon=True
        )
        contextvars.Context().run(self._thread.start)  # never a request's context

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._thread = None
        if self.directory is not None:
            self._start()

    def _run(self) -> None:
        while self.directory is not None:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("could not write this process's metrics file")

    def flush(self) -> None:
        """Write this process's metrics file now (shutdown hooks call it)."""
        if self.directory is not None:
            self._write(self.families())

    def _path(self, pid: int) -> Path:
        assert self.directory is not None
        return self.directory / f"{_PREFIX}{pid}.json"

    def _write(self, families: list[Family]) -> None:
        pid = os.getpid()
        path = self._path(pid)
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"pid": pid, "time": time.time(), "families": families}))
        os.replace(tmp, path)

    def _read_all(self, directory: Path, own: list[Family]) -> list[tuple[int, bool, list[Family]]]:
        me = os.getpid()
        result: list[tuple[int, bool, list[Family]]] = [(me, True, own)]
        for path in directory.glob(f"{_PREFIX}*.json"):
            try:
                pid = int(path.stem[len(_PREFIX) :])
            except ValueError:
                continue
            if pid == me:
                continue
            try:
                data = json.loads(path.read_text())
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                log.warning("skipping unreadable metrics file %s: %s", path.name, exc)
                continue
            result.append((pid, _alive(pid), data.get("families", [])))
        return result

    def stop(self) -> None:
        self.flush()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_producers: list[Callable[[], list[Family]]] = []


def add_producer(producer: Callable[[], list[Family]]) -> None:
    """Add families computed outside the SDK (aggregated on a hot path) to ``/metrics``."""
    _producers.append(producer)


_setup: MetricsSetup | None = None
_setup_lock = threading.Lock()


def setup_metrics(
    config: MetricsConfig | ObservabilityConfig | ProfessionalConfig | None = None,
    *,
    service: ServiceConfig | None = None,
) -> MetricsSetup:
    """Install (once per process) the MeterProvider read by ``/metrics``; re-calls only
    change the multi-process settings.

    ``multiprocess_dir`` (or the ``PROMETHEUS_MULTIPROC_DIR`` environment variable) turns
    on the per-process files that make totals correct under several workers.
    """
    global _setup
    if isinstance(config, ProfessionalConfig):
        service = service or config.service
        config = config.observability.metrics
    elif isinstance(config, ObservabilityConfig):
        config = config.metrics
    settings = config or MetricsConfig()
    svc = service or ServiceConfig()
    with _setup_lock:
        setup = _setup
        if setup is None:
            resource = Resource.create(
                {
                    "service.name": svc.name,
                    "service.version": svc.version,
                    "deployment.environment": svc.environment,
                }
            )
            setup = MetricsSetup(resource)
            otel_metrics.set_meter_provider(setup.provider)
            if otel_metrics.get_meter_provider() is not setup.provider:
                log.warning(
                    "a MeterProvider was already installed by other code: /metrics shows "
                    "only what reaches erp_professional's own provider"
                )
            _setup = setup
    setup.configure(
        settings.multiprocess_dir or os.environ.get(ENV_DIR) or None,
        settings.multiprocess_interval,
    )
    return setup


def render_metrics() -> str:
    """The process's (or, in multi-process mode, every worker's) metrics as Prometheus text."""
    setup = _setup
    return "" if setup is None else setup.render()


def current_setup() -> MetricsSetup | None:
    return _setup
