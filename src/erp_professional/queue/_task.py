"""Task definitions: a function, its pydantic argument model and its job defaults."""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from ._errors import InvalidJobArguments
from ._limits import Limits
from ._model import JSON

_NO_LIMITS = Limits()

__all__ = ["TaskOptions", "TaskSpec", "dedup_key_for"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Defaults for the jobs of one task; ``None`` means the queue's configured default."""

    retries: int | None = None
    backoff: float | None = None
    timeout: float | None = None
    priority: int = 0
    unique: bool | float = False
    limits: Limits = _NO_LIMITS
    """Global limits across all workers (stored in the backend when a worker starts)."""


def _model_for(fn: Callable[..., object], name: str) -> type[BaseModel]:
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):
        hints = {}
    fields: dict[str, Any] = {}
    extra: typing.Literal["allow", "forbid"] = "forbid"
    for param in inspect.signature(fn).parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(f"task {name!r}: *{param.name} is not supported, use keywords")
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            extra = "allow"
            continue
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(f"task {name!r}: positional-only {param.name!r} is not supported")
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    config = ConfigDict(extra=extra, arbitrary_types_allowed=False)
    model: type[BaseModel] = create_model(
        "Args_" + "".join(c if c.isalnum() else "_" for c in name), __config__=config, **fields
    )
    return model


def _no_nan(value: object, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path}: {value!r} is not valid JSON")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nan(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_nan(item, f"{path}[{index}]")


_SCALAR = frozenset({type(None), bool, int, float, str})
_SIMPLE: dict[object, frozenset[type]] = {
    Any: _SCALAR,
    int: frozenset({int}),
    str: frozenset({str}),
    float: frozenset({float}),
    bool: frozenset({bool}),
    type(None): frozenset({type(None)}),
    None: frozenset({type(None)}),
}
_Field = tuple[str, frozenset[type], bool, object]


def _keeps(value: object, accepted: frozenset[type]) -> bool:
    kind = type(value)
    return kind in accepted and (kind is not float or math.isfinite(value))  # type: ignore[arg-type]


"""name, value types that validate unchanged, whether a default fills it, that default"""


def _unchanged(annotation: object) -> frozenset[type]:
    """The exact types whose values validate and dump to themselves under ``annotation``
    (empty when it is not a plain scalar, an ``Any`` or a union of those)."""
    simple = _SIMPLE.get(annotation)
    if simple is not None:
        return simple
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        parts = [_SIMPLE.get(arg) for arg in typing.get_args(annotation)]
        if all(part is not None for part in parts):
            return frozenset().union(*parts)  # type: ignore[arg-type]
    return frozenset()


_Plan = tuple[tuple[_Field, ...], frozenset[str], bool]


def _plan(model: type[BaseModel]) -> _Plan | None:
    """How to check arguments without pydantic when every value is a JSON scalar of a type
    its field takes as it is: the fields, their names, whether other names are allowed."""
    fields: list[_Field] = []
    for name, info in model.model_fields.items():
        if info.alias is not None or info.validation_alias is not None:
            return None
        accepted = _unchanged(info.annotation)
        # Defaults are not validated: one fills in as it is when it is a scalar its field
        # would keep unchanged (or None in a field that lists None); others need pydantic.
        default = None if info.is_required() else info.default
        fills = (
            not info.is_required()
            and info.default_factory is None
            and (
                type(default) in accepted
                or (default is None and type(None) in typing.get_args(info.annotation))
            )
        )
        fields.append((name, accepted, fills, default))
    names = frozenset(f[0] for f in fields)
    return tuple(fields), names, model.model_config.get("extra") == "allow"


class TaskSpec(Generic[P, R]):
    """A registered function and everything needed to validate and run its jobs."""

    def __init__(self, fn: Callable[P, R], name: str, options: TaskOptions) -> None:
        self.fn = fn
        self.name = name
        self.options = options
        self.is_async = inspect.iscoroutinefunction(fn)
        self.signature = inspect.signature(fn)
        self.model = _model_for(fn, name)
        self._plan = _plan(self.model)

    def bind(self, args: tuple[object, ...], kwargs: Mapping[str, object]) -> dict[str, object]:
        """Positional arguments to keywords, as the function's signature names them."""
        if not args:
            return dict(kwargs)
        try:
            bound = self.signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise InvalidJobArguments(self.name, [str(exc)]) from None
        return dict(bound.arguments)

    def validate(self, kwargs: Mapping[str, object]) -> dict[str, JSON]:
        """Check arguments against the annotations; return them as JSON values."""
        if self._plan is not None and type(kwargs) is dict:
            quick = self._quick(kwargs)
            if quick is not None:
                return quick
        if not isinstance(kwargs, Mapping):
            raise InvalidJobArguments(
                self.name, [f"expected a mapping, got {type(kwargs).__name__}"]
            )
        try:
            model = self.model.model_validate(dict(kwargs))
            data: dict[str, JSON] = model.model_dump(mode="json")
            _no_nan(data, "kwargs")
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
                for err in exc.errors()
            ]
            raise InvalidJobArguments(self.name, problems) from None
        except (TypeError, ValueError) as exc:
            raise InvalidJobArguments(self.name, [str(exc)]) from None
        return data

    def _quick(self, kwargs: dict[str, object]) -> dict[str, JSON] | None:
        """What pydantic would return, when every value is a JSON scalar its field keeps as
        it is (the common case, at a fraction of the cost); ``None``: ask pydantic, which
        also words the errors."""
        assert self._plan is not None
        fields, names, extra = self._plan
        out: dict[str, JSON] = {}
        given = 0
        for name, accepted, fills, default in fields:
            if name in kwargs:
                value = kwargs[name]
                if not _keeps(value, accepted):
                    return None
                out[name] = value  # type: ignore[assignment]
                given += 1
            elif fills:
                out[name] = default  # type: ignore[assignment]
            else:
                return None
        if given != len(kwargs):
            if not extra:
                return None
            for key, value in kwargs.items():
                if key not in names:
                    if type(key) is not str or not _keeps(value, _SCALAR):
                        return None
                    out[key] = value  # type: ignore[assignment]
        return out

    def arguments(self, kwargs: Mapping[str, JSON]) -> dict[str, object]:
        """Stored JSON arguments back to the Python values the function expects."""
        model = self.model.model_validate(dict(kwargs))
        values = {name: getattr(model, name) for name in type(model).model_fields}
        if model.model_extra:
            values.update(model.model_extra)
        return values


def dedup_key_for(task: str, kwargs: Mapping[str, JSON]) -> str:
    """Stable key of (task, arguments) for unique tasks."""
    canonical = json.dumps(kwargs, sort_keys=True, separators=(",", ":"))
    return task + ":" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
