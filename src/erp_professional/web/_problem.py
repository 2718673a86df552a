"""RFC 9457 problem details (``application/problem+json``) and toolkit HTTP errors."""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"


@dataclass(slots=True)
class Response:
    """A complete response produced by the toolkit itself (a rejection or an endpoint)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def json(
        cls,
        data: object,
        status: int = 200,
        content_type: str = "application/json",
        headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        body = json.dumps(data, separators=(",", ":"), default=str).encode()
        return cls(status, [("content-type", content_type), *(headers or [])], body)

    @classmethod
    def text(
        cls, text: str, status: int = 200, headers: list[tuple[str, str]] | None = None
    ) -> Response:
        return cls(
            status, [("content-type", "text/plain; charset=utf-8"), *(headers or [])], text.encode()
        )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    type: str = "about:blank",
    instance: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    **extensions: Any,
) -> Response:
    """An ``application/problem+json`` response; extension members go in ``extensions``."""
    body: dict[str, Any] = {"type": type, "title": title or _title(status), "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return Response.json(body, status, PROBLEM_CONTENT_TYPE, headers)


class HTTPProblem(Exception):
    """Raise (or return) to answer with a problem document instead of running further.

    The drivers and framework integrations turn it into its problem+json response.
    """

    status: int = 400
    title: str | None = None
    type: str = "about:blank"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or _title(status or self.status))
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.detail = detail
        self.headers = headers or []
        self.extensions = extensions

    def to_response(self, request_id: str | None = None) -> Response:
        return problem(
            self.status,
            self.detail,
            title=self.title,
            type=self.type,
            headers=self.headers,
            request_id=request_id,
            **self.extensions,
        )


class RequestBodyTooLarge(HTTPProblem):
    """The request body exceeded the configured limit (413)."""

    status = 413
    title = "Content Too Large"


def problem_for_exception(
    exc: BaseException, request_id: str | None, show_traceback: bool = False
) -> Response:
    """The response for an exception that escaped the application."""
    if isinstance(exc, HTTPProblem):
        return exc.to_response(request_id)
    extensions: dict[str, Any] = {"request_id": request_id}
    if show_traceback:
        extensions["exception"] = f"{type(exc).__qualname__}: {exc}"
        extensions["traceback"] = traceback.format_exception(exc)
    return problem(
        500,
        "The server could not complete the request. Quote the request id when reporting it.",
        **extensions,
    )
