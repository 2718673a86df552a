"""Case-insensitive header views over the raw ASGI and WSGI representations.

Nothing is decoded until a concern asks for it: the ASGI views scan the raw byte pairs and
the WSGI views read the environ, so an untouched header costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

_KEYS: dict[str, bytes] = {}


def _key(name: str) -> bytes:
    """The lowercased latin-1 bytes of a header name (cached: names come from code)."""
    key = _KEYS.get(name)
    if key is None:
        key = name.lower().encode("latin-1")
        if len(_KEYS) < 1024:
            _KEYS[name] = key
    return key


class RequestHeaders:
    """Read-only request headers; :meth:`get` returns the first value."""

    __slots__ = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        raise TypeError("abstract")  # pragma: no cover

    def getall(self, name: str) -> list[str]:
        raise TypeError("abstract")  # pragma: no cover

    def items(self) -> Iterator[tuple[str, str]]:
        raise TypeError("abstract")  # pragma: no cover

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.items())!r})"


class AsgiRequestHeaders(RequestHeaders):
    """Request headers of an ASGI scope, whose names the ASGI spec requires lowercased."""

    __slots__ = ("raw",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        key = _key(name)
        for k, v in self.raw:
            if k == key:
                return v.decode("latin-1")
        return default

    def getall(self, name: str) -> list[str]:
        key = _key(name)
        return [v.decode("latin-1") for k, v in self.raw if k == key]

    def items(self) -> Iterator[tuple[str, str]]:
        for k, v in self.raw:
            yield k.decode("latin-1").lower(), v.decode("latin-1")


_WSGI_SPECIAL = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


class WsgiRequestHeaders(RequestHeaders):
    __slots__ = ("environ",)

    def __init__(self, environ: MutableMapping[str, Any]) -> None:
        self.environ = environ

    @staticmethod
    def _key(name: str) -> str:
        lowered = name.lower()
        special = _WSGI_SPECIAL.get(lowered)
        return special if special else "HTTP_" + lowered.upper().replace("-", "_")

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(self._key(name))
        return (
            default if value is None or (value == "" and name.lower() in _WSGI_SPECIAL) else value
        )

    def getall(self, name: str) -> list[str]:
        value = self.get(name)
        return [] if value is None else [value]

    def items(self) -> Iterator[tuple[str, str]]:
        for key, value in self.environ.items():
            if key.startswith("HTTP_"):
                yield key[5:].replace("_", "-").lower(), value
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                yield key.replace("_", "-").lower(), value


class ResponseHeaders:
    """Mutable response headers handed to concerns when the response starts."""

    __slots__ = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        raise TypeError("abstract")  # pragma: no cover

    def set(self, name: str, value: str) -> None:
        """Replace every header called ``name`` with one of ``value``."""
        raise TypeError("abstract")  # pragma: no cover

    def add(self, name: str, value: str) -> None:
        raise TypeError("abstract")  # pragma: no cover

    def remove(self, name: str) -> None:
        raise TypeError("abstract")  # pragma: no cover

    def items(self) -> Iterator[tuple[str, str]]:
        raise TypeError("abstract")  # pragma: no cover

    def setdefault(self, name: str, value: str) -> str:
        current = self.get(name)
        if current is None:
            self.add(name, value)
            return value
        return current

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.items())!r})"


def _same(k: bytes, key: bytes) -> bool:
    """Case-insensitive name match; apps may send response header names in any case."""
    return k == key or (len(k) == len(key) and k.lower() == key)


class AsgiResponseHeaders(ResponseHeaders):
    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        key = _key(name)
        for k, v in self.raw:
            if _same(k, key):
                return bytes(v).decode("latin-1")
        return default

    def set(self, name: str, value: str) -> None:
        key = _key(name)
        raw = self.raw
        size = len(key)
        for k, _ in raw:
            if k == key or (len(k) == size and k.lower() == key):
                raw[:] = [item for item in raw if not _same(item[0], key)]
                break
        raw.append((key, value.encode("latin-1")))

    def add(self, name: str, value: str) -> None:
        self.raw.append((_key(name), value.encode("latin-1")))

    def remove(self, name: str) -> None:
        key = _key(name)
        self.raw[:] = [item for item in self.raw if not _same(item[0], key)]

    def items(self) -> Iterator[tuple[str, str]]:
        for k, v in self.raw:
            yield bytes(k).decode("latin-1"), bytes(v).decode("latin-1")


class WsgiResponseHeaders(ResponseHeaders):
    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[str, str]]) -> None:
        self.raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.lower()
        for k, v in self.raw:
            if k.lower() == key:
                return v
        return default

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.raw.append((name, value))

    def add(self, name: str, value: str) -> None:
        self.raw.append((name, value))

    def remove(self, name: str) -> None:
        key = name.lower()
        self.raw[:] = [item for item in self.raw if item[0].lower() != key]

    def items(self) -> Iterator[tuple[str, str]]:
        yield from self.raw
