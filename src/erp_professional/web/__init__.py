"""The request lifecycle: the exchange, concerns, the ASGI and WSGI drivers, problem+json."""

from ._asgi import AsgiDriver, LifespanHooks
from ._concern import Concern, Endpoint, EndpointHandler, ErrorReporter, Pipeline
from ._exchange import Exchange, current_exchange, current_request_id
from ._headers import RequestHeaders, ResponseHeaders
from ._problem import (
    PROBLEM_CONTENT_TYPE,
    HTTPProblem,
    RequestBodyTooLarge,
    Response,
    problem,
    problem_for_exception,
)
from ._proxy import TrustedProxies
from ._request_id import RequestIdConcern, is_valid_request_id, new_request_id
from ._wsgi import WsgiDriver

__all__ = [
    "AsgiDriver",
    "Concern",
    "Endpoint",
    "EndpointHandler",
    "ErrorReporter",
    "Exchange",
    "HTTPProblem",
    "LifespanHooks",
    "PROBLEM_CONTENT_TYPE",
    "Pipeline",
    "RequestBodyTooLarge",
    "RequestHeaders",
    "RequestIdConcern",
    "Response",
    "ResponseHeaders",
    "TrustedProxies",
    "WsgiDriver",
    "current_exchange",
    "current_request_id",
    "is_valid_request_id",
    "new_request_id",
    "problem",
    "problem_for_exception",
]
