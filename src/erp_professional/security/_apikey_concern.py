"""The API key concern and ``@require_api_key``: 401/403 problem+json, keys never logged."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, ParamSpec, TypeVar, cast

from ..web import Concern, Exchange, HTTPProblem, Response, current_exchange, problem
from ._apikeys import ApiKey, ApiKeyError, ApiKeys, AsyncApiKeys
from ._routes import RouteSet, RouteTable
from ._util import count, log, safe_for_log

__all__ = ["ApiKeyConcern", "api_key", "require_api_key"]

P = ParamSpec("P")
R = TypeVar("R")
STATE_KEY = "api_key"
ERROR_KEY = "api_key_error"


def _problem(exchange: Exchange | None, error: ApiKeyError) -> Response:
    headers = [("WWW-Authenticate", 'Bearer realm="api"')] if error.status == 401 else []
    return problem(
        error.status,
        error.reason,
        title="Unauthorized" if error.status == 401 else "Forbidden",
        headers=headers,
        request_id=exchange.request_id if exchange is not None else None,
    )


def api_key(exchange: Exchange | None = None) -> ApiKey | None:
    """The verified API key of the current request, if any."""
    ex = exchange if exchange is not None else current_exchange()
    if ex is None:
        return None
    record = ex.state.get(STATE_KEY)
    return record if isinstance(record, ApiKey) else None


class ApiKeyConcern(Concern):
    """Verifies the key in ``X-API-Key`` (or ``Authorization: Bearer``) when one is sent,
    and requires one (with scopes) where configured. The key itself is never logged:
    log lines carry the key id or ``<prefix>_…<last 4>``."""

    name: ClassVar[str] = "security.api_keys"
    order: ClassVar[int] = 90

    def __init__(
        self,
        keys: ApiKeys,
        *,
        header: str = "X-API-Key",
        required: bool = False,
        exempt: Iterable[str] = (),
        routes: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.keys = keys
        self.async_keys = AsyncApiKeys(keys)
        self.header = header
        self.required = required
        self.exempt = RouteSet(exempt)
        self.routes: RouteTable[tuple[str, ...]] = RouteTable(
            {p: tuple(s) for p, s in (routes or {}).items()}
        )

    def presented(self, exchange: Exchange) -> str | None:
        value = exchange.headers.get(self.header)
        if value:
            return value.strip()
        auth = exchange.headers.get("authorization")
        if auth and auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
            if token.startswith(self.keys.prefix + "_"):
                return token
        return None

    def _needed(self, exchange: Exchange) -> tuple[str, ...] | None:
        scopes = self.routes.lookup(exchange) if self.routes else None
        if scopes is not None:
            return scopes
        if self.required and not (self.exempt and self.exempt.matches(exchange)):
            return ()
        return None

    def _fail(self, exchange: Exchange, error: ApiKeyError, key: str | None) -> Response:
        count("apikey.rejected", status=error.status)
        shown = f"{key[:4]}…{key[-4:]}" if key and len(key) > 12 else "(none)"
        log.info(
            "API key rejected on %s %s: %s (key %s)",
            exchange.method,
            safe_for_log(exchange.path),
            error.reason,
            safe_for_log(shown, 20),
            extra={"request_id": exchange.request_id},
        )
        return _problem(exchange, error)

    def _unavailable(self, exchange: Exchange, exc: Exception) -> Response:
        count("apikey.store_error")
        log.error(
            "API key store unavailable (%s: %s); refusing keyed requests",
            type(exc).__name__,
            safe_for_log(str(exc)),
            extra={"request_id": exchange.request_id},
        )
        return problem(
            503,
            "API keys cannot be checked right now; try again shortly.",
            headers=[("Retry-After", "5")],
            request_id=exchange.request_id,
        )

    def _accept(self, exchange: Exchange, record: ApiKey) -> None:
        exchange.state[STATE_KEY] = record
        exchange.state["api_key_id"] = record.id
        if exchange.principal is None:
            exchange.principal = record

    def on_request(self, exchange: Exchange) -> Response | None:
        needed = self._needed(exchange)
        key = self.presented(exchange)
        if key is None:
            if needed is None:
                return None
            return self._fail(exchange, ApiKeyError("an API key is required"), None)
        try:
            record = self.keys.verify(key, needed or ())
        except ApiKeyError as error:
            return self._fail(exchange, error, key)
        except Exception as exc:  # the store failed: closed, never a 500
            return self._unavailable(exchange, exc)
        self._accept(exchange, record)
        return None

    async def on_request_async(self, exchange: Exchange) -> Response | None:
        needed = self._needed(exchange)
        key = self.presented(exchange)
        if key is None:
            if needed is None:
                return None
            return self._fail(exchange, ApiKeyError("an API key is required"), None)
        try:
            record = await self.async_keys.verify(key, needed or ())
        except ApiKeyError as error:
            return self._fail(exchange, error, key)
        except Exception as exc:  # the store failed: closed, never a 500
            return self._unavailable(exchange, exc)
        self._accept(exchange, record)
        return None


def _concern(exchange: Exchange) -> ApiKeyConcern:
    concern = exchange.pipeline.get(ApiKeyConcern.name)
    if not isinstance(concern, ApiKeyConcern):
        raise RuntimeError(
            "require_api_key needs API keys switched on: security.api_keys.enabled = true"
        )
    return concern


def _raise(error: ApiKeyError) -> None:
    response = _problem(None, error)
    raise HTTPProblem(
        error.reason,
        status=error.status,
        title="Unauthorized" if error.status == 401 else "Forbidden",
        headers=[h for h in response.headers if h[0].lower() == "www-authenticate"],
    )


def _store_down(concern: ApiKeyConcern, exchange: Exchange, exc: Exception) -> None:
    response = concern._unavailable(exchange, exc)
    raise HTTPProblem(
        "API keys cannot be checked right now; try again shortly.",
        status=response.status,
        headers=[("Retry-After", "5")],
    ) from exc


def require_api_key(
    scopes: Iterable[str] = (),
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Require a valid API key with ``scopes`` for a view: 401 without a valid key, 403
    when a scope is missing. Uses the key the concern already verified, else verifies the
    request's key itself (asynchronously for async views)."""
    required = tuple(scopes)

    def check(exchange: Exchange, record: ApiKey) -> None:
        if not record.has_scopes(required):
            _raise(ApiKeyError("the API key lacks a required scope", status=403))

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                exchange = current_exchange()
                if exchange is None:
                    raise RuntimeError("require_api_key used outside a request")
                record = api_key(exchange)
                if record is None:
                    concern = _concern(exchange)
                    key = concern.presented(exchange)
                    if key is None:
                        _raise(ApiKeyError("an API key is required"))
                    assert key is not None
                    try:
                        record = await concern.async_keys.verify(key)
                    except ApiKeyError as error:
                        _raise(error)
                    except Exception as exc:
                        _store_down(concern, exchange, exc)
                    assert record is not None
                    concern._accept(exchange, record)
                check(exchange, record)
                return await func(*args, **kwargs)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            exchange = current_exchange()
            if exchange is None:
                raise RuntimeError("require_api_key used outside a request")
            record = api_key(exchange)
            if record is None:
                concern = _concern(exchange)
                key = concern.presented(exchange)
                if key is None:
                    _raise(ApiKeyError("an API key is required"))
                assert key is not None
                try:
                    record = concern.keys.verify(key)
                except ApiKeyError as error:
                    _raise(error)
                except Exception as exc:
                    _store_down(concern, exchange, exc)
                assert record is not None
                concern._accept(exchange, record)
            check(exchange, record)
            return func(*args, **kwargs)

        return wrapper

    return decorate
