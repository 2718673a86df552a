"""Reading Unleash context fields from a plain mapping, with snake_case aliases."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

__all__ = ["ALIASES", "Context", "Getter", "getter", "parse_time", "text"]

Context = Mapping[str, object]
Getter = Callable[[Context], "str | None"]

ALIASES = {
    "userId": "user_id",
    "sessionId": "session_id",
    "remoteAddress": "remote_address",
    "currentTime": "current_time",
    "appName": "app_name",
}
ALIASES.update({v: k for k, v in list(ALIASES.items())})


def text(value: object) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def getter(field: str, fallback: str | None = None) -> Getter:
    """A function reading ``field`` from a context: top level, its alias, then properties,
    then ``fallback`` (the instance's static context).

    Only None counts as missing: an empty string is a value, as in Unleash's engine.
    """
    alias = ALIASES.get(field)

    def get(ctx: Context) -> str | None:
        value = ctx.get(field)
        if value is None:
            if alias is not None:
                value = ctx.get(alias)
            if value is None:
                props = ctx.get("properties")
                if props is None:
                    return None
                if props.__class__ is not dict and not isinstance(props, Mapping):
                    return None
                value = props.get(field)
                if value is None:
                    return None
        if value.__class__ is str:
            return value
        return text(value)

    if fallback is None:
        return get

    def get_or_static(ctx: Context) -> str | None:
        value = get(ctx)
        return fallback if value is None else value

    return get_or_static


def parse_time(value: object) -> datetime | None:
    """A timezone-aware datetime from a datetime or an ISO 8601 date-time text (a date
    alone is not enough); None when invalid."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or len(value) < 16:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
