"""MurmurHash3 x86 32-bit, as Unleash uses it to place users in rollouts and variants.

``mmh3`` (a C extension) is used when installed; the pure-Python version gives the same
results and keeps the capability working without it.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["murmur3_32", "murmur3_32_pure", "raw_hash"]

_MASK = 0xFFFFFFFF
_C1 = 0xCC9E2D51
_C2 = 0x1B873593


def murmur3_32_pure(data: str | bytes, seed: int = 0) -> int:
    """Unsigned MurmurHash3 x86 32 of ``data`` (UTF-8 for text) with ``seed``."""
    key = data.encode("utf-8") if isinstance(data, str) else data
    length = len(key)
    h = seed & _MASK
    end = length & ~3
    for i in range(0, end, 4):
        k = key[i] | (key[i + 1] << 8) | (key[i + 2] << 16) | (key[i + 3] << 24)
        k = (k * _C1) & _MASK
        k = ((k << 15) | (k >> 17)) & _MASK
        k = (k * _C2) & _MASK
        h ^= k
        h = ((h << 13) | (h >> 19)) & _MASK
        h = (h * 5 + 0xE6546B64) & _MASK
    tail = length & 3
    if tail:
        k = 0
        if tail == 3:
            k ^= key[end + 2] << 16
        if tail >= 2:
            k ^= key[end + 1] << 8
        k ^= key[end]
        k = (k * _C1) & _MASK
        k = ((k << 15) | (k >> 17)) & _MASK
        k = (k * _C2) & _MASK
        h ^= k
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


def _pure_raw(data: str, seed: int, signed: bool) -> int:
    value = murmur3_32_pure(data, seed)
    return value - (1 << 32) if signed and value >= 1 << 31 else value


def _select() -> Callable[[str, int, bool], int]:
    try:
        from mmh3 import hash as mmh3_hash
    except ImportError:
        return _pure_raw
    return mmh3_hash


# ``raw_hash(text, seed, False)``: unsigned MurmurHash3 x86 32, called positionally (fast path)
raw_hash: Callable[[str, int, bool], int] = _select()


def murmur3_32(data: str, seed: int = 0) -> int:
    """Unsigned MurmurHash3 x86 32 of the UTF-8 text ``data`` with ``seed``."""
    return raw_hash(data, seed, False)
