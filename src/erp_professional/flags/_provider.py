"""An OpenFeature provider serving :class:`FeatureFlags` (``openfeature-sdk``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._flags import FeatureFlags
from ._hooks import FlagChange
from ._types import EvaluationDetails, Reason

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import ErrorCode as OFErrorCode
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
    from openfeature.flag_evaluation import Reason as OFReason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError:  # pragma: no cover - exercised only without the extra
    from erp_professional.connections import MissingDependencyError

    raise MissingDependencyError("openfeature-sdk", "flags", "FeatureFlagsProvider") from None

if TYPE_CHECKING:
    from openfeature.hook import Hook

__all__ = ["FeatureFlagsProvider", "to_context"]

V = TypeVar("V")


def to_context(evaluation_context: EvaluationContext | None) -> Mapping[str, object]:
    """An Unleash-style context: the targeting key is the user id; attributes are fields.

    Fields are read at the top level before ``properties``, so attributes need no nesting.
    """
    if evaluation_context is None:
        return {}
    key = evaluation_context.targeting_key
    attributes = evaluation_context.attributes
    if key and "userId" not in attributes and "user_id" not in attributes:
        return {**attributes, "userId": key}
    return attributes


_METADATA = Metadata(name="erp_professional")
_REASONS = {reason: OFReason(reason.value) for reason in Reason}


class FeatureFlagsProvider(AbstractProvider):
    """Plug :class:`FeatureFlags` into OpenFeature::

        api.set_provider(FeatureFlagsProvider(flags))
        api.get_client().get_boolean_value("new-checkout", False, EvaluationContext("42"))

    Booleans are on/off; strings, numbers and objects come from the variant payload.
    Flag changes are emitted as PROVIDER_CONFIGURATION_CHANGED events.
    """

    def __init__(self, flags: FeatureFlags) -> None:
        super().__init__()
        self.flags = flags
        self._remove: Callable[[], None] | None = None

    def get_metadata(self) -> Metadata:
        return _METADATA

    def get_provider_hooks(self) -> list[Hook]:
        return []

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self.flags.start()
        self._remove = self.flags.on_change(self._changed)

    def shutdown(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None

    def _changed(self, change: FlagChange) -> None:
        self.emit_provider_configuration_changed(
            ProviderEventDetails(flags_changed=sorted(change.names))
        )

    def _resolve(
        self, key: str, default: V, evaluation_context: EvaluationContext | None
    ) -> FlagResolutionDetails[V]:
        details: EvaluationDetails[V] = self.flags.evaluate(
            key, to_context(evaluation_context), default
        )
        code = OFErrorCode(details.error_code.value) if details.error_code else None
        return FlagResolutionDetails(
            value=details.value,
            error_code=code,
            error_message=details.error_message,
            reason=_REASONS[details.reason],
            variant=details.variant,
            flag_metadata={"rule": details.rule} if details.rule else {},
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        resolved: FlagResolutionDetails[Any] = self._resolve(
            flag_key, default_value, evaluation_context
        )
        return resolved
