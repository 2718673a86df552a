"""HTTP security: headers, CSP, CSRF, body limits, rate limits, API keys, input hygiene, CORS.

Every piece is a concern of the request lifecycle (one implementation for ASGI and WSGI),
switched on by ``integrate()`` from ``config.security`` and usable on its own.
"""

from ._body import BodyGuard, BodyLimits, BodyLimitsConcern, json_depth_exceeds
from ._csp import HELMET_CSP, ContentSecurityPolicy, CspError, parse_directives
from ._csrf import CsrfConcern, CsrfProtection, CsrfTokens, csrf_token
from ._headers import (
    LEAKY_HEADERS,
    OWASP_CLEAR_SITE_DATA,
    PRESETS,
    HeaderPreset,
    HeadersConcern,
    SecurityHeaders,
    csp_nonce,
)
from ._routes import RoutePattern, RouteTable

__all__ = [
    "HELMET_CSP",
    "LEAKY_HEADERS",
    "OWASP_CLEAR_SITE_DATA",
    "PRESETS",
    "BodyGuard",
    "BodyLimits",
    "BodyLimitsConcern",
    "ContentSecurityPolicy",
    "CspError",
    "CsrfConcern",
    "CsrfProtection",
    "CsrfTokens",
    "HeaderPreset",
    "HeadersConcern",
    "RoutePattern",
    "RouteTable",
    "SecurityHeaders",
    "csp_nonce",
    "csrf_token",
    "json_depth_exceeds",
    "parse_directives",
]
