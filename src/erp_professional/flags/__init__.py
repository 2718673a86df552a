"""Feature flags: rules, percentage rollouts, A/B variants, overrides and time windows.

Unleash-compatible evaluation over an immutable snapshot, stores in memory, in a file or in
Redis, and an OpenFeature provider::

    from erp_professional.flags import FeatureFlags

    flags = FeatureFlags.from_dict({"flags": {"new-checkout": {"rollout": 25}}})
    flags.is_enabled("new-checkout", {"userId": "42"})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._async import AsyncFeatureFlags
from ._flags import ContextLike, FeatureFlags
from ._hooks import AuditRecord, Exposure, FlagChange
from ._model import (
    Constraint,
    Dependency,
    Flag,
    FlagDefinitionError,
    Segment,
    Strategy,
    VariantDefinition,
    VariantOverride,
)
from ._parse import parse_document, parse_flag
from ._redis import RedisStore
from ._stores import FileStore, FlagStore, Loaded, MemoryStore, ReadOnlyStoreError, load_file
from ._strategies import normalized_value
from ._testing import FlagsBuilder
from ._types import ErrorCode, EvaluationDetails, Payload, Reason, State, Variant

if TYPE_CHECKING:
    from ._provider import FeatureFlagsProvider

__all__ = [
    "AsyncFeatureFlags",
    "AuditRecord",
    "Constraint",
    "ContextLike",
    "Dependency",
    "ErrorCode",
    "EvaluationDetails",
    "Exposure",
    "FeatureFlags",
    "FeatureFlagsProvider",
    "FileStore",
    "Flag",
    "FlagChange",
    "FlagDefinitionError",
    "FlagStore",
    "FlagsBuilder",
    "Loaded",
    "MemoryStore",
    "Payload",
    "ReadOnlyStoreError",
    "Reason",
    "RedisStore",
    "Segment",
    "State",
    "Strategy",
    "Variant",
    "VariantDefinition",
    "VariantOverride",
    "load_file",
    "normalized_value",
    "parse_document",
    "parse_flag",
]


def __getattr__(name: str) -> object:
    # the OpenFeature provider needs the ``flags`` extra: imported when first used
    if name == "FeatureFlagsProvider":
        from ._provider import FeatureFlagsProvider

        return FeatureFlagsProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
