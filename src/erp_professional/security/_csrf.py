"""CSRF protection: Fetch Metadata / Origin checks (Go 1.25 ``CrossOriginProtection``) and
an optional signed double-submit token bound to the session."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import io
import secrets
from collections.abc import Iterable
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from ..web import Concern, Exchange, Response, ResponseHeaders, current_exchange, problem
from ._routes import RouteSet
from ._util import add_vary, cookie, count, log, safe_for_log

__all__ = ["CsrfConcern", "CsrfProtection", "CsrfTokens", "csrf_token"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_KEY = "csrf_token"  # noqa: S105 - a state key, not a secret
_FORM_TYPE = "application/x-www-form-urlencoded"
_MAX_FORM = 1024 * 1024


@functools.lru_cache(maxsize=512)
def _netloc(origin: str) -> str | None:
    try:
        return urlsplit(origin).netloc
    except ValueError:
        return None


def _normalise_origin(origin: str) -> str:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{origin!r} is not an origin such as 'https://app.example.com'")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{origin!r} must be scheme://host[:port] with nothing after it")
    return f"{parts.scheme}://{parts.netloc}".lower()


class CsrfProtection:
    """The cross-origin check of Go 1.25's ``http.CrossOriginProtection``.

    * GET, HEAD and OPTIONS pass;
    * ``Sec-Fetch-Site: same-origin`` or ``none`` passes; any other value is rejected
      unless the request is exempt (trusted origin or bypass pattern);
    * without ``Sec-Fetch-Site``: no ``Origin`` passes (not a browser, or same-origin);
      an ``Origin`` whose host equals ``Host`` passes; others are rejected unless exempt.

    :meth:`check` returns ``None`` when the request may go on, else the reason.
    """

    def __init__(self, trusted_origins: Iterable[str] = (), bypass: Iterable[str] = ()) -> None:
        self.trusted = frozenset(_normalise_origin(o) for o in trusted_origins)
        self.bypass = RouteSet(bypass)

    def _exempt(self, exchange: Exchange, origin: str | None) -> bool:
        if origin is not None and origin.lower() in self.trusted:
            return True
        return bool(self.bypass) and self.bypass.matches(exchange)

    def check(self, exchange: Exchange) -> str | None:
        if exchange.method in SAFE_METHODS:
            return None
        headers = exchange.headers
        raw = getattr(headers, "raw", None)
        if type(raw) is list:
            # ASGI: lowercase byte names; one pass for the three fields, decoded only when
            # the request is not plainly same-origin.
            site = origin = host = None
            for name, value in raw:
                if name == b"sec-fetch-site":
                    if site is None:
                        site = value
                elif name == b"origin":
                    if origin is None:
                        origin = value
                elif name == b"host" and host is None:
                    host = value
            if site:
                if site == b"same-origin" or site == b"none":
                    return None
                return self._cross_site(exchange, site.decode("latin-1"), _text(origin))
            if not origin:
                return None
            if host is not None and _same_host_bytes(origin, host):
                return None
            return self._origin_differs(exchange, origin.decode("latin-1"))
        site_text = headers.get("sec-fetch-site")
        origin_text = headers.get("origin")
        if site_text:
            if site_text in ("same-origin", "none"):
                return None
            return self._cross_site(exchange, site_text, origin_text)
        if not origin_text:
            return None
        host_text = headers.get("host")
        if host_text is not None and _same_host(origin_text, host_text):
            return None
        return self._origin_differs(exchange, origin_text)

    def _cross_site(self, exchange: Exchange, site: str, origin: str | None) -> str | None:
        if self._exempt(exchange, origin):
            return None
        return f"cross-origin request (Sec-Fetch-Site: {safe_for_log(site, 40)})"

    def _origin_differs(self, exchange: Exchange, origin: str) -> str | None:
        if self._exempt(exchange, origin):
            return None
        return (
            "cross-origin request from a browser without Fetch Metadata (Origin differs from Host)"
        )


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _same_host(origin: str, host: str) -> bool:
    """Does the ``Origin`` header name the host (and port) of the ``Host`` header?"""
    origin_host = _netloc(origin)
    return origin_host is not None and origin_host == host


_SAME_HOST: dict[tuple[bytes, bytes], bool] = {}


def _same_host_bytes(origin: bytes, host: bytes) -> bool:
    """:func:`_same_host` on raw header values, remembered for the few pairs a site sees."""
    if type(origin) is not bytes or type(host) is not bytes:  # bytearray from a lax server
        origin, host = bytes(origin), bytes(host)
    key = (origin, host)
    same = _SAME_HOST.get(key)
    if same is None:
        same = _same_host(origin.decode("latin-1"), host.decode("latin-1"))
        if len(_SAME_HOST) < 256:
            _SAME_HOST[key] = same
    return same


class CsrfTokens:
    """Signed double-submit tokens: ``<random>.<HMAC(secret, session id, random)>``.

    The token lives in a cookie readable by the page and comes back in a header or a form
    field; it verifies only for the session it was made for.
    """

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < 16:
            raise ValueError("the CSRF secret must be at least 16 bytes")
        self._key = key

    def _mac(self, session: str, nonce: str) -> str:
        message = f"{len(session)}!{session}!{nonce}".encode("utf-8", "surrogatepass")
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, session: str) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._mac(session, nonce)}"

    def verify(self, token: str, session: str) -> bool:
        nonce, sep, mac = token.partition(".")
        if not sep or not nonce or not mac or len(token) > 200:
            return False
        return hmac.compare_digest(mac.encode(), self._mac(session, nonce).encode())


def csrf_token(exchange: Exchange | None = None) -> str | None:
    """The CSRF token to put in a form (``<input name="csrf_token" value="…">``)."""
    ex = exchange if exchange is not None else current_exchange()
    if ex is None:
        return None
    value = ex.state.get(TOKEN_KEY)
    return value if isinstance(value, str) else None


class CsrfConcern(Concern):
    """Rejects cross-site unsafe requests with a 403 problem (or only reports them)."""

    name: ClassVar[str] = "security.csrf"
    order: ClassVar[int] = 120

    def __init__(
        self,
        protection: CsrfProtection | None = None,
        *,
        report_only: bool = False,
        tokens: CsrfTokens | None = None,
        session_cookie: str = "session",
        cookie_name: str = "csrftoken",
        header_name: str = "X-CSRF-Token",
        field_name: str = "csrf_token",
        asgi_form_field: bool = False,
    ) -> None:
        self.protection = protection or CsrfProtection()
        self.asgi_form_field = asgi_form_field
        """Under ASGI, let :class:`BodyGuard` read the token from urlencoded forms (set by
        ``integrate()`` when the guard is in place)."""
        self.report_only = report_only
        self.tokens = tokens
        self.session_cookie = session_cookie
        self.cookie_name = cookie_name
        self.header_name = header_name
        self.field_name = field_name

    def _reject(self, exchange: Exchange, reason: str) -> Response | None:
        exchange.state["csrf_violation"] = reason
        count("csrf.rejected", report_only=self.report_only)
        log.warning(
            "CSRF %s: %s %s: %s",
            "report" if self.report_only else "rejected",
            exchange.method,
            safe_for_log(exchange.path),
            reason,
            extra={"request_id": exchange.request_id},
        )
        if self.report_only:
            return None
        return problem(
            403, reason, title="Cross-site request rejected", request_id=exchange.request_id
        )

    def on_request(self, exchange: Exchange) -> Response | None:
        reason = self.protection.check(exchange)
        if reason is not None:
            return self._reject(exchange, reason)
        tokens = self.tokens
        if tokens is None:
            return None
        session = cookie(exchange.headers, self.session_cookie)
        current = cookie(exchange.headers, self.cookie_name)
        if exchange.method in SAFE_METHODS:
            if current is not None and tokens.verify(current, session or ""):
                exchange.state[TOKEN_KEY] = current
            else:
                token = tokens.issue(session or "")
                exchange.state[TOKEN_KEY] = token
                exchange.state["csrf_set_cookie"] = token
            return None
        if session is None:
            return None  # no session cookie: nothing ambient for a forged request to use
        if self.protection.bypass and self.protection.bypass.matches(exchange):
            return None
        submitted = exchange.headers.get(self.header_name)
        if not submitted and self._is_form(exchange):
            if exchange.kind == "wsgi":
                submitted = self._form_token(exchange)
            elif self.asgi_form_field and current is not None:
                self._defer(exchange, tokens, session, current)
                return None
        return self._judge(exchange, tokens, session, current, submitted)

    def _judge(
        self,
        exchange: Exchange,
        tokens: CsrfTokens,
        session: str,
        current: str | None,
        submitted: str | None,
    ) -> Response | None:
        if not submitted or current is None:
            return self._reject(exchange, "missing CSRF token")
        if not hmac.compare_digest(submitted.encode(), current.encode()) or not tokens.verify(
            submitted, session
        ):
            return self._reject(exchange, "invalid CSRF token")
        exchange.state[TOKEN_KEY] = current
        return None

    @staticmethod
    def _is_form(exchange: Exchange) -> bool:
        ctype = exchange.headers.get("content-type") or ""
        return ctype.split(";")[0].strip().lower() == _FORM_TYPE

    def _field(self, body: bytes) -> str | None:
        values = parse_qs(body.decode("latin-1"), max_num_fields=1000).get(self.field_name)
        return values[0] if values else None

    def _defer(self, exchange: Exchange, tokens: CsrfTokens, session: str, current: str) -> None:
        from ._body import defer_body_check

        def check(body: bytes) -> Response | None:
            if len(body) > _MAX_FORM:
                return self._reject(exchange, "missing CSRF token")
            try:
                submitted = self._field(body)
            except ValueError:
                submitted = None
            return self._judge(exchange, tokens, session, current, submitted)

        defer_body_check(exchange, _MAX_FORM + 1, check)

    def _form_token(self, exchange: Exchange) -> str | None:
        """The token from an urlencoded form body (WSGI: read and put back for the app)."""
        environ = exchange.raw
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length <= 0 or length > _MAX_FORM:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            return self._field(body)
        except ValueError:
            return None

    def on_response(self, exchange: Exchange, headers: ResponseHeaders) -> None:
        if exchange.method not in SAFE_METHODS:
            add_vary(headers, ("Origin", "Sec-Fetch-Site"))
        if self.tokens is None:
            return
        add_vary(headers, ("Cookie",))
        token = exchange.state.get("csrf_set_cookie")
        if isinstance(token, str):
            secure = "; Secure" if exchange.is_secure else ""
            headers.add("Set-Cookie", f"{self.cookie_name}={token}; Path=/; SameSite=Lax{secure}")
