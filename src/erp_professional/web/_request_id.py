"""The request id concern: accept a well-formed incoming id or make one, and echo it."""

from __future__ import annotations

import random
import re
from typing import ClassVar

from ._concern import Concern
from ._exchange import Exchange
from ._headers import ResponseHeaders

_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}").fullmatch
WSGI_KEY = "erp_professional.request_id"


def new_request_id() -> str:
    """A fresh 128-bit random request id as 32 hex characters.

    Ids must be unique, not secret: like OpenTelemetry's trace ids they come from the
    ``random`` module, which Python reseeds in every forked worker.
    """
    return random.getrandbits(128).to_bytes(16).hex()


def is_valid_request_id(value: str) -> bool:
    """True for 1–128 characters of ``[A-Za-z0-9._:-]``."""
    return _VALID(value) is not None


class RequestIdConcern(Concern):
    """Accepts an incoming id only if it is ≤ 128 chars of ``[A-Za-z0-9._:-]``, else makes one.

    The id is on the exchange, in ``current_request_id()``, in the ASGI scope's ``state``
    (``request.state.request_id`` in Starlette/FastAPI) or the WSGI environ
    (``erp_professional.request_id``), and echoed on the response.
    """

    name: ClassVar[str] = "request_id"
    order: ClassVar[int] = 0

    def __init__(self, header: str = "X-Request-ID", trust_incoming: bool = True) -> None:
        self.header = header
        self.trust_incoming = trust_incoming

    def on_request(self, exchange: Exchange) -> None:
        incoming = exchange.headers.get(self.header) if self.trust_incoming else None
        request_id = incoming if incoming is not None and _VALID(incoming) else new_request_id()
        exchange.request_id = request_id
        if exchange.kind == "asgi":
            state = exchange.raw.get("state")
            if state is None:
                exchange.raw["state"] = {"request_id": request_id}
            else:
                state["request_id"] = request_id
        else:
            exchange.raw[WSGI_KEY] = request_id

    def on_response(self, exchange: Exchange, headers: ResponseHeaders) -> None:
        if exchange.request_id:
            headers.set(self.header, exchange.request_id)
