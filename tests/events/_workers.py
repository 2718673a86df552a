"""Writer processes for the concurrency tests (importable by spawned children)."""

from __future__ import annotations

from typing import Any

from erp_professional.events import ANY, EventStore, NewEvent, WrongExpectedVersion


def writer(url: str, prefix: str, worker: int, count: int, start: Any) -> int:
    """Append ``count`` times in three patterns; return the number of events written."""
    store = EventStore(url, table_prefix=prefix)
    start.wait(30)
    written = 0
    own = 0
    try:
        for i in range(count):
            kind = i % 3
            if kind == 0:
                store.append(f"shared-{i % 2}", [NewEvent("Shared", {"w": worker, "i": i})], ANY)
                written += 1
            elif kind == 1:
                events = [NewEvent("Own", {"w": worker, "i": i, "k": k}) for k in range(2)]
                own = store.append(f"own-{worker}", events, own).version
                written += 2
            else:
                while True:
                    version = store.stream_version("hot")
                    try:
                        store.append("hot", [NewEvent("Hot", {"w": worker, "i": i})], version)
                        break
                    except WrongExpectedVersion:
                        continue
                written += 1
    finally:
        store.close()
    return written
