"""``FeatureFlags``: evaluation over an atomically swapped snapshot, changes through a store."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

from ._audit import EventRecorder, audit_to_event_store
from ._hooks import AuditRecord, Exposure, ExposureTracker, FlagChange, Hooks
from ._model import Flag, Segment
from ._parse import parse_document, parse_flag
from ._stores import FileStore, FlagStore, MemoryStore
from ._sync import StoreSync
from ._typed import typed_details
from ._types import (
    DISABLED_VARIANT,
    DISABLED_VARIANT_FEATURE_ON,
    ErrorCode,
    EvaluationDetails,
    Reason,
    Variant,
)
from ._unleash import apply_events

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from erp_professional.config import FlagsConfig

__all__ = ["ContextLike", "FeatureFlags"]

log = logging.getLogger("erp_professional.flags")
T = TypeVar("T")
ContextLike = Mapping[str, object] | None
_EMPTY: Final[Mapping[str, object]] = {}
_MISSING: Final = object()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _static(context: Mapping[str, str] | None) -> dict[str, str]:
    """The static context with Unleash and snake_case keys for each field."""
    from ._context import ALIASES

    out: dict[str, str] = {}
    for key, value in (context or {}).items():
        if not isinstance(value, str):
            raise TypeError(f"static_context[{key!r}] must be a string, got {value!r}")
        out[key] = value
        alias = ALIASES.get(key)
        if alias is not None:
            out.setdefault(alias, value)
    return out


class FeatureFlags(StoreSync):
    """Feature flags: rules, percentage rollouts, variants, overrides and time windows.

    Evaluation (:meth:`is_enabled`, :meth:`get_variant`, :meth:`evaluate`) is pure CPU over
    an immutable snapshot and never raises. Changes go through :meth:`set_flag`,
    :meth:`delete_flag` and :meth:`kill`, which write to the store, record an audit entry and
    notify :meth:`on_change` listeners. No thread is started by the constructor: a store that
    pushes changes (Redis) starts its listener at the first evaluation or :meth:`start` in
    each process, so forking servers are safe.
    """

    def __init__(
        self,
        flags: Iterable[Flag] | Mapping[str, Flag] | None = None,
        *,
        segments: Iterable[Segment] = (),
        store: FlagStore | None = None,
        bootstrap: str | os.PathLike[str] | None = None,
        poll_interval: float = 1.0,
        refresh_interval: float = 30.0,
        startup_timeout: float = 5.0,
        exposure_sample_rate: float = 1.0,
        actor: str = "system",
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        meter_provider: MeterProvider | None = None,
        static_context: Mapping[str, str] | None = None,
    ) -> None:
        for label, seconds in (
            ("poll_interval", poll_interval),
            ("refresh_interval", refresh_interval),
            ("startup_timeout", startup_timeout),
        ):
            if not seconds >= 0:
                raise ValueError(f"{label} must be a number of seconds >= 0, got {seconds!r}")
        self._clock = clock or _utcnow
        self.static_context: Mapping[str, str] = _static(static_context)
        self._rng = rng or random.Random()
        if flags is not None and store is not None:
            raise ValueError("give either flags or a store, not both")
        if store is None:
            initial = flags.values() if isinstance(flags, Mapping) else (flags or ())
            store = MemoryStore({f.name: f for f in initial}, {s.id: s for s in segments})
        self._store: FlagStore = store
        self.poll_interval = poll_interval
        self.refresh_interval = refresh_interval
        self.startup_timeout = startup_timeout
        self.actor = actor
        self._exposures = ExposureTracker(
            exposure_sample_rate, self._rng, self._clock, meter_provider
        )
        self._changes: Hooks[FlagChange] = Hooks("change")
        self._audits: Hooks[AuditRecord] = Hooks("audit")
        self._forced: dict[str, Variant] = {}
        self._init_sync(store, bootstrap)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_unleash(cls, state: Mapping[str, object], **options: object) -> FeatureFlags:
        """Flags from an Unleash ``/client/features`` document (features and segments), or
        from a delta-API document (``{"events": [...]}``, applied in order)."""
        if "events" in state and "features" not in state:
            flags, segments, _ = apply_events({}, {}, state)
        else:
            flags, segments = parse_document(state, strict=False)
        return cls(flags, segments=segments.values(), **options)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, document: Mapping[str, object], **options: object) -> FeatureFlags:
        """Flags from our document shape ``{"flags": {name: spec}, "segments": [...]}``."""
        flags, segments = parse_document(document)
        return cls(flags, segments=segments.values(), **options)  # type: ignore[arg-type]

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **options: object) -> FeatureFlags:
        """Flags from a JSON, YAML or TOML file, reloaded when it changes."""
        return cls(store=FileStore(path), **options)  # type: ignore[arg-type]

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "erp_pro:flags", **options: object
    ) -> FeatureFlags:
        """Flags from ``memory://``, ``redis://...`` or ``file:///path`` (by scheme)."""
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme == "memory":
            return cls(**options)  # type: ignore[arg-type]
        if scheme == "file":
            return cls.from_file(url.split("://", 1)[1], **options)
        from ._redis import RedisStore

        return cls(store=RedisStore(url, prefix=prefix), **options)  # type: ignore[arg-type]

    @classmethod
    def from_config(cls, config: FlagsConfig | None = None, **options: object) -> FeatureFlags:
        """Flags configured by a :class:`FlagsConfig` (``ProfessionalConfig().flags``)."""
        if config is None:
            from erp_professional.config import FlagsConfig

            config = FlagsConfig()
        settings: dict[str, object] = {
            "bootstrap": config.bootstrap_file,
            "poll_interval": config.poll_interval,
            "refresh_interval": config.refresh_interval,
            "startup_timeout": config.startup_timeout,
            "exposure_sample_rate": config.exposure_sample_rate,
            "actor": config.actor,
            "static_context": config.static_context,
        }
        settings.update(options)
        if config.file is not None:
            flags = cls.from_file(config.file, **settings)
        else:
            flags = cls.from_url(config.url, prefix=config.redis_prefix, **settings)
        if config.audit_events_url is not None:
            from erp_professional.events import EventStore

            flags.record_audit_in(EventStore(config.audit_events_url))
        return flags

    def __enter__(self) -> FeatureFlags:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ evaluation
    def is_enabled(self, name: str, context: ContextLike = None, default: bool = False) -> bool:
        """Whether ``name`` is on for ``context``; ``default`` when unknown or not ready."""
        if self._needs_tick and time.monotonic() >= self._next_tick:
            self._tick()
        if self._forced and name in self._forced:
            return self._forced[name].feature_enabled
        snapshot = self._snapshot
        flag = snapshot.flags.get(name)
        if flag is None:
            if not snapshot.ready:
                self._log_not_ready(name)
            return default
        try:
            fast = flag.fast
            if fast is not None:
                return fast(_EMPTY if context is None else context)
            return snapshot.decide(flag, _EMPTY if context is None else context).enabled
        except Exception:
            log.warning("flag %r: evaluation failed, serving the default", name, exc_info=True)
            return default

    def get_variant(self, name: str, context: ContextLike = None) -> Variant:
        """The variant of ``name`` for ``context`` (``disabled`` when off or unknown)."""
        if self._needs_tick and time.monotonic() >= self._next_tick:
            self._tick()
        if self._forced and name in self._forced:
            return self._forced[name]
        snapshot = self._snapshot
        flag = snapshot.flags.get(name)
        if flag is None:
            if not snapshot.ready:
                self._log_not_ready(name)
            return DISABLED_VARIANT
        ctx = _EMPTY if context is None else context
        try:
            variant = snapshot.variant_for(flag, snapshot.decide(flag, ctx), ctx)[0]
        except Exception:
            log.warning("flag %r: evaluation failed, serving disabled", name, exc_info=True)
            return DISABLED_VARIANT
        if flag.has_variants:
            self._exposures.record(name, variant.name, variant.feature_enabled, ctx)
        return variant

    @overload
    def evaluate(self, name: str, context: ContextLike = None) -> EvaluationDetails[bool]: ...

    @overload
    def evaluate(self, name: str, context: ContextLike, default: T) -> EvaluationDetails[T]: ...

    def evaluate(
        self, name: str, context: ContextLike = None, default: object = False
    ) -> EvaluationDetails[Any]:
        """Value, variant, reason, error code and matching rule of one evaluation.

        A bool ``default`` evaluates on/off; a str, number, dict or list ``default`` returns
        the variant's payload of that type (TYPE_MISMATCH otherwise).
        """
        if self._needs_tick and time.monotonic() >= self._next_tick:
            self._tick()
        forced = self._forced.get(name) if self._forced else None
        if forced is not None:
            return typed_details(
                name, default, forced, forced.feature_enabled, Reason.STATIC, "override", None
            )
        snapshot = self._snapshot
        if not snapshot.ready:
            self._log_not_ready(name)
            return EvaluationDetails(
                name,
                default,
                None,
                Reason.DEFAULT,
                ErrorCode.PROVIDER_NOT_READY,
                "flags are not ready: serving the default",
            )
        raw: object = context
        if raw is not None and not isinstance(raw, Mapping):
            return EvaluationDetails(
                name,
                default,
                None,
                Reason.ERROR,
                ErrorCode.INVALID_CONTEXT,
                f"context must be a mapping, got {type(raw).__name__}",
            )
        flag = snapshot.flags.get(name)
        if flag is None:
            return EvaluationDetails(
                name,
                default,
                None,
                Reason.ERROR,
                ErrorCode.FLAG_NOT_FOUND,
                f"flag {name!r} not found",
            )
        ctx = _EMPTY if context is None else context
        try:
            decision = snapshot.decide(flag, ctx)
            variant, how = snapshot.variant_for(flag, decision, ctx)
        except Exception as err:
            log.warning("flag %r: evaluation failed, serving the default", name, exc_info=True)
            return EvaluationDetails(name, default, None, Reason.ERROR, ErrorCode.GENERAL, str(err))
        if flag.has_variants:
            self._exposures.record(name, variant.name, variant.feature_enabled, ctx)
        return typed_details(
            name, default, variant, decision.enabled, decision.reason, decision.rule, how
        )

    # ------------------------------------------------------------------ definitions
    def get_flag(self, name: str) -> Flag | None:
        """The definition of ``name`` being served, or None."""
        return self._snapshot.definitions.get(name)

    def list_flags(self) -> list[Flag]:
        """Every flag being served, sorted by name."""
        definitions = self._snapshot.definitions
        return [definitions[n] for n in sorted(definitions)]

    @property
    def segments(self) -> Mapping[int, Segment]:
        return dict(self._snapshot.segments)

    def set_flag(
        self,
        flag: Flag | str,
        spec: Mapping[str, object] | None = None,
        *,
        actor: str | None = None,
        reason: str = "",
    ) -> Flag:
        """Create or replace a flag (a :class:`Flag`, or a name and a spec mapping)."""
        if isinstance(flag, str):
            flag = parse_flag(flag, spec if spec is not None else {})
        elif spec is not None:
            raise TypeError("spec is only used with a flag name")
        with self._lock:
            before = self._snapshot.definitions.get(flag.name)
            version = self._store.put(flag)
            self._reload(raise_errors=True)
        self._audit("set", flag.name, actor, before, flag, reason, version)
        return flag

    def delete_flag(self, name: str, *, actor: str | None = None, reason: str = "") -> bool:
        """Remove a flag; True when it existed."""
        with self._lock:
            before = self._snapshot.definitions.get(name)
            version = self._store.delete(name)
            self._reload(raise_errors=True)
        self._audit("delete", name, actor, before, None, reason, version)
        return before is not None

    def kill(self, name: str, *, actor: str | None = None, reason: str = "") -> Flag:
        """Kill switch: turn ``name`` off for everyone, whatever its rules say."""
        with self._lock:
            self._reload(raise_errors=True)  # the store's current definition, not ours
            before = self._snapshot.definitions.get(name)
            if before is None:
                raise KeyError(f"flag {name!r} not found")
            after = replace(before, enabled=False)
            version = self._store.put(after)
            self._reload(raise_errors=True)
        self._audit("kill", name, actor, before, after, reason, version)
        return after

    def apply_unleash_events(
        self,
        events: Iterable[Mapping[str, object]] | Mapping[str, object],
        *,
        actor: str | None = None,
    ) -> int:
        """Apply Unleash delta-API events in order, all or nothing; returns how many."""
        with self._lock:
            self._reload(raise_errors=True)  # apply to the store's current flags
            current = self._snapshot
            flags, segments, count = apply_events(current.definitions, current.segments, events)
            version = self._store.replace(flags, segments)
            self._reload(raise_errors=True)
        self._audit("unleash-events", "*", actor, None, None, f"{count} events", version)
        return count

    # ------------------------------------------------------------------ hooks
    def on_change(self, callback: Callable[[FlagChange], None]) -> Callable[[], None]:
        """Call ``callback`` when flag definitions change; returns a remover."""
        return self._changes.add(callback)

    def on_audit(self, callback: Callable[[AuditRecord], None]) -> Callable[[], None]:
        """Call ``callback`` with each :class:`AuditRecord` (e.g. to store it as an event)."""
        return self._audits.add(callback)

    def record_audit_in(self, store: EventRecorder) -> Callable[[], None]:
        """Append every audit record to an event store (stream ``flag-<name>``)."""
        return self.on_audit(audit_to_event_store(store))

    def on_exposure(self, callback: Callable[[Exposure], None]) -> Callable[[], None]:
        """Call ``callback`` with each sampled :class:`Exposure`."""
        return self._exposures.hooks.add(callback)

    @contextmanager
    def override(
        self, name: str, value: bool | str | Variant = True, payload: object = None
    ) -> Iterator[None]:
        """Force ``name`` inside the block (tests): True/False, or a variant name."""
        if isinstance(value, Variant):
            forced = value
        elif value is True:
            forced = DISABLED_VARIANT_FEATURE_ON
        elif value is False:
            forced = DISABLED_VARIANT
        else:
            from ._parse import _payload

            forced = Variant(str(value), True, True, _payload(payload, "payload"))
        previous = self._forced.get(name, _MISSING)
        self._forced = {**self._forced, name: forced}
        try:
            yield
        finally:
            remaining = dict(self._forced)
            if previous is _MISSING:
                remaining.pop(name, None)
            else:
                remaining[name] = previous  # type: ignore[assignment]
            self._forced = remaining

    def _audit(
        self,
        action: str,
        name: str,
        actor: str | None,
        before: Flag | None,
        after: Flag | None,
        reason: str,
        version: int,
    ) -> None:
        record = AuditRecord(
            action=action,
            flag=name,
            actor=actor or self.actor,
            at=self._clock(),
            before=before.to_dict() if before is not None else None,
            after=after.to_dict() if after is not None else None,
            reason=reason,
            version=version,
        )
        log.info(
            "flag %s: %s by %s%s",
            name,
            action,
            record.actor,
            f" ({reason})" if reason else "",
            extra={"flags_audit": record.to_dict()},
        )
        self._audits.emit(record)
