"""Where flag definitions live: memory, a file (hot reload), or Redis (see ``_redis``)."""

from __future__ import annotations

import json
import os
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ._model import Flag, FlagDefinitionError, Segment
from ._parse import parse_document

__all__ = [
    "FileStore",
    "FlagStore",
    "Loaded",
    "MemoryStore",
    "ReadOnlyStoreError",
    "load_file",
]


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a store holds: flags, segments and a version that grows with every change."""

    flags: Mapping[str, Flag]
    segments: Mapping[int, Segment]
    version: int


class ReadOnlyStoreError(RuntimeError):
    """The store cannot be changed through the API (a file store: edit the file)."""


@runtime_checkable
class FlagStore(Protocol):
    """The small protocol every store implements.

    ``watches`` is True for stores that push changes (``watch`` blocks, calling ``notify``
    for each change and at least every ``resync`` seconds); ``poll`` is the cheap check of a
    store that is polled instead (True when the source changed since the last ``load``).
    """

    watches: bool

    def load(self) -> Loaded: ...

    def put(self, flag: Flag) -> int: ...

    def delete(self, name: str) -> int: ...

    def replace(self, flags: Mapping[str, Flag], segments: Mapping[int, Segment]) -> int: ...

    def poll(self) -> bool: ...

    def watch(self, notify: Callable[[], None], stop: threading.Event, resync: float) -> None: ...


class MemoryStore:
    """Flags in this process only; the default store."""

    watches = False

    def __init__(
        self,
        flags: Mapping[str, Flag] | None = None,
        segments: Mapping[int, Segment] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._flags = dict(flags or {})
        self._segments = dict(segments or {})
        self._version = 1

    def load(self) -> Loaded:
        with self._lock:
            return Loaded(dict(self._flags), dict(self._segments), self._version)

    def put(self, flag: Flag) -> int:
        with self._lock:
            self._flags[flag.name] = flag
            self._version += 1
            return self._version

    def delete(self, name: str) -> int:
        with self._lock:
            self._flags.pop(name, None)
            self._version += 1
            return self._version

    def replace(self, flags: Mapping[str, Flag], segments: Mapping[int, Segment]) -> int:
        with self._lock:
            self._flags = dict(flags)
            self._segments = dict(segments)
            self._version += 1
            return self._version

    def poll(self) -> bool:
        return False

    def watch(self, notify: Callable[[], None], stop: threading.Event, resync: float) -> None:
        raise TypeError("MemoryStore does not push changes")


def _import_yaml() -> object:
    try:
        import yaml
    except ImportError:
        from erp_professional.connections import MissingDependencyError

        raise MissingDependencyError("pyyaml", "flags", "YAML flag files") from None
    return yaml


def read_document(path: Path) -> object:
    """The parsed content of a JSON, YAML or TOML file; syntax errors name the file."""
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    try:
        if suffix == ".json":
            return json.loads(text)
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            _import_yaml()
            import yaml

            return yaml.safe_load(text)
    except (ValueError, tomllib.TOMLDecodeError) as err:
        raise FlagDefinitionError(None, "", f"invalid {suffix[1:]}: {err}", str(path)) from None
    except Exception as err:
        if type(err).__module__.startswith("yaml"):
            raise FlagDefinitionError(None, "", f"invalid yaml: {err}", str(path)) from None
        raise
    raise FlagDefinitionError(
        None, "", f"unsupported file type {suffix!r} (use .json, .yaml, .yml or .toml)", str(path)
    )


def load_file(path: str | os.PathLike[str]) -> tuple[dict[str, Flag], dict[int, Segment]]:
    """Flags and segments from a file; any error names the file, the flag and the field."""
    where = Path(path)
    document = read_document(where)
    try:
        return parse_document(document)
    except FlagDefinitionError as err:
        raise err.with_source(str(where)) from None


class FileStore:
    """Flags from a JSON, YAML or TOML file, reloaded when the file changes.

    The file is the source of truth: changes through the API are refused
    (:class:`ReadOnlyStoreError`). ``poll`` only stats the file.
    """

    watches = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int] | None = None
        self._version = 0

    def _signature(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_size

    def load(self) -> Loaded:
        signature = self._signature()
        if signature is None:
            raise FileNotFoundError(f"flag file not found: {self.path}")
        # remember what we tried, so a bad file is not re-read until it changes again
        self._seen = signature
        flags, segments = load_file(self.path)
        self._version += 1
        return Loaded(flags, segments, self._version)

    def poll(self) -> bool:
        return self._signature() != self._seen

    def _refuse(self) -> int:
        raise ReadOnlyStoreError(f"flags come from {self.path}: edit the file to change them")

    def put(self, flag: Flag) -> int:
        return self._refuse()

    def delete(self, name: str) -> int:
        return self._refuse()

    def replace(self, flags: Mapping[str, Flag], segments: Mapping[int, Segment]) -> int:
        return self._refuse()

    def watch(self, notify: Callable[[], None], stop: threading.Event, resync: float) -> None:
        raise TypeError("FileStore is polled, it does not push changes")
