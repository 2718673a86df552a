"""erp_professional: the production layer for Python web services.

Every public name is importable from here; the capability behind it is imported the first
time the name is used, so ``import erp_professional`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .config import ProfessionalConfig
    from .hub import Professional, integrate

_EXPORTS: dict[str, str] = {
    "Professional": "erp_professional.hub",
    "ProfessionalConfig": "erp_professional.config",
    "integrate": "erp_professional.hub",
}

__all__ = [
    "Professional",
    "ProfessionalConfig",
    "__version__",
    "integrate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'erp_professional' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
