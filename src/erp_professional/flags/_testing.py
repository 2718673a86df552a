"""An in-memory builder of :class:`FeatureFlags` for tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._model import Flag, Segment
from ._parse import parse_document, parse_flag

if TYPE_CHECKING:
    from ._flags import FeatureFlags

__all__ = ["FlagsBuilder"]


class FlagsBuilder:
    """Build in-memory flags step by step::

    flags = FlagsBuilder().on("a").off("b").rollout("c", 50).variants("d", "x", "y").build()
    """

    def __init__(self) -> None:
        self._flags: dict[str, Flag] = {}
        self._segments: dict[int, Segment] = {}

    def flag(self, name: str, **spec: object) -> FlagsBuilder:
        """Add a flag from a spec (the keys of a flag file)."""
        self._flags[name] = parse_flag(name, spec)
        return self

    def add(self, flag: Flag) -> FlagsBuilder:
        self._flags[flag.name] = flag
        return self

    def on(self, name: str) -> FlagsBuilder:
        return self.flag(name, enabled=True)

    def off(self, name: str) -> FlagsBuilder:
        return self.flag(name, enabled=False)

    def rollout(self, name: str, percent: float, stickiness: str = "default") -> FlagsBuilder:
        return self.flag(name, rollout=percent, stickiness=stickiness)

    def users(self, name: str, *user_ids: str) -> FlagsBuilder:
        return self.flag(name, users=list(user_ids))

    def variants(
        self, name: str, *names: str, payloads: Mapping[str, object] | None = None
    ) -> FlagsBuilder:
        payloads = payloads or {}
        return self.flag(
            name, variants=[{"name": n, "weight": 1, "payload": payloads.get(n)} for n in names]
        )

    def unleash(self, state: Mapping[str, object]) -> FlagsBuilder:
        """Add the features and segments of an Unleash document."""
        flags, segments = parse_document(state, strict=False)
        self._flags.update(flags)
        self._segments.update(segments)
        return self

    def build(self, **options: object) -> FeatureFlags:
        from ._flags import FeatureFlags

        return FeatureFlags(
            self._flags,
            segments=self._segments.values(),
            **options,  # type: ignore[arg-type]
        )
