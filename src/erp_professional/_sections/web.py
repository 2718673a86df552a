from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator

from ._base import Section


class WebConfig(Section):
    """The request lifecycle shared by the ASGI and WSGI drivers."""

    prefix: str = "/_pro"
    request_id_header: str = "X-Request-ID"
    trust_incoming_request_id: bool = True
    trusted_proxies: list[str] = Field(default_factory=list)
    show_tracebacks: bool | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith("/") or not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError("must be a path such as '/_pro' (a leading '/', no query)")
        return value

    @field_validator("request_id_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9-]+", value):
            raise ValueError("must be an HTTP header name")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value
