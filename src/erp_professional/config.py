"""``ProfessionalConfig``: one validated model, a section per capability.

Values come from, highest priority first: keyword arguments, environment variables
(``ERP_PRO_`` prefix, ``__`` between nested names), a TOML file (``config=`` path or
``ERP_PRO_CONFIG_FILE``), then the defaults, which need nothing installed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ._sections.events import EventsConfig
from ._sections.flags import FlagsConfig
from ._sections.health import HealthConfig
from ._sections.observability import ObservabilityConfig
from ._sections.queue import QueueConfig
from ._sections.resilience import ResilienceConfig
from ._sections.security import SecurityConfig
from ._sections.service import ServiceConfig
from ._sections.web import WebConfig

__all__ = [
    "ConfigError",
    "EventsConfig",
    "FlagsConfig",
    "HealthConfig",
    "ObservabilityConfig",
    "ProfessionalConfig",
    "QueueConfig",
    "ResilienceConfig",
    "SecurityConfig",
    "ServiceConfig",
    "WebConfig",
    "load_config",
]

ENV_PREFIX = "ERP_PRO_"
_toml_path: ContextVar[Path | None] = ContextVar("erp_pro_toml_path", default=None)


class ConfigError(ValueError):
    """Invalid configuration: names each bad field with its value and the reason."""

    def __init__(self, problems: list[tuple[str, object, str]], source: str = "") -> None:
        self.problems = problems
        lines = [
            f"  {path or '<root>'} = {_show(value)!s}: {reason}" for path, value, reason in problems
        ]
        where = f" ({source})" if source else ""
        super().__init__(
            "invalid erp_professional configuration" + where + ":\n" + "\n".join(lines)
        )


def _show(value: object) -> str:
    if isinstance(value, SecretStr):
        return "**********"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _TomlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None:
            try:
                with path.open("rb") as handle:
                    data = tomllib.load(handle)
            except FileNotFoundError:
                raise ConfigError([("config file", str(path), "file not found")]) from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError([("config file", str(path), f"not valid TOML: {exc}")]) from None
            # Allow both a bare document and one nested under [tool.erp_professional].
            tool = data.get("tool", {})
            if isinstance(tool, dict) and "erp_professional" in tool:
                data = tool["erp_professional"]
            self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class ProfessionalConfig(BaseSettings):
    """Every setting of the toolkit. Build it with :func:`load_config` or keyword arguments."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    service: ServiceConfig = Field(default_factory=ServiceConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    resilience: ResilienceConfig = Field(default_factory=ResilienceConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    flags: FlagsConfig = Field(default_factory=FlagsConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _toml_path.get()
        if path is None and os.environ.get(ENV_PREFIX + "CONFIG_FILE"):
            path = Path(os.environ[ENV_PREFIX + "CONFIG_FILE"])
        return (init_settings, env_settings, _TomlSource(settings_cls, path))

    def masked(self) -> dict[str, Any]:
        """The effective configuration as JSON-ready data, secrets shown as ``**********``."""
        return self.model_dump(mode="json")


def _nest(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"security__rate_limit__default": "5/s"}`` -> nested dicts; dicts merge deeply."""
    result: dict[str, Any] = {}
    for key, value in overrides.items():
        parts = key.split("__")
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError([(key, value, f"{part!r} is not a section")])
            node = child
        leaf = parts[-1]
        if isinstance(value, Mapping) and isinstance(node.get(leaf), dict):
            node[leaf].update(value)
        else:
            node[leaf] = dict(value) if isinstance(value, Mapping) else value
    return result


def load_config(
    config: ProfessionalConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> ProfessionalConfig:
    """Build the effective configuration, failing with one :class:`ConfigError` naming each field.

    ``config`` is a ready :class:`ProfessionalConfig` (overrides are applied on a copy),
    a TOML file path, a mapping of sections, or ``None`` (environment and defaults).
    """
    if isinstance(config, ProfessionalConfig):
        if not overrides:
            return config
        data = config.model_dump()
        _deep_update(data, _nest(overrides))
        return _validate(data, None, "keyword arguments")
    if isinstance(config, Mapping):
        data = _nest(dict(config))
        _deep_update(data, _nest(overrides))
        return _validate(data, None, "arguments")
    path = Path(config) if config is not None else None
    return _validate(_nest(overrides), path, str(path) if path else "")


def _deep_update(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def _validate(data: dict[str, Any], path: Path | None, source: str) -> ProfessionalConfig:
    token = _toml_path.set(path)
    try:
        return ProfessionalConfig(**data)
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in err["loc"]), err.get("input"), err["msg"])
            for err in exc.errors()
        ]
        raise ConfigError(problems, source) from None
    finally:
        _toml_path.reset(token)
