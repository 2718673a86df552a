"""``install(pro)``: the security concerns, components and hooks from ``pro.config.security``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._apikey_concern import ApiKeyConcern
from ._apikeys import ApiKeys
from ._body import BodyGuard, BodyLimits, BodyLimitsConcern
from ._cors import CorsConcern
from ._csrf import CsrfConcern, CsrfProtection, CsrfTokens
from ._headers import HeadersConcern, SecurityHeaders
from ._injection import InjectionConcern, InjectionDetector
from ._ratelimit import AsyncRateLimiter, RateLimiter
from ._routes import RouteTable
from ._throttle import RateLimitConcern, SlowDown

if TYPE_CHECKING:
    from ..config import SecurityConfig
    from ..hub import Professional

__all__ = ["install"]


def build_headers(cfg: SecurityConfig) -> SecurityHeaders:
    h, csp = cfg.headers, cfg.csp
    return SecurityHeaders(
        h.preset,
        csp=csp.enabled,
        csp_directives=csp.directives,
        csp_use_defaults=csp.use_defaults,
        csp_report_only=csp.report_only,
        csp_nonce=csp.nonce,
        csp_routes=csp.routes,
        strip_leaky=h.strip_leaky,
        remove=h.remove,
        set_headers=h.set,
        hsts_max_age=h.hsts_max_age,
        hsts_preload=h.hsts_preload,
        routes=h.routes,
    )


def build_body(cfg: SecurityConfig) -> BodyLimitsConcern:
    b = cfg.body
    base = BodyLimits(
        max_bytes=b.max_bytes,
        content_types=tuple(t.lower() for t in b.content_types),
        json_max_depth=b.json_max_depth,
        json_max_bytes=b.json_max_bytes,
    )
    routes = {
        pattern: BodyLimits(
            max_bytes=r.max_bytes if "max_bytes" in r.model_fields_set else base.max_bytes,
            content_types=(
                tuple(t.lower() for t in r.content_types)
                if r.content_types is not None
                else base.content_types
            ),
            json_max_depth=(
                r.json_max_depth if "json_max_depth" in r.model_fields_set else base.json_max_depth
            ),
            json_max_bytes=(
                r.json_max_bytes if "json_max_bytes" in r.model_fields_set else base.json_max_bytes
            ),
        )
        for pattern, r in b.routes.items()
    }
    return BodyLimitsConcern(base, RouteTable(routes))


def build_csrf(cfg: SecurityConfig) -> CsrfConcern:
    c = cfg.csrf
    tokens = CsrfTokens(c.secret.get_secret_value()) if c.token and c.secret is not None else None
    return CsrfConcern(
        CsrfProtection(c.trusted_origins, c.bypass),
        report_only=c.report_only,
        tokens=tokens,
        session_cookie=c.session_cookie,
        cookie_name=c.cookie_name,
        header_name=c.header_name,
        field_name=c.field_name,
    )


def build_rate_limit(cfg: SecurityConfig) -> RateLimitConcern | None:
    r = cfg.rate_limit
    if not r.model_fields_set:
        return None  # untouched: nothing to limit, decorators count in process memory
    options = {
        "strategy": r.strategy,
        "failure_policy": r.failure_policy,
        "recheck_interval": r.recheck_interval,
        "namespace": r.namespace,
    }
    slow = r.slow_down
    return RateLimitConcern(
        RateLimiter(r.storage_url, **options),
        AsyncRateLimiter(r.storage_url, **options),
        default=r.default,
        routes=r.routes,
        route_costs=r.costs,
        key=r.key,
        exempt=r.exempt,
        exempt_clients=r.exempt_clients,
        headers=r.headers,
        slow_down=(
            SlowDown(slow.after, slow.delay_ms, slow.max_delay_ms)
            if slow.after is not None
            else None
        ),
    )


def build_api_keys(cfg: SecurityConfig) -> ApiKeyConcern:
    a = cfg.api_keys
    keys = ApiKeys(
        a.store_url,
        pepper=a.pepper.get_secret_value() if a.pepper is not None else None,
        prefix=a.prefix,
        table=a.table,
        namespace=a.namespace,
    )
    return ApiKeyConcern(
        keys, header=a.header, required=a.required, exempt=a.exempt, routes=a.routes
    )


def install(pro: Professional) -> None:
    """Add the configured security concerns to ``pro`` (called by ``integrate()``)."""
    cfg = pro.config.security
    if not cfg.enabled:
        return
    cors = cfg.cors
    if cors.allow_origins:
        pro.add_concern(
            CorsConcern(
                cors.allow_origins,
                allow_credentials=cors.allow_credentials,
                allow_methods=cors.allow_methods,
                allow_headers=cors.allow_headers,
                expose_headers=cors.expose_headers,
                max_age=cors.max_age,
            )
        )
    inj = cfg.injection
    if inj.enabled:
        pro.add_concern(
            InjectionConcern(
                InjectionDetector(inj.kinds),
                mode=inj.mode,
                targets=inj.check,
                exempt=inj.exempt,
            )
        )
    if cfg.headers.preset != "off" or cfg.headers.strip_leaky or cfg.csp.enabled:
        pro.add_concern(HeadersConcern(build_headers(cfg)))
    # Under ASGI the driver runs BodyGuard between itself and the app (see below), so JSON
    # limits and form-field CSRF tokens work for every ASGI app.
    guarded = pro.server_kind == "asgi"
    if cfg.csrf.enabled:
        csrf = build_csrf(cfg)
        csrf.asgi_form_field = guarded
        pro.add_concern(csrf)
    if cfg.api_keys.enabled:
        concern = build_api_keys(cfg)
        pro.add_concern(concern)
        pro.register("api_keys", concern.keys)
        pro.on_shutdown(concern.keys.close)
    limiter = build_rate_limit(cfg)
    if limiter is not None:
        pro.add_concern(limiter)
        pro.register("rate_limiter", limiter)
    body = build_body(cfg)
    pro.add_concern(body)
    if guarded:
        pro.pipeline.asgi_middleware.append(BodyGuard)
