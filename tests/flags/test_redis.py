"""Redis store against a real Redis: sharing, pub/sub, re-sync, start-up states, forks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib

from erp_professional.flags import FeatureFlags, Flag, Reason, RedisStore, State, Strategy
from erp_professional.flags._types import ErrorCode

from .conftest import PREFIX


def _eventually(check: Callable[[], bool], timeout: float = 3.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.005)
    raise AssertionError(f"condition not met within {timeout}s")


def _store(url: str) -> RedisStore:
    return RedisStore(url, prefix=PREFIX[url])


def _flags(url: str, **options: object) -> FeatureFlags:
    return FeatureFlags(store=_store(url), **options)  # type: ignore[arg-type]


def test_not_ready_until_loaded_and_no_thread_in_constructor(url: str) -> None:
    writer = _flags(url)
    assert writer.start(timeout=2) is State.READY
    writer.set_flag("a", {})
    before = _flag_threads()
    reader = _flags(url)
    assert reader.state is State.NOT_READY
    assert _flag_threads() <= before
    details = reader.evaluate("a")
    assert (details.value, details.reason, details.error_code) == (
        False,
        Reason.DEFAULT,
        ErrorCode.PROVIDER_NOT_READY,
    )
    # the first evaluation started the listener lazily
    assert reader.wait_ready(2)
    assert reader.state is State.READY
    assert reader.is_enabled("a")
    writer.close()
    reader.close()


def test_change_visible_in_other_instance_within_1s(url: str) -> None:
    a, b = _flags(url), _flags(url)
    assert a.start(2) is State.READY and b.start(2) is State.READY
    a.set_flag("x", {"enabled": True})
    assert _eventually(lambda: b.is_enabled("x")) < 1.0
    a.kill("x", actor="oncall")
    assert _eventually(lambda: not b.is_enabled("x")) < 1.0
    a.delete_flag("x")
    assert _eventually(lambda: b.get_flag("x") is None) < 1.0
    a.close()
    b.close()


def test_missed_message_heals_by_resync(url: str) -> None:
    flags = _flags(url, refresh_interval=0.2)
    assert flags.start(2) is State.READY
    store = _store(url)
    client = redis_lib.Redis.from_url(url)
    # a write that publishes nothing, as if the message was lost
    client.hset(store.flags_key, "silent", json.dumps(Flag("silent").to_dict()))
    client.incr(store.version_key)
    _eventually(lambda: flags.is_enabled("silent"), timeout=2.0)
    client.close()
    flags.close()


def test_subscriber_connection_killed_recovers(url: str) -> None:
    a, b = _flags(url), _flags(url)
    assert a.start(2) is State.READY and b.start(2) is State.READY
    client = redis_lib.Redis.from_url(url)
    assert client.client_kill_filter(_type="pubsub") >= 1
    a.set_flag("after-kill", {})
    _eventually(lambda: b.is_enabled("after-kill"), timeout=5.0)
    _eventually(lambda: b.state is State.READY)
    client.close()
    a.close()
    b.close()


def test_unreachable_redis_error_then_defaults(caplog: pytest.LogCaptureFixture) -> None:
    flags = FeatureFlags(store=RedisStore("redis://127.0.0.1:1/0"))
    assert flags.start(timeout=0.3) is State.ERROR
    assert flags.is_enabled("a", default=True) is True
    assert flags.evaluate("a", None, "d").value == "d"
    assert "serving defaults" in caplog.text
    flags.close()


def test_bootstrap_served_while_store_unreachable(tmp_path: Path) -> None:
    boot = tmp_path / "boot.yaml"
    boot.write_text("flags:\n  a: {}\n")
    flags = FeatureFlags(store=RedisStore("redis://127.0.0.1:1/0"), bootstrap=boot)
    assert flags.state is State.STALE
    assert flags.start(timeout=0.2) is State.STALE
    assert flags.is_enabled("a")
    assert flags.evaluate("a").reason is Reason.STATIC
    flags.close()


def test_bad_entry_in_redis_keeps_snapshot(url: str) -> None:
    flags = _flags(url)
    assert flags.start(2) is State.READY
    flags.set_flag("good", {})
    client = redis_lib.Redis.from_url(url)
    store = _store(url)
    client.hset(store.flags_key, "broken", json.dumps({"name": "broken", "enabled": "maybe"}))
    client.publish(store.channel, "1")
    _eventually(lambda: flags.state is State.STALE)
    assert flags.is_enabled("good")
    assert "broken" in str(flags.last_error) and "enabled" in str(flags.last_error)
    client.hdel(store.flags_key, "broken")
    client.publish(store.channel, "2")
    _eventually(lambda: flags.state is State.READY)
    client.close()
    flags.close()


_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from erp_professional.flags import FeatureFlags, RedisStore
    url, prefix = sys.argv[1], sys.argv[2]
    flags = FeatureFlags(store=RedisStore(url, prefix=prefix))
    assert flags.start(5).value == "READY"
    sticky = [flags.is_enabled("half", {"userId": str(u)}) for u in range(2000)]
    variants = [flags.get_variant("ab", {"userId": str(u)}).name for u in range(2000)]
    print(json.dumps({"sticky": sticky, "variants": variants}), flush=True)
    deadline = time.time() + 5
    while time.time() < deadline:
        if flags.is_enabled("switch"):
            print(json.dumps({"seen": time.time()}), flush=True)
            break
        time.sleep(0.002)
    """
)


def test_other_process_sees_change_within_1s_and_same_buckets(url: str) -> None:
    flags = _flags(url)
    assert flags.start(2) is State.READY
    flags.set_flag(Flag("half", strategies=(Strategy("flexibleRollout", {"rollout": "50"}),)))
    flags.set_flag("ab", {"variants": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    flags.set_flag("switch", {"enabled": False})
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, PREFIX[url]], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        first = json.loads(child.stdout.readline())
        assert first["sticky"] == [
            flags.is_enabled("half", {"userId": str(u)}) for u in range(2000)
        ]
        assert first["variants"] == [
            flags.get_variant("ab", {"userId": str(u)}).name for u in range(2000)
        ]
        changed_at = time.time()
        flags.set_flag("switch", {"enabled": True})
        seen = json.loads(child.stdout.readline())["seen"]
        assert seen - changed_at < 1.0
        assert child.wait(10) == 0
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
        flags.close()


_FORK = textwrap.dedent(
    """
    import os, sys, time
    from erp_professional.flags import FeatureFlags, RedisStore
    url, prefix = sys.argv[1], sys.argv[2]
    flags = FeatureFlags(store=RedisStore(url, prefix=prefix))
    assert flags.start(5).value == "READY"
    assert flags._listener is not None and flags._listener.is_alive()
    pid = os.fork()
    if pid == 0:
        # the parent's listener thread does not exist here: a new one starts lazily
        ok = flags._listener is None
        flags.is_enabled("late")
        ok = ok and flags._listener is not None and flags._listener.is_alive()
        deadline = time.time() + 3
        while time.time() < deadline and not flags.is_enabled("late"):
            time.sleep(0.005)
        os._exit(0 if ok and flags.is_enabled("late") else 3)
    time.sleep(0.3)
    flags.set_flag("late", {})
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


def test_forked_child_starts_its_own_listener(url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _FORK, url, PREFIX[url]], timeout=20, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_health_check_follows_the_state(tmp_path: Path) -> None:
    from erp_professional.health import Status

    boot = tmp_path / "boot.yaml"
    boot.write_text("flags:\n  a: {}\n")
    stale = FeatureFlags(store=RedisStore("redis://127.0.0.1:1/0"), bootstrap=boot)
    assert stale.health_check().status is Status.WARN
    down = FeatureFlags(store=RedisStore("redis://127.0.0.1:1/0"))
    assert down.start(timeout=0.2) is State.ERROR
    failing = down.health_check()
    assert failing.status is Status.FAIL and "ERROR" in (failing.output or "")
    assert FeatureFlags().health_check().status is Status.PASS
    stale.close()
    down.close()


def test_random_changes_converge_across_instances(url: str) -> None:
    import random

    rng = random.Random(7)
    writers = [_flags(url), _flags(url)]
    reader = _flags(url)
    for flags in (*writers, reader):
        assert flags.start(2) is State.READY
    model: dict[str, bool] = {}
    for _ in range(40):
        writer = rng.choice(writers)
        name = rng.choice(["a", "b", "c", "d"])
        action = rng.random()
        if action < 0.6:
            enabled = rng.random() < 0.5
            writer.set_flag(name, {"enabled": enabled})
            model[name] = enabled
        elif action < 0.8:
            writer.delete_flag(name)
            model.pop(name, None)
        elif name in model:
            writer.kill(name)
            model[name] = False

    def converged() -> bool:
        return all(
            {f.name: f.enabled for f in flags.list_flags()} == model for flags in (*writers, reader)
        )

    _eventually(converged, timeout=3.0)
    for flags in (*writers, reader):
        flags.close()


def _flag_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "erp-pro-flags-listener"}
