"""Process-wide defaults for the resilience capability, set from :class:`ResilienceConfig`."""

from __future__ import annotations

from erp_professional.config import ResilienceConfig

__all__ = ["configure", "settings"]

_current = ResilienceConfig()


def settings() -> ResilienceConfig:
    return _current


def configure(config: ResilienceConfig) -> ResilienceConfig:
    """Use ``config`` for breakers created from now on; returns the previous settings."""
    global _current
    if not isinstance(config, ResilienceConfig):
        raise TypeError(f"expected ResilienceConfig, got {type(config).__name__}")
    previous = _current
    _current = config
    return previous
