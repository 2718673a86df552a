"""Settings of the security capability.

Environment form: ``ERP_PRO_SECURITY__<SECTION>__<KEY>``, for example
``ERP_PRO_SECURITY__RATE_LIMIT__DEFAULT=100/minute`` or
``ERP_PRO_SECURITY__HEADERS__PRESET=api``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from ._base import Section

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_ORIGIN = re.compile(r"^(https?)://[A-Za-z0-9.\-\[\]:]+$")
_BACKENDS = ("memory://", "redis://", "rediss://", "unix://")


def _check_header_names(names: list[str]) -> list[str]:
    for name in names:
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an HTTP header name")
    return names


def _check_header_values(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if any(
            (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F or ord(ch) > 0xFF for ch in value
        ):
            raise ValueError(f"the value of {name!r} must be printable Latin-1 without line breaks")
    return headers


def _check_limits(value: str) -> str:
    from limits import parse_many

    try:
        parsed = parse_many(value)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a rate limit such as '100/minute' or '10/second;1000/day'"
        ) from exc
    if not parsed:
        raise ValueError(f"{value!r} names no rate limit")
    return value


def _check_origin(origin: str) -> str:
    if origin == "null" or not _ORIGIN.fullmatch(origin):
        raise ValueError(
            f"{origin!r} is not an origin: write scheme://host[:port] with no path, "
            "such as 'https://app.example.com'"
        )
    return origin.lower()


class HeadersConfig(Section):
    """Response security headers (``security.headers``)."""

    preset: Literal["helmet", "api", "owasp", "off"] = "helmet"
    """``helmet`` (helmet 8 defaults), ``api`` (JSON APIs), ``owasp`` (OWASP Secure Headers
    Project recommendation) or ``off``."""
    strip_leaky: bool = True
    """Remove ``Server``, ``X-Powered-By`` and the OWASP list of headers that leak details."""
    remove: list[str] = Field(default_factory=list)
    """Further response headers to remove."""
    set: dict[str, str] = Field(default_factory=dict)
    """Headers added to (or, with an empty value, removed from) the preset."""
    hsts_max_age: int | None = Field(default=None, ge=0)
    """Overrides the preset's ``Strict-Transport-Security`` max-age (sent on HTTPS only)."""
    hsts_preload: bool = False
    routes: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per-route header changes: ``{"/embed/{id}": {"X-Frame-Options": ""}}`` (empty removes)."""

    @field_validator("remove")
    @classmethod
    def _remove(cls, value: list[str]) -> list[str]:
        return _check_header_names(value)

    @field_validator("set")
    @classmethod
    def _set(cls, value: dict[str, str]) -> dict[str, str]:
        _check_header_names(list(value))
        return _check_header_values(value)

    @field_validator("routes")
    @classmethod
    def _routes(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for headers in value.values():
            _check_header_names(list(headers))
            _check_header_values(headers)
        return value


CspValue = list[str] | str | None


class CspConfig(Section):
    """Content-Security-Policy (``security.csp``), validated at start-up like helmet."""

    enabled: bool | None = None
    """``None`` follows the headers preset; ``True``/``False`` force it."""
    use_defaults: bool = True
    """Start from the preset's directives and change only the ones in ``directives``."""
    directives: dict[str, CspValue] = Field(default_factory=dict)
    """``{"script-src": ["'self'", "cdn.example.com"], "upgrade-insecure-requests": None}``:
    a list or a string sets a directive, ``None`` removes it."""
    report_only: bool = False
    """Send ``Content-Security-Policy-Report-Only`` instead of enforcing."""
    nonce: bool = False
    """Add a fresh ``'nonce-…'`` to ``script-src`` and ``style-src`` on every request; the
    value is ``exchange.state["csp_nonce"]`` (and :func:`csp_nonce`) for templates."""
    routes: dict[str, dict[str, CspValue]] = Field(default_factory=dict)
    """Per-route directive changes on top of the policy."""

    @model_validator(mode="after")
    def _valid(self) -> CspConfig:
        from ..security._csp import parse_directives

        parse_directives(self.directives, use_defaults=self.use_defaults)
        for changes in self.routes.values():
            parse_directives({**self.directives, **changes}, use_defaults=self.use_defaults)
        return self


class CsrfConfig(Section):
    """Cross-site request forgery protection (``security.csrf``)."""

    enabled: bool = True
    trusted_origins: list[str] = Field(default_factory=list)
    """Origins (``https://app.example.com``) allowed to send cross-origin unsafe requests."""
    bypass: list[str] = Field(default_factory=list)
    """Route patterns exempt from the check: ``"/webhooks/*"`` or ``"POST /hooks/{name}"``."""
    report_only: bool = False
    """Log and count rejections without blocking."""
    token: bool = False
    """Also require a signed double-submit token (for browsers without Fetch Metadata)."""
    secret: SecretStr | None = None
    """HMAC key of the token; required when ``token`` is on."""
    session_cookie: str = "session"
    """The cookie that identifies the session the token is bound to."""
    cookie_name: str = "csrftoken"
    header_name: str = "X-CSRF-Token"
    field_name: str = "csrf_token"

    @field_validator("trusted_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [_check_origin(o) for o in value]

    @model_validator(mode="after")
    def _secret(self) -> CsrfConfig:
        if self.token and (self.secret is None or len(self.secret.get_secret_value()) < 16):
            raise ValueError("csrf.token needs csrf.secret of at least 16 characters")
        return self


class SlowDownConfig(Section):
    """Progressive delay after a number of requests (``security.rate_limit.slow_down``)."""

    after: str | None = None
    """Start delaying after this many requests per window and key: ``"50/minute"``;
    ``None`` switches slow-down off."""
    delay_ms: int = Field(default=100, ge=1)
    """Delay added for each request past the threshold."""
    max_delay_ms: int = Field(default=2000, ge=1)
    """Cap of the delay."""

    @field_validator("after")
    @classmethod
    def _after(cls, value: str | None) -> str | None:
        return None if value is None else _check_limits(value)


class RateLimitConfig(Section):
    """Rate limits on ``limits`` (``security.rate_limit``)."""

    default: str | None = None
    """Global limit per key, ``"100/minute"`` or several: ``"10/second;1000/day"``;
    ``None`` applies no global limit."""
    routes: dict[str, str] = Field(default_factory=dict)
    """Per-route limits by route template: ``{"POST /login": "5/minute"}``; these apply in
    place of the default."""
    costs: dict[str, int] = Field(default_factory=dict)
    """Cost of one request per route pattern (default 1): ``{"POST /export": 10}``."""
    storage_url: str = "memory://"
    """``memory://`` or a Redis URL (shared by every process)."""
    strategy: Literal["fixed-window", "moving-window", "sliding-window-counter"] = "fixed-window"
    failure_policy: Literal["open", "closed", "memory-fallback"] = "open"
    """When the storage fails: ``open`` lets requests through, ``closed`` answers 503,
    ``memory-fallback`` limits with this process's memory until the storage answers."""
    recheck_interval: float = Field(default=5.0, gt=0, le=3600)
    """Seconds between attempts to use a failed storage again."""
    key: Literal["ip", "api_key", "user"] = "ip"
    """What a limit counts per: client address, API key id or authenticated user."""
    exempt: list[str] = Field(default_factory=list)
    """Route patterns never limited."""
    exempt_clients: list[str] = Field(default_factory=list)
    """Client networks never limited (``10.0.0.0/8``)."""
    headers: Literal["all", "ietf", "x-ratelimit", "none"] = "all"
    """Which headers report the limit: IETF ``RateLimit``/``RateLimit-Policy``,
    ``X-RateLimit-*``, both or none."""
    namespace: str = Field(default="erp:ratelimit", min_length=1)
    slow_down: SlowDownConfig = Field(default_factory=SlowDownConfig)

    @field_validator("default")
    @classmethod
    def _default(cls, value: str | None) -> str | None:
        return None if value is None else _check_limits(value)

    @field_validator("routes")
    @classmethod
    def _routes(cls, value: dict[str, str]) -> dict[str, str]:
        for limit in value.values():
            _check_limits(limit)
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage(cls, value: str) -> str:
        if not value.startswith(_BACKENDS):
            raise ValueError(
                "storage_url must be memory:// or a redis://, rediss:// or unix:// URL"
            )
        return value

    @field_validator("exempt_clients")
    @classmethod
    def _clients(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value


class BodyRouteConfig(Section):
    """Body limits of one route (``security.body.routes``)."""

    max_bytes: int | None = Field(default=None, ge=0)
    content_types: list[str] | None = None
    json_max_depth: int | None = Field(default=None, ge=1)
    json_max_bytes: int | None = Field(default=None, ge=0)


class BodyConfig(Section):
    """Request body hygiene (``security.body``)."""

    max_bytes: int | None = Field(default=10 * 1024 * 1024, ge=0)
    """Largest request body; ``None`` for no limit. Larger bodies get 413."""
    content_types: list[str] = Field(default_factory=list)
    """Media types allowed for requests with a body (``application/json``); empty allows
    any. Others get 415."""
    json_max_depth: int | None = Field(default=64, ge=1)
    """Deepest nesting of a JSON body; deeper ones get 400."""
    json_max_bytes: int | None = Field(default=1024 * 1024, ge=0)
    """Largest JSON body (counted while reading); larger ones get 400."""
    routes: dict[str, BodyRouteConfig] = Field(default_factory=dict)


class ApiKeysConfig(Section):
    """API keys (``security.api_keys``)."""

    enabled: bool = False
    store_url: str = "memory://"
    """``memory://``, ``sqlite:///keys.db``, ``postgresql://…`` or ``redis://…``."""
    pepper: SecretStr | None = None
    """HMAC key of the stored hashes (at least 32 characters); required for a persistent
    store. Keep it out of the database."""
    prefix: str = Field(default="erp", pattern=r"^[a-z][a-z0-9]{1,15}$")
    header: str = "X-API-Key"
    """Header carrying the key (``Authorization: Bearer <key>`` is read too)."""
    required: bool = False
    """Reject requests without a valid key everywhere except ``exempt`` routes."""
    exempt: list[str] = Field(default_factory=list)
    routes: dict[str, list[str]] = Field(default_factory=dict)
    """Route patterns that require a key with these scopes: ``{"/admin/*": ["admin"]}``."""
    table: str = Field(default="erp_api_keys", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    namespace: str = Field(default="erp:apikeys", min_length=1)

    @model_validator(mode="after")
    def _pepper(self) -> ApiKeysConfig:
        if self.pepper is not None and len(self.pepper.get_secret_value()) < 32:
            raise ValueError("api_keys.pepper must be at least 32 characters")
        if self.enabled and self.pepper is None and not self.store_url.startswith("memory://"):
            raise ValueError("api_keys.pepper is required with a persistent store_url")
        return self


class CorsConfig(Section):
    """Cross-origin resource sharing (``security.cors``); off until origins are listed."""

    allow_origins: list[str] = Field(default_factory=list)
    allow_credentials: bool = False
    allow_methods: list[str] = Field(
        default_factory=lambda: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    )
    allow_headers: list[str] = Field(default_factory=list)
    expose_headers: list[str] = Field(default_factory=list)
    max_age: int = Field(default=600, ge=0, le=86400)
    """Seconds browsers may cache a preflight answer."""

    @field_validator("allow_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [o if o == "*" else _check_origin(o) for o in value]

    @field_validator("allow_headers", "expose_headers")
    @classmethod
    def _headers(cls, value: list[str]) -> list[str]:
        return _check_header_names(value)

    @model_validator(mode="after")
    def _credentials(self) -> CorsConfig:
        if self.allow_credentials and "*" in self.allow_origins:
            raise ValueError(
                "cors.allow_credentials cannot be used with the '*' origin: list the origins"
            )
        return self


InjectionTarget = Literal["path", "query", "headers"]


def _default_targets() -> list[InjectionTarget]:
    return ["path", "query"]


def _default_kinds() -> list[Literal["sql", "xss"]]:
    return ["sql", "xss"]


class InjectionConfig(Section):
    """The SQL-injection / XSS pattern detector (``security.injection``)."""

    enabled: bool = False
    mode: Literal["report", "block"] = "report"
    """``report`` logs and counts; ``block`` answers 400."""
    kinds: list[Literal["sql", "xss"]] = Field(default_factory=lambda: _default_kinds())
    check: list[InjectionTarget] = Field(default_factory=lambda: _default_targets())
    """What to scan: ``path``, ``query`` (names and values) and ``headers`` (all but
    cookies and credentials). Bodies are not scanned: validate them in the app."""
    exempt: list[str] = Field(default_factory=list)


class SecurityConfig(Section):
    """Settings of the security capability."""

    enabled: bool = True
    headers: HeadersConfig = Field(default_factory=HeadersConfig)
    csp: CspConfig = Field(default_factory=CspConfig)
    csrf: CsrfConfig = Field(default_factory=CsrfConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    body: BodyConfig = Field(default_factory=BodyConfig)
    api_keys: ApiKeysConfig = Field(default_factory=ApiKeysConfig)
    cors: CorsConfig = Field(default_factory=CorsConfig)
    injection: InjectionConfig = Field(default_factory=InjectionConfig)
