from __future__ import annotations

import argparse
import json
import sys
import time
import types
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from erp_professional.config import ResilienceConfig
from erp_professional.resilience import CircuitBreaker, configure
from erp_professional.resilience._cli import register


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


@pytest.fixture
def module_with_breaker() -> Iterator[str]:
    name = f"breaker_cli_{uuid.uuid4().hex[:8]}"
    module = types.ModuleType(name)
    module.breaker = CircuitBreaker(f"{name}.gateway")  # type: ignore[attr-defined]
    module.breaker.force_open()  # type: ignore[attr-defined]
    sys.modules[name] = module
    yield name
    del sys.modules[name]


def test_lists_breakers_of_a_module(
    module_with_breaker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["breakers", "--app", module_with_breaker]) == 0
    assert f"{module_with_breaker}.gateway [process]: forced_open" in capsys.readouterr().out
    assert run(["breakers", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"name": f"{module_with_breaker}.gateway", "state": "forced_open"}.items() <= next(
        row for row in rows if row["name"] == f"{module_with_breaker}.gateway"
    ).items()


def test_bad_module_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["breakers", "--app", "no_such_module_xyz"]) == 2
    assert "cannot import" in capsys.readouterr().err


def test_lists_shared_states(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = urlunsplit(urlsplit(redis_url)._replace(path="/12"))
    namespace = f"erp-cli-{uuid.uuid4().hex[:8]}"
    previous = configure(ResilienceConfig(breaker_namespace=namespace))
    try:
        breaker = CircuitBreaker("inventory", shared_url=url, register=False)
        breaker.open()
        time.sleep(0.01)
        assert run(["breakers", "--store", url, "--namespace", namespace, "--json"]) == 0
        rows = [r for r in json.loads(capsys.readouterr().out) if r["source"] == "store"]
        assert rows[0]["name"] == "inventory"
        assert rows[0]["state"] == "open"
        assert 50 < rows[0]["remaining"] <= 60
    finally:
        configure(previous)
        client = redis.Redis.from_url(url)
        client.delete(f"{namespace}:breaker:inventory")
        client.close()
    down = "redis://127.0.0.1:1/0?socket_connect_timeout=0.2"
    assert run(["breakers", "--store", down]) == 1
    assert "cannot read the breaker store" in capsys.readouterr().err
