"""MurmurHash3 x86 32-bit, as Unleash uses it to place users in rollouts and variants.

``mmh3`` (a C extension) is used when installed; the pure-Python version gives the same
results and keeps the capability working without it.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["murmur3_32", "murmur3_32_pure"]

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


def _select() -> Callable[[str, int], int]:
    try:
        import mmh3
    except ImportError:
        return murmur3_32_pure

    mmh3_hash = mmh3.hash

    def fast(data: str, seed: int = 0) -> int:
        return int(mmh3_hash(data, seed, signed=False))

    return fast


murmur3_32: Callable[[str, int], int] = _select()
