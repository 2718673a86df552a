"""HTTP security: headers, CSP, CSRF, body limits, rate limits, API keys, input hygiene, CORS.

Every piece is a concern of the request lifecycle (one implementation for ASGI and WSGI),
switched on by ``integrate()`` from ``config.security`` and usable on its own.
"""

from ._apikey_concern import ApiKeyConcern, api_key, require_api_key
from ._apikey_stores import (
    AsyncPostgresKeyStore,
    AsyncRedisKeyStore,
    MemoryKeyStore,
    RedisKeyStore,
    SqlKeyStore,
    async_twin,
    open_store,
)
from ._apikeys import (
    ApiKey,
    ApiKeyError,
    ApiKeys,
    AsyncApiKeys,
    KeyStore,
    NewApiKey,
    generate_key,
    key_checksum_ok,
)
from ._body import BodyGuard, BodyLimits, BodyLimitsConcern, defer_body_check, json_depth_exceeds
from ._cors import CorsConcern
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
from ._injection import Finding, InjectionConcern, InjectionDetector, NoInjection, detect_injection
from ._ratelimit import AsyncRateLimiter, Decision, LimitState, RateLimiter, parse_limits
from ._routes import RoutePattern, RouteTable
from ._sanitize import SafeHtml, SafeText, normalize_text, sanitize_html
from ._throttle import (
    KeyFunc,
    RateLimitConcern,
    RateLimited,
    RouteLimit,
    SlowDown,
    key_by_api_key,
    key_by_ip,
    key_by_user,
    rate_limit,
)

__all__ = [
    "ApiKey",
    "ApiKeyConcern",
    "ApiKeyError",
    "ApiKeys",
    "AsyncApiKeys",
    "AsyncPostgresKeyStore",
    "AsyncRateLimiter",
    "AsyncRedisKeyStore",
    "BodyGuard",
    "BodyLimits",
    "BodyLimitsConcern",
    "ContentSecurityPolicy",
    "CorsConcern",
    "CspError",
    "CsrfConcern",
    "CsrfProtection",
    "CsrfTokens",
    "Decision",
    "Finding",
    "HELMET_CSP",
    "HeaderPreset",
    "HeadersConcern",
    "InjectionConcern",
    "InjectionDetector",
    "KeyFunc",
    "KeyStore",
    "LEAKY_HEADERS",
    "LimitState",
    "MemoryKeyStore",
    "NewApiKey",
    "NoInjection",
    "OWASP_CLEAR_SITE_DATA",
    "PRESETS",
    "RateLimitConcern",
    "RateLimited",
    "RateLimiter",
    "RedisKeyStore",
    "RouteLimit",
    "RoutePattern",
    "RouteTable",
    "SafeHtml",
    "SafeText",
    "SecurityHeaders",
    "SlowDown",
    "SqlKeyStore",
    "api_key",
    "async_twin",
    "csp_nonce",
    "csrf_token",
    "defer_body_check",
    "detect_injection",
    "generate_key",
    "json_depth_exceeds",
    "key_by_api_key",
    "key_by_ip",
    "key_by_user",
    "key_checksum_ok",
    "normalize_text",
    "open_store",
    "parse_directives",
    "parse_limits",
    "rate_limit",
    "require_api_key",
    "sanitize_html",
]
