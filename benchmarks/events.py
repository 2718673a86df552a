"""Event store benchmark: erp_professional.events vs eventsourcing 9.5, same backends, one run.

    .venv/bin/python benchmarks/events.py                # 5 repeats, medians
    .venv/bin/python benchmarks/events.py --quick        # 3 repeats, smaller counts
    .venv/bin/python benchmarks/events.py --no-sqlite    # or --no-postgres

Both sides write one JSON payload of the same size per event and read back through their
global order (our ``read_all``; eventsourcing's ``select_notifications``). eventsourcing
is driven at its recorder level (the fastest path it offers, no aggregate overhead); ours
through the public ``EventStore`` (validation, metadata columns, idempotency included).
PostgreSQL figures need ERP_PRO_TEST_POSTGRES_URL (default postgres@127.0.0.1/test).

Concurrent PostgreSQL writers are separate processes, each with its own connection and
its own streams; they connect and warm up first, then start together, and the clock runs
from the first start to the last end. The same harness with 1 process gives the base of
the scaling figure, and with plain one-row INSERTs the machine's own ceiling.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Run as a script, this file's folder comes first on sys.path, where sibling benchmark
# files (e.g. queue.py) would shadow standard modules in spawned writer processes.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from erp_professional.config import EventsConfig  # noqa: E402
from erp_professional.events import EventStore, NewEvent  # noqa: E402

PG_URL = os.environ.get("ERP_PRO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PAYLOAD = {"sku": "WIDGET-42", "quantity": 3, "unit_price": "9.50", "note": "x" * 40}
TOPIC = "bench:LineAdded"


# -- eventsourcing side ------------------------------------------------------------------
def es_sqlite(path: str) -> Any:
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    recorder = SQLiteApplicationRecorder(SQLiteDatastore(path), events_table_name="es_events")
    recorder.create_table()
    return recorder


def es_postgres(table: str, pool_size: int = 1, create: bool = True) -> Any:
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    parts = urlsplit(PG_URL)
    datastore = PostgresDatastore(
        dbname=parts.path.lstrip("/"),
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or "",
        pool_size=pool_size,
    )
    recorder = PostgresApplicationRecorder(datastore, events_table_name=table)
    if create:  # its CREATE statements are not safe to run from several processes at once
        recorder.create_table()
    return recorder


def es_events(stream: uuid.UUID, first_version: int, count: int) -> list[Any]:
    from eventsourcing.persistence import StoredEvent

    # Serialised per event, as an application's mapper does before recording.
    return [
        StoredEvent(stream, first_version + i, TOPIC, json.dumps(PAYLOAD).encode())
        for i in range(count)
    ]


def es_single(recorder: Any, n: int, streams: int = 50) -> float:
    ids = [uuid.uuid4() for _ in range(streams)]
    versions = [0] * streams
    start = time.perf_counter()
    for i in range(n):
        k = i % streams
        versions[k] += 1
        recorder.insert_events(es_events(ids[k], versions[k], 1))
    return n / (time.perf_counter() - start)


def es_batches(recorder: Any, batches: int, size: int) -> float:
    start = time.perf_counter()
    for _ in range(batches):
        recorder.insert_events(es_events(uuid.uuid4(), 1, size))
    return batches * size / (time.perf_counter() - start)


def es_read(recorder: Any, page: int = 1000) -> float:
    start = time.perf_counter()
    total = 0
    position = 1
    while True:
        rows = recorder.select_notifications(position, page)
        if not rows:
            break
        for row in rows:
            json.loads(row.state)
        total += len(rows)
        position = rows[-1].id + 1
    return total / (time.perf_counter() - start)


# -- our side ----------------------------------------------------------------------------
def ours_single(store: EventStore, n: int, streams: int = 50) -> float:
    ids = [f"bench-{uuid.uuid4().hex}" for _ in range(streams)]
    versions = [0] * streams
    start = time.perf_counter()
    for i in range(n):
        k = i % streams
        store.append(ids[k], [NewEvent("LineAdded", PAYLOAD)], versions[k])
        versions[k] += 1
    return n / (time.perf_counter() - start)


def ours_batches(store: EventStore, batches: int, size: int) -> float:
    start = time.perf_counter()
    for _ in range(batches):
        events = [NewEvent("LineAdded", PAYLOAD) for _ in range(size)]
        store.append(f"batch-{uuid.uuid4().hex}", events, 0)
    return batches * size / (time.perf_counter() - start)


def ours_read(store: EventStore, page: int = 1000) -> float:
    start = time.perf_counter()
    total = 0
    position = 0
    while True:
        events = store.read_all(position, page)
        if not events:
            break
        for event in events:
            _ = event.data
        total += len(events)
        position = events[-1].position
    return total / (time.perf_counter() - start)


def sqlite_ceiling(path: str, batches: int, size: int) -> tuple[float, float]:
    """Plain ``sqlite3`` code on the store's own table: what SQLite itself gives on this
    machine for the batch and ``read_all`` lines. Rows are built before the clock starts
    and written with ``executemany`` (no event objects, no checks, no JSON encoding);
    reading fetches the columns an event needs and decodes each row's data, as
    ``event.data`` does."""
    import sqlite3

    from erp_professional.events._sqlite_support import schema

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(schema(""))
    data = json.dumps(PAYLOAD)
    now = time.time_ns() // 1000
    prepared = [
        [
            (NewEvent("LineAdded", PAYLOAD).id.bytes, stream, v, "LineAdded", data, 1, "{}", now)
            for v in range(1, size + 1)
        ]
        for stream in (f"batch-{uuid.uuid4().hex}" for _ in range(batches))
    ]
    insert = (
        "INSERT INTO events (id, stream_id, version, type, data, schema_version, headers,"
        " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    start = time.perf_counter()
    for rows in prepared:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
    written = batches * size / (time.perf_counter() - start)
    select = (
        "SELECT position, id, stream_id, version, type, data, recorded_at FROM events"
        " WHERE position > ? ORDER BY position LIMIT 1000"
    )
    loads = json.loads
    start = time.perf_counter()
    total = position = 0
    while True:
        count = 0
        for row in conn.execute(select, (position,)):
            loads(row[5])
            position = row[0]
            count += 1
        if not count:
            break
        total += count
    read = total / (time.perf_counter() - start)
    conn.close()
    return written, read


# -- PostgreSQL concurrent writers (separate processes) ---------------------------------
def _bare_inserts(conn: Any, table: str, n: int) -> None:
    for _ in range(n):
        conn.execute(f"INSERT INTO {table} (v) VALUES (%s)", ("x",))


def _writer(kind: str, table: str, n: int, ready: Any, results: Any) -> None:
    """One writer process: connect and warm up, wait for the others, time ``n`` appends.

    ``kind`` "bare" is the machine's ceiling: one-row INSERT commits into a plain table.
    """
    if kind == "ours":
        store = EventStore(PG_URL, table_prefix=table)
        ours_single(store, 20, streams=2)  # connection, prepared statements
        ready.wait(60)
        start = time.time()
        ours_single(store, n, streams=10)
        end = time.time()
        store.close()
    elif kind == "es":
        recorder = es_postgres(table, create=False)
        es_single(recorder, 20, streams=2)
        ready.wait(60)
        start = time.time()
        es_single(recorder, n, streams=10)
        end = time.time()
        recorder.datastore.close()
    else:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            _bare_inserts(conn, table, 20)
            ready.wait(60)
            start = time.time()
            _bare_inserts(conn, table, n)
            end = time.time()
    results.put((start, end))


def concurrent(kind: str, table: str, writers: int, n: int) -> float:
    """Total appends/s of ``writers`` processes, each on its own connection and streams.

    The clock runs from the first writer's start to the last writer's end, after every
    writer has connected and warmed up (process start-up and exit are not counted).
    """
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(writers + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(kind, table, n, ready, results)) for _ in range(writers)
    ]
    for p in procs:
        p.start()
    try:
        ready.wait(120)
        spans = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.kill()
    for p in procs:
        if p.exitcode != 0:
            raise RuntimeError(f"{kind} writer failed with exit code {p.exitcode}")
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return writers * n / elapsed


def drop_pg(prefix: str, es_tables: list[str]) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        names = [f"{prefix}{t}" for t in ("events", "streams", "snapshots", "checkpoints")]
        conn.execute("DROP TABLE IF EXISTS " + ", ".join(names + es_tables) + " CASCADE")


# -- driver ------------------------------------------------------------------------------
def report(name: str, unit: str, ours: list[float], peer: list[float]) -> None:
    o, p = statistics.median(ours), statistics.median(peer)
    print(
        f"{name}: ours={o:,.0f}{unit} peer(eventsourcing)={p:,.0f}{unit} "
        f"ratio={o / p:.2f} (ours/peer, higher is better; medians of {len(ours)})",
        flush=True,
    )


def paired(
    runs: int, ours: Callable[[], float], peer: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Alternate the two sides run by run, so that drift in machine load hits both."""
    mine: list[float] = []
    theirs: list[float] = []
    for _ in range(runs):
        mine.append(ours())
        theirs.append(peer())
    return mine, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, smaller counts")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    runs = 3 if args.quick else 5
    single_n = 1000 if args.quick else 2000
    durable_n = 100 if args.quick else 200
    batch_n = 10 if args.quick else 20
    pg_single = 300 if args.quick else 600
    pg_each = 300 if args.quick else 600

    import eventsourcing  # noqa: F401  (fail early with a clear error if missing)

    if not args.no_sqlite:
        sqlite_figures(runs, single_n, durable_n, batch_n)
    if not args.no_postgres:
        postgres_figures(runs, pg_single, batch_n, pg_each)


def sqlite_figures(runs: int, single_n: int, durable_n: int, batch_n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:

        def fresh(i: int, who: str) -> str:
            return os.path.join(tmp, f"{who}-{i}-{uuid.uuid4().hex[:6]}.db")

        def ours_sqlite(i: int) -> EventStore:
            return EventStore("sqlite:///" + fresh(i, "ours"))

        o1, p1, o2, p2, o3, p3 = [], [], [], [], [], []
        for i in range(runs):
            store = ours_sqlite(i)
            o1.append(ours_single(store, single_n))
            o2.append(ours_batches(store, batch_n, 500))
            o3.append(ours_read(store))
            store.close()
            recorder = es_sqlite(fresh(i, "es"))
            p1.append(es_single(recorder, single_n))
            p2.append(es_batches(recorder, batch_n, 500))
            p3.append(es_read(recorder))
            recorder.datastore.close()
        report("sqlite file, single-event appends (ours synchronous=NORMAL)", "/s", o1, p1)
        durable = EventsConfig(sqlite_synchronous="full")

        def ours_full() -> float:
            store = EventStore("sqlite:///" + fresh(0, "ours-full"), config=durable)
            try:
                return ours_single(store, durable_n)
            finally:
                store.close()

        def peer_full() -> float:
            recorder = es_sqlite(fresh(0, "es-full"))
            try:
                return es_single(recorder, durable_n)
            finally:
                recorder.datastore.close()

        o0, p0 = paired(runs, ours_full, peer_full)
        report("sqlite file, single-event appends (both synchronous=FULL)", "/s", o0, p0)
        report("sqlite file, 500-event batches", " events/s", o2, p2)
        report("sqlite file, read_all", " events/s", o3, p3)
        ceilings = [sqlite_ceiling(fresh(i, "plain"), batch_n, 500) for i in range(runs)]
        print(
            "# sqlite file, plain sqlite3 code on the same table (rows built beforehand, "
            "executemany; reads decode the data): 500-row batches "
            f"{statistics.median(c[0] for c in ceilings):,.0f} rows/s, read_all "
            f"{statistics.median(c[1] for c in ceilings):,.0f} rows/s",
            flush=True,
        )


def postgres_figures(runs: int, pg_single: int, batch_n: int, pg_each: int) -> None:
    import psycopg

    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    es_table = f"{prefix}es_events"
    es_table4 = f"{prefix}es_events4"
    bare_table = f"{prefix}bare"
    try:
        store = EventStore(PG_URL, table_prefix=prefix)
        recorder = es_postgres(es_table)
        o4, p4 = paired(
            runs, lambda: ours_single(store, pg_single), lambda: es_single(recorder, pg_single)
        )
        report("postgresql, single-event appends, 1 client", "/s", o4, p4)
        o5, p5 = paired(
            runs,
            lambda: ours_batches(store, batch_n, 500),
            lambda: es_batches(recorder, batch_n, 500),
        )
        report("postgresql, 500-event batches", " events/s", o5, p5)
        o6, p6 = paired(runs, lambda: ours_read(store), lambda: es_read(recorder))
        report("postgresql, read_all", " events/s", o6, p6)
        recorder.datastore.close()
        store.close()
        es_postgres(es_table4).datastore.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {bare_table} (id bigserial PRIMARY KEY, v text)")
        writer_runs = max(3, runs - 2)
        o7, p7 = paired(
            writer_runs,
            lambda: concurrent("ours", prefix, 1, pg_each),
            lambda: concurrent("es", es_table4, 1, pg_each),
        )
        report("postgresql, 1 writer process (same harness as 4)", "/s", o7, p7)
        o8, p8 = paired(
            writer_runs,
            lambda: concurrent("ours", prefix, 4, pg_each),
            lambda: concurrent("es", es_table4, 4, pg_each),
        )
        report("postgresql, 4 concurrent writer processes, total appends", "/s", o8, p8)
        ours_x = statistics.median(o8) / statistics.median(o7)
        peer_x = statistics.median(p8) / statistics.median(p7)
        print(
            f"postgresql, scaling 1 -> 4 writer processes: ours x{ours_x:.2f} "
            f"peer(eventsourcing) x{peer_x:.2f}",
            flush=True,
        )
        # What the machine allows: the same harness committing one-row INSERTs.
        bare1 = statistics.median(concurrent("bare", bare_table, 1, pg_each) for _ in range(3))
        bare4 = statistics.median(concurrent("bare", bare_table, 4, pg_each) for _ in range(3))
        print(
            f"# postgresql, plain one-row INSERT commits in the same harness (the machine's "
            f"ceiling): 1 process {bare1:,.0f}/s, 4 processes {bare4:,.0f}/s, "
            f"x{bare4 / bare1:.2f}",
            flush=True,
        )
    finally:
        drop_pg(prefix, [es_table, es_table4, bare_table])


if __name__ == "__main__":
    main()
