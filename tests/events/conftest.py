"""Backends for the event store contract: memory, SQLite (tmp_path) and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@dataclass(frozen=True)
class Target:
    kind: str
    url: str
    prefix: str


def drop_pg_tables(url: str, prefix: str, extra: tuple[str, ...] = ()) -> None:
    import psycopg

    names = [f"{prefix}{n}" for n in ("events", "streams", "snapshots", "checkpoints")]
    names.extend(extra)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS " + ", ".join(names) + " CASCADE")
        conn.execute(f"DROP SEQUENCE IF EXISTS {prefix}events_position")


def make_target(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Target:
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    if kind == "memory":
        return Target(kind, f"memory://{uuid.uuid4().hex}", prefix)
    if kind == "sqlite":
        return Target(kind, f"sqlite:///{tmp_path / 'events.db'}", prefix)
    url = request.getfixturevalue("postgres_url")
    return Target(kind, url, prefix)


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    t = make_target(request.param, tmp_path, request)
    yield t
    if t.kind == "postgres":
        drop_pg_tables(t.url, t.prefix, (f"{t.prefix}proj",))


@pytest.fixture
def store(target: Target) -> Iterator[object]:
    from erp_professional.events import EventStore

    s = EventStore(target.url, table_prefix=target.prefix)
    yield s
    s.close()
