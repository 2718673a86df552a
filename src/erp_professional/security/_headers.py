"""Security response headers: presets, CSP with nonces, HSTS on HTTPS only, leaky headers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

from ..web import Concern, Exchange, ResponseHeaders, current_exchange
from ._csp import HELMET_CSP, ContentSecurityPolicy, DirectiveValue
from ._routes import RouteTable
from ._util import BYTE_TYPES

__all__ = [
    "LEAKY_HEADERS",
    "OWASP_CLEAR_SITE_DATA",
    "PRESETS",
    "HeaderPreset",
    "HeadersConcern",
    "SecurityHeaders",
    "csp_nonce",
]

Preset = Literal["helmet", "api", "owasp", "off"]
NONCE_KEY = "csp_nonce"


class HeaderPreset:
    """A named set of response headers, its CSP directives and its HSTS value."""

    __slots__ = ("csp", "csp_separator", "headers", "hsts", "name")

    def __init__(
        self,
        name: str,
        headers: Sequence[tuple[str, str]],
        csp: Mapping[str, Sequence[str]] | None,
        hsts: str | None,
        csp_separator: str = ";",
    ) -> None:
        self.name = name
        self.headers = tuple(headers)
        self.csp = None if csp is None else {k: tuple(v) for k, v in csp.items()}
        self.hsts = hsts
        self.csp_separator = csp_separator


HELMET = HeaderPreset(
    "helmet",
    [
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Origin-Agent-Cluster", "?1"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-DNS-Prefetch-Control", "off"),
        ("X-Download-Options", "noopen"),
        ("X-Frame-Options", "SAMEORIGIN"),
        ("X-Permitted-Cross-Domain-Policies", "none"),
        ("X-XSS-Protection", "0"),
    ],
    HELMET_CSP,
    "max-age=31536000; includeSubDomains",
)
"""helmet 8's defaults (``Cross-Origin-Embedder-Policy`` is off there too)."""

API = HeaderPreset(
    "api",
    [
        ("Cache-Control", "no-store"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
    ],
    {"default-src": ("'none'",), "frame-ancestors": ("'none'",)},
    "max-age=31536000; includeSubDomains",
)
"""For JSON APIs: nothing may load or frame a response, and nothing is cached."""

OWASP_CLEAR_SITE_DATA = '"cache","cookies","storage"'
"""The OWASP recommended ``Clear-Site-Data`` value: send it on a logout route
(``headers.routes = {"/logout": {"Clear-Site-Data": OWASP_CLEAR_SITE_DATA}}``), never on
every response (it would wipe the session on each page)."""

OWASP = HeaderPreset(
    "owasp",
    [
        ("Cache-Control", "no-store, max-age=0"),
        ("Cross-Origin-Embedder-Policy", "require-corp"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        (
            "Permissions-Policy",
            "accelerometer=(), autoplay=(), camera=(), cross-origin-isolated=(), "
            "display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), "
            "gyroscope=(), keyboard-map=(), magnetometer=(), microphone=(), midi=(), "
            "payment=(), picture-in-picture=(), publickey-credentials-get=(), "
            "screen-wake-lock=(), sync-xhr=(self), usb=(), web-share=(), "
            "xr-spatial-tracking=(), clipboard-read=(), clipboard-write=(), gamepad=(), "
            "hid=(), idle-detection=(), interest-cohort=(), serial=(), unload=()",
        ),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-DNS-Prefetch-Control", "off"),
        ("X-Frame-Options", "deny"),
        ("X-Permitted-Cross-Domain-Policies", "none"),
    ],
    {
        "default-src": ("'self'",),
        "form-action": ("'self'",),
        "base-uri": ("'self'",),
        "object-src": ("'none'",),
        "frame-ancestors": ("'none'",),
        "upgrade-insecure-requests": (),
    },
    "max-age=63072000; includeSubDomains",
    csp_separator="; ",
)
"""The OWASP Secure Headers Project recommendation (``Clear-Site-Data`` aside)."""

OFF = HeaderPreset("off", [], None, None)

PRESETS: dict[str, HeaderPreset] = {p.name: p for p in (HELMET, API, OWASP, OFF)}

LEAKY_HEADERS: frozenset[str] = frozenset(
    {
        "$wsep",
        "host-header",
        "k-proxy-request",
        "liferay-portal",
        "oraclecommercecloud-version",
        "pega-host",
        "powered-by",
        "product",
        "server",
        "sourcemap",
        "x-aspnet-version",
        "x-aspnetmvc-version",
        "x-atmosphere-error",
        "x-atmosphere-first-request",
        "x-atmosphere-tracking-id",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-b3-spanid",
        "x-b3-traceid",
        "x-beserver",
        "x-backside-transport",
        "x-cf-powered-by",
        "x-cms",
        "x-calculatedbetarget",
        "x-cocoon-version",
        "x-content-encoded-by",
        "x-datadog-origin",
        "x-datadog-parent-id",
        "x-datadog-sampling-priority",
        "x-datadog-tags",
        "x-datadog-trace-id",
        "x-diaginfo",
        "x-envoy-attempt-count",
        "x-envoy-external-address",
        "x-envoy-internal",
        "x-envoy-original-dst-host",
        "x-envoy-upstream-service-time",
        "x-feserver",
        "x-framework",
        "x-generated-by",
        "x-generator",
        "x-gitlab-meta",
        "x-jitsi-release",
        "x-joomla-version",
        "x-kong-admin-latency",
        "x-kong-client-latency",
        "x-kong-proxy-latency",
        "x-kong-request-id",
        "x-kong-response-latency",
        "x-kong-third-party-latency",
        "x-kong-total-latency",
        "x-kong-upstream-latency",
        "x-kong-upstream-status",
        "x-kubernetes-pf-flowschema-ui",
        "x-kubernetes-pf-prioritylevel-uid",
        "x-litespeed-cache",
        "x-litespeed-purge",
        "x-litespeed-tag",
        "x-litespeed-vary",
        "x-litespeed-cache-control",
        "x-mod-pagespeed",
        "x-nextjs-cache",
        "x-nextjs-matched-path",
        "x-nextjs-page",
        "x-nextjs-redirect",
        "x-owa-version",
        "x-old-content-length",
        "x-oneagent-js-injection",
        "x-page-speed",
        "x-php-version",
        "x-powered-by",
        "x-powered-by-plesk",
        "x-powered-cms",
        "x-redirect-by",
        "x-server-powered-by",
        "x-sourcefiles",
        "x-sourcemap",
        "x-turbo-charged-by",
        "x-tyk-trace-id",
        "x-umbraco-version",
        "x-varnish-backend",
        "x-varnish-server",
        "x-woodpecker-version",
        "x-dtagentid",
        "x-dthealthcheck",
        "x-dtinjectedservlet",
        "x-ruxit-js-agent",
    }
)
"""``Server``, ``X-Powered-By`` and the OWASP Secure Headers Project's remove list."""


def csp_nonce(exchange: Exchange | None = None) -> str | None:
    """The CSP nonce of the current request (for ``<script nonce="…">`` in templates)."""
    ex = exchange if exchange is not None else current_exchange()
    if ex is None:
        return None
    value = ex.state.get(NONCE_KEY)
    if not isinstance(value, str):
        value = ContentSecurityPolicy.new_nonce()
        ex.state[NONCE_KEY] = value
    return value


class _RoutePolicy:
    __slots__ = ("csp", "headers")

    def __init__(self, headers: Mapping[str, str], csp: ContentSecurityPolicy | None) -> None:
        self.headers = {k: v for k, v in headers.items()}
        self.csp = csp


class SecurityHeaders:
    """The security-header part of a response: preset, CSP, HSTS and leaky-header removal.

    Usable on its own (``SecurityHeaders("api").apply(exchange, headers)``); the
    :class:`~erp_professional.security.HeadersConcern` runs it on every response.
    """

    def __init__(
        self,
        preset: Preset | HeaderPreset = "helmet",
        *,
        csp: bool | None = None,
        csp_directives: Mapping[str, DirectiveValue] | None = None,
        csp_use_defaults: bool = True,
        csp_report_only: bool = False,
        csp_nonce: bool = False,
        csp_routes: Mapping[str, Mapping[str, DirectiveValue]] | None = None,
        strip_leaky: bool = True,
        remove: Sequence[str] = (),
        set_headers: Mapping[str, str] | None = None,
        hsts_max_age: int | None = None,
        hsts_preload: bool = False,
        routes: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        chosen = PRESETS[preset] if isinstance(preset, str) else preset
        self.preset = chosen
        extra = dict(set_headers or {})
        headers = [(k, v) for k, v in chosen.headers if k.lower() not in _lower(extra)]
        headers += [(k, v) for k, v in extra.items() if v != ""]
        self.csp: ContentSecurityPolicy | None = None
        use_csp = (chosen.csp is not None) if csp is None else csp
        if use_csp:
            self.csp = ContentSecurityPolicy(
                csp_directives or {},
                use_defaults=csp_use_defaults,
                defaults=chosen.csp if chosen.csp is not None else HELMET_CSP,
                report_only=csp_report_only,
                nonce=csp_nonce,
                separator=chosen.csp_separator,
            )
        hsts = chosen.hsts
        if hsts_max_age is not None:
            hsts = f"max-age={hsts_max_age}; includeSubDomains"
        if hsts is not None and hsts_preload and "preload" not in hsts:
            hsts += "; preload"
        lowered_extra = _lower(extra)
        if "strict-transport-security" in lowered_extra:
            hsts = lowered_extra["strict-transport-security"] or None
            headers = [(k, v) for k, v in headers if k.lower() != "strict-transport-security"]
        self.hsts = hsts
        self.headers: tuple[tuple[str, str], ...] = tuple(headers)
        self._names = frozenset(k.lower() for k, _ in headers)
        strip = set(LEAKY_HEADERS) if strip_leaky else set()
        strip.update(h.lower() for h in remove)
        strip.update(
            k.lower()
            for k, v in extra.items()
            if v == "" and k.lower() != "strict-transport-security"
        )
        self.strip: frozenset[str] = frozenset(strip)
        route_policies: dict[str, _RoutePolicy] = {}
        for pattern, changes in (routes or {}).items():
            route_policies[pattern] = _RoutePolicy(changes, None)
        for pattern, directives in (csp_routes or {}).items():
            base = self.csp or ContentSecurityPolicy(
                {}, defaults=HELMET_CSP, report_only=csp_report_only, nonce=csp_nonce
            )
            policy = route_policies.setdefault(pattern, _RoutePolicy({}, None))
            policy.csp = base.with_changes(directives)
        self.routes: RouteTable[_RoutePolicy] = RouteTable(route_policies)
        self.uses_nonce = bool(self.csp is not None and self.csp.nonce) or any(
            p.csp is not None and p.csp.nonce for p in route_policies.values()
        )
        self._encodings()

    @staticmethod
    def nonce_for(exchange: Exchange) -> str:
        nonce = csp_nonce(exchange)
        assert nonce is not None
        return nonce

    def _encodings(self) -> None:
        def table(encode: Callable[[str], Any], lower_names: bool) -> _Encoded:
            return _Encoded(
                frozenset(encode(s) for s in self.strip),
                tuple(
                    (encode(k.lower()), encode(k.lower() if lower_names else k), encode(v))
                    for k, v in self.headers
                ),
                None if self.csp is None else encode(self.csp.header_name.lower()),
                None
                if self.csp is None or self.csp.nonce
                else (
                    encode(self.csp.header_name.lower() if lower_names else self.csp.header_name),
                    encode(self.csp.static),
                ),
                None
                if self.hsts is None
                else (
                    encode(
                        "strict-transport-security" if lower_names else "Strict-Transport-Security"
                    ),
                    encode(self.hsts),
                ),
            )

        self._bytes = table(lambda s: s.encode("latin-1"), True)
        self._str = table(lambda s: s, False)

    def apply(self, exchange: Exchange, headers: ResponseHeaders) -> None:
        """Change ``headers`` of the response to ``exchange``."""
        route = self.routes.lookup(exchange) if self.routes else None
        raw = getattr(headers, "raw", None)
        if route is None and type(raw) is list:
            binary = isinstance(raw[0][0], BYTE_TYPES) if raw else exchange.kind == "asgi"
            self._apply_raw(exchange, raw, self._bytes if binary else self._str, binary)
            return
        self._apply_generic(exchange, headers, route)

    def _apply_raw(self, exchange: Exchange, raw: list[Any], enc: _Encoded, binary: bool) -> None:
        """The same changes made directly on the driver's header list (the common case)."""
        present = {item[0].lower() for item in raw}
        strip = enc.strip
        if not present.isdisjoint(strip):
            raw[:] = [item for item in raw if item[0].lower() not in strip]
            present -= strip
        if present.isdisjoint(enc.fixed_keys):  # the usual case: the app set none of them
            raw.extend(enc.fixed_items)
        else:
            for key, name, value in enc.preset:
                if key not in present:
                    raw.append((name, value))
            if enc.csp_static is not None and enc.csp_key not in present:
                raw.append(enc.csp_static)
        csp = self.csp
        if csp is not None and enc.csp_static is None and enc.csp_key not in present:
            value = csp.render(self.nonce_for(exchange))  # a fresh nonce per response
            name = csp.header_name.lower() if binary else csp.header_name
            raw.append(
                (name.encode("latin-1"), value.encode("latin-1")) if binary else (name, value)
            )
        hsts = enc.hsts
        if hsts is not None and enc.hsts_key not in present and exchange.is_secure:
            raw.append(hsts)

    def _apply_generic(
        self, exchange: Exchange, headers: ResponseHeaders, route: _RoutePolicy | None
    ) -> None:
        present: set[str] = set()
        strip = self.strip
        doomed: list[str] = []
        for name, _ in headers.items():
            lowered = name.lower()
            present.add(lowered)
            if lowered in strip:
                doomed.append(name)
        for name in doomed:
            headers.remove(name)
            present.discard(name.lower())
        for name, value in self.headers:
            if name.lower() not in present:
                headers.add(name, value)
        csp = self.csp
        if route is not None and route.csp is not None:
            csp = route.csp
        if csp is not None and csp.header_name.lower() not in present:
            headers.add(
                csp.header_name, csp.render(self.nonce_for(exchange) if csp.nonce else None)
            )
        if (
            self.hsts is not None
            and "strict-transport-security" not in present
            and exchange.is_secure
        ):
            headers.add("Strict-Transport-Security", self.hsts)
        if route is not None:
            for name, value in route.headers.items():
                if value == "":
                    headers.remove(name)
                else:
                    headers.set(name, value)


class _Encoded:
    """Header names and values pre-encoded for one representation (bytes or str)."""

    __slots__ = (
        "csp_key",
        "csp_static",
        "fixed_items",
        "fixed_keys",
        "hsts",
        "hsts_key",
        "preset",
        "strip",
    )

    def __init__(
        self,
        strip: frozenset[Any],
        preset: tuple[tuple[Any, Any, Any], ...],
        csp_key: Any,
        csp_static: tuple[Any, Any] | None,
        hsts: tuple[Any, Any] | None,
    ) -> None:
        self.strip = strip
        self.preset = preset
        self.csp_key = csp_key
        self.csp_static = csp_static
        self.hsts = hsts
        self.hsts_key = None if hsts is None else hsts[0].lower()
        # The preset and a nonce-free CSP: added in one step when the app set none of them.
        items = [(name, value) for _, name, value in preset]
        keys = {key for key, _, _ in preset}
        if csp_static is not None:
            items.append(csp_static)
            keys.add(csp_key)
        self.fixed_items = tuple(items)
        self.fixed_keys = frozenset(keys)


def _lower(mapping: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in mapping.items()}


class HeadersConcern(Concern):
    """Applies :class:`SecurityHeaders` to every response: the app's, rejections, errors."""

    name: ClassVar[str] = "security.headers"
    order: ClassVar[int] = 40

    def __init__(self, headers: SecurityHeaders | None = None) -> None:
        self.headers = headers or SecurityHeaders()

    def on_response(self, exchange: Exchange, headers: ResponseHeaders) -> None:
        self.headers.apply(exchange, headers)
