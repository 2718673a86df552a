"""``integrate(app)``: switch the toolkit on for an app, and the ``Professional`` it returns."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from os import PathLike
from typing import Any

from . import connections
from ._version import __version__
from .config import ProfessionalConfig, load_config
from .web import AsgiDriver, Concern, EndpointHandler, Pipeline, RequestIdConcern, Response

__all__ = ["Professional", "integrate"]

log = logging.getLogger("erp_professional")

Hook = Callable[[], object] | Callable[[], Awaitable[object]]
_MARK = "__erp_professional__"


class Professional:
    """The toolkit switched on for one app: its config, pipeline, components and lifecycle.

    For a bare ASGI or WSGI app the ``Professional`` is itself the wrapped app: serve it
    instead of the original. For FastAPI/Starlette, Flask and Django keep serving the app.

    ``kind`` names the framework (``starlette``, ``flask``, ``django``, ``asgi``, ``wsgi``) and
    ``server_kind`` the server interface (``asgi`` or ``wsgi``), so capabilities can pick
    async or sync code paths when they install themselves.
    """

    def __init__(self, config: ProfessionalConfig, app: object = None) -> None:
        self.config = config
        self.app = app
        self.kind: str = "none"
        self.server_kind: str = "asgi"
        web = config.web
        show = config.service.debug if web.show_tracebacks is None else web.show_tracebacks
        self.pipeline = Pipeline(
            prefix=web.prefix, trusted_proxies=web.trusted_proxies, show_tracebacks=show
        )
        self.pipeline.add(RequestIdConcern(web.request_id_header, web.trust_incoming_request_id))
        self.components: dict[str, object] = {}
        self._factories: dict[
            str, tuple[Callable[[], object], Callable[[object], None] | None]
        ] = {}
        self._lock = threading.Lock()
        self._startup: list[Hook] = []
        self._drain: list[Callable[[], object]] = []
        self._shutdown: list[Hook] = []
        self._driver: Callable[..., Any] | None = None
        self._error_handlers: Callable[[], None] | None = None
        self.started = False
        self.draining = False
        self.closed = False
        self.add_endpoint("/", self._index)
        self.add_endpoint("/info", self._info)

    # -- composition ---------------------------------------------------------------------
    def add_concern(self, concern: Concern) -> None:
        """Add an HTTP concern to the request lifecycle (kept sorted by ``concern.order``)."""
        self.pipeline.add(concern)

    def add_endpoint(
        self, path: str, handler: EndpointHandler, methods: Iterable[str] = ("GET", "HEAD")
    ) -> None:
        """Mount a toolkit endpoint at ``{prefix}{path}``; the app's own routes are untouched."""
        self.pipeline.add_endpoint(path, handler, methods)

    def register(self, name: str, component: object) -> None:
        """Make a component reachable as ``pro.components[name]`` and ``pro.<name>``."""
        if name in self.components or name in self._factories:
            raise ValueError(f"a component named {name!r} is already registered")
        self.components[name] = component

    def register_factory(
        self,
        name: str,
        factory: Callable[[], object],
        on_create: Callable[[object], None] | None = None,
    ) -> None:
        """Register a component built on first use of ``pro.<name>`` (nothing is opened, no
        file created, until the app asks for it); ``on_create`` runs once when it is built."""
        if name in self.components or name in self._factories:
            raise ValueError(f"a component named {name!r} is already registered")
        self._factories[name] = (factory, on_create)

    def component(self, name: str) -> object:
        """The component called ``name``, building it now if it was registered as a factory."""
        if name not in self.components:
            entry = self._factories.get(name)
            if entry is None:
                raise KeyError(f"no component named {name!r}")
            with self._lock:
                if name not in self.components:
                    factory, on_create = entry
                    built = factory()
                    self.components[name] = built
                    if on_create is not None:
                        on_create(built)
        return self.components[name]

    def on_startup(self, hook: Hook) -> None:
        """Run ``hook`` (sync or async) once when the service starts."""
        self._startup.append(hook)

    def on_drain(self, hook: Callable[[], object]) -> None:
        """Run ``hook`` as soon as shutdown begins (readiness goes down before anything stops)."""
        self._drain.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        """Run ``hook`` (sync or async) once at shutdown, in reverse order of registration."""
        self._shutdown.append(hook)

    def __getattr__(self, name: str) -> object:
        components = self.__dict__.get("components", {})
        if name in components:
            return components[name]
        if name in self.__dict__.get("_factories", {}):
            return self.component(name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute or component {name!r}")

    # -- serving -------------------------------------------------------------------------
    def __call__(self, *args: Any) -> Any:
        """A ``Professional`` for a framework app does not serve: serve the app itself."""
        raise TypeError(f"this Professional wraps a {self.kind} app: serve the app itself")

    def setup_error_handlers(self) -> None:
        """Install the framework's error handlers that answer with problem+json.

        :func:`integrate` calls this; calling it again does nothing.
        """
        installer, self._error_handlers = self._error_handlers, None
        if installer is not None:
            installer()

    # -- lifecycle -----------------------------------------------------------------------
    async def astartup(self) -> None:
        """Run the start-up hooks once (the ASGI lifespan calls this)."""
        if self.started:
            return
        self.started = True
        for hook in self._startup:
            result = hook()
            if inspect.isawaitable(result):
                await result

    def startup(self) -> None:
        """Run the start-up hooks once from synchronous code (WSGI apps)."""
        if self.started:
            return
        self.started = True
        for hook in self._startup:
            result = hook()
            if inspect.isawaitable(result):
                _run(result)

    def begin_shutdown(self) -> None:
        """Start draining: readiness fails from now on while in-flight requests finish."""
        if self.draining:
            return
        self.draining = True
        for hook in self._drain:
            try:
                hook()
            except Exception:
                log.exception("drain hook %r failed", hook)

    async def aclose(self) -> None:
        """Drain, stop components, flush telemetry and close pools. Idempotent."""
        self.begin_shutdown()
        if self.closed:
            return
        self.closed = True
        for hook in reversed(self._shutdown):
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("shutdown hook %r failed", hook)
        await connections.aclose()

    def shutdown(self) -> None:
        """Synchronous :meth:`aclose`, for WSGI apps, scripts and tests. Idempotent."""
        self.begin_shutdown()
        if self.closed:
            return
        self.closed = True
        for hook in reversed(self._shutdown):
            try:
                result = hook()
                if inspect.isawaitable(result):
                    _run(result)
            except Exception:
                log.exception("shutdown hook %r failed", hook)
        connections.shutdown()

    def __enter__(self) -> Professional:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    async def __aenter__(self) -> Professional:
        await self.astartup()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- built-in endpoints --------------------------------------------------------------
    def _index(self, exchange: object) -> Response:
        prefix = self.pipeline.prefix
        return Response.json(
            {
                "service": self.config.service.name,
                "endpoints": sorted(prefix + path for path in self.pipeline.endpoints),
            }
        )

    def _info(self, exchange: object) -> Response:
        service = self.config.service
        return Response.json(
            {
                "service": service.name,
                "version": service.version,
                "environment": service.environment,
                "erp_professional": __version__,
                "components": sorted({*self.components, *self._factories}),
            }
        )

    def __repr__(self) -> str:
        return f"<Professional {self.kind} service={self.config.service.name!r}>"


class AsgiProfessional(AsgiDriver, Professional):  # type: ignore[misc]
    """The ``Professional`` of a bare ASGI app (or Django's ASGI handler): serve it.

    It is the ASGI driver itself, so serving it costs no extra call per request.
    """

    def __init__(self, config: ProfessionalConfig, app: Any = None) -> None:
        Professional.__init__(self, config, app)
        AsgiDriver.__init__(self, app, self.pipeline, lifespan=self)


class WsgiProfessional(Professional):
    """The ``Professional`` of a bare WSGI app (or Django's WSGI handler): serve it."""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        driver = self._driver
        if driver is None:  # pragma: no cover - integrate() always installs one
            raise TypeError("no WSGI driver installed")
        return driver(environ, start_response)


def _run(awaitable: Awaitable[object]) -> object:
    try:
        asyncio.get_running_loop()
    except RuntimeError:

        async def main() -> object:
            return await awaitable

        return asyncio.run(main())
    raise RuntimeError(
        "an async hook cannot run from synchronous code inside a running event loop: "
        "use 'await pro.astartup()' / 'await pro.aclose()'"
    )


def _shutdown_ref(ref: weakref.ref[Professional]) -> None:
    pro = ref()
    if pro is not None:
        pro.shutdown()


def integrate(
    app: object,
    config: ProfessionalConfig | str | PathLike[str] | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Professional:
    """Switch the toolkit on for ``app`` and return the :class:`Professional` that runs it.

    ``app`` is a FastAPI/Starlette app, a Flask app, Django's ``get_wsgi_application()`` /
    ``get_asgi_application()`` handler, or a bare ASGI/WSGI callable. ``config`` is a
    :class:`ProfessionalConfig`, a TOML path or a mapping; keyword overrides use ``__``
    between nested names (``security__rate_limit__default="100/minute"``).
    """
    from .integrations import detect

    if isinstance(app, Professional) or getattr(app, _MARK, None) is not None or _marked(app):
        raise RuntimeError(
            "integrate() was already called on this app; keep the Professional it returned "
            "(calling it twice would stack every concern twice)"
        )
    integration = detect(app)
    cfg = load_config(config, **overrides)
    cls: type[Professional] = Professional
    if integration.serves_itself:
        cls = AsgiProfessional if integration.server_kind == "asgi" else WsgiProfessional
    pro = cls(cfg, app)
    pro.kind = integration.kind
    pro.server_kind = integration.server_kind
    from ._capabilities import install_all

    install_all(pro)
    integration.install(pro)
    pro.setup_error_handlers()
    try:
        setattr(app, _MARK, pro)
    except (AttributeError, TypeError):
        # No attributes: remember it weakly (an id could be reused by a later object).
        with contextlib.suppress(TypeError):
            _MARKED.add(app)
    if integration.server_kind == "wsgi":
        pro.startup()
        atexit.register(_shutdown_ref, weakref.ref(pro))
    return pro


_MARKED: weakref.WeakSet[Any] = weakref.WeakSet()


def _marked(app: object) -> bool:
    try:
        return app in _MARKED
    except TypeError:  # not weakly referenceable: it could not have been marked
        return False
