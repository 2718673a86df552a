from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from erp_professional.web._headers import AsgiRequestHeaders

NAMES = st.sampled_from([b"host", b"user-agent", b"content-length", b"x-request-id", b"accept"])
VALUES = st.binary(max_size=8)
PAIRS = st.lists(st.tuples(NAMES, VALUES), max_size=12)


def scanned(raw: list[tuple[bytes, bytes]], name: str) -> str | None:
    """The first value of ``name``, found the plain way."""
    key = name.lower().encode("latin-1")
    return next((bytes(v).decode("latin-1") for k, v in raw if bytes(k) == key), None)


@given(PAIRS, st.sampled_from(["list", "tuple", "lists", "bytearray"]))
def test_get_returns_the_first_value_of_a_name(
    pairs: list[tuple[bytes, bytes]], shape: str
) -> None:
    raw: object
    if shape == "tuple":
        raw = tuple(pairs)
    elif shape == "lists":  # ASGI allows [name, value] lists
        raw = [[k, v] for k, v in pairs]
    elif shape == "bytearray":  # a lax server's mutable bytes
        raw = [(bytearray(k), bytearray(v)) for k, v in pairs]
    else:
        raw = pairs
    headers = AsgiRequestHeaders(raw)  # type: ignore[arg-type]
    for name in ("Host", "user-agent", "Content-Length", "X-Request-Id", "accept", "absent"):
        assert headers.get(name) == scanned(pairs, name)
        assert headers.get(name, "default") == (
            "default" if scanned(pairs, name) is None else scanned(pairs, name)
        )
