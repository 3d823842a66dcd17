"""Benchmark of the browse page (GET /browse/offers) over a region-sized catalogue.

Builds 10,000 published offers from 2,000 providers, 85 schools and a careers lead in a fresh temporary
SQLite database (and in a fresh PostgreSQL schema when a server answers on 127.0.0.1:5432), then times
the page through the Flask test client for a mix of searches, counting SQL statements per request.
Nothing is written into the repository. See bench/README.md.
"""
import argparse
import os
import re
import socket
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench import synthetic

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# (label, query string). The last is chosen to show fewer than a full page of results.
SCENARIOS = [
    ("no filter (nearest first)", ""),
    ("type = workplace visit", "type=workplace_visit"),
    ("within 10 miles, nearest", "within=10&sort=distance"),
    ("text search 'robotics'", "q=robotics"),
    ("page 5", "page=5"),
    ("soonest first, Year 9", "sort=soonest&year=9"),
    ("narrow: few results", "q=robotics&type=mentoring&within=3"),
]
ROW = re.compile(r'<th scope="row"><a href="/offers/\d+">')
TOTAL = re.compile(r"(\d+) offers?(?:,| *</caption>)")


@dataclass
class Timing:
    backend: str
    scenario: str
    rows: int
    total: int
    queries: int
    median_ms: float
    p95_ms: float


def _pg_url() -> str | None:
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if url:
        from config import database_url

        return database_url(url)
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return DEFAULT_PG_URL
    except OSError:
        return None


def _measure(backend: str, overrides: dict, *, repeat: int) -> tuple[list[Timing], float]:
    from portal import create_app
    from portal.extensions import db
    from portal.models import User

    app = create_app("testing", overrides)
    with app.app_context():
        db.create_all()
        started = time.perf_counter()
        catalogue = synthetic.build()
        built = time.perf_counter() - started
        lead = db.session.get(User, catalogue.lead_id)
        cookie_id = lead.get_id()
        engine = db.engine

    statements = 0

    def count(conn, cursor, statement, parameters, context, executemany):
        nonlocal statements
        statements += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    client = app.test_client()  # no outer app context: each request gets its own session, as in production
    with client.session_transaction() as session:
        session["_user_id"] = cookie_id
        session["_fresh"] = True
    results = []
    try:
        for label, query in SCENARIOS:
            url = "/browse/offers" + (f"?{query}" if query else "")
            for _ in range(3):  # warm caches, templates and the connection pool
                client.get(url)
            times, counts = [], set()
            body = ""
            for _ in range(repeat):
                statements = 0
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                counts.add(statements)
                assert response.status_code == 200, f"{url}: {response.status_code}"
                body = response.get_data(as_text=True)
            total = TOTAL.search(body)
            results.append(Timing(
                backend=backend, scenario=label, rows=len(ROW.findall(body)),
                total=int(total[1]) if total else 0, queries=max(counts),
                median_ms=statistics.median(times), p95_ms=statistics.quantiles(times, n=20)[18],
            ))
            assert len(counts) == 1, f"{label}: the number of queries varied between runs: {sorted(counts)}"
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return results, built


def _sqlite(repeat: int) -> tuple[list[Timing], float]:
    with tempfile.TemporaryDirectory(prefix="encounters-bench-") as folder:
        path = Path(folder) / "bench.db"
        return _measure("sqlite", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}, repeat=repeat)


def _postgres(url: str, repeat: int) -> tuple[list[Timing], float]:
    schema = f"enc_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        options = {"pool_pre_ping": True, "connect_args": {"options": f"-csearch_path={schema}"}}
        results, built = _measure("postgresql", {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options},
                                  repeat=repeat)
        return results, built
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _print(results: list[Timing], built: dict[str, float]) -> None:
    print()
    print("GET /browse/offers as a careers lead (Burnley secondary); 20 results per page")
    print("catalogue: 10,000 published offers, 2,000 providers, 85 schools, 5 areas around Lancashire")
    for backend, seconds in built.items():
        print(f"  built on {backend} in {seconds:.1f} s")
    print()
    header = f"{'backend':<11} {'search':<28} {'matches':>7} {'shown':>5} {'queries':>7} {'median ms':>9} {'p95 ms':>7}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.backend:<11} {r.scenario:<28} {r.total:>7} {r.rows:>5} {r.queries:>7} "
              f"{r.median_ms:>9.1f} {r.p95_ms:>7.1f}")
    print()
    for backend in built:
        mine = [r for r in results if r.backend == backend]
        by_rows = sorted({(r.rows, r.queries) for r in mine})
        constant = len({q for _, q in by_rows}) == 1
        shown = ", ".join(f"{q} queries for {rows} rows" for rows, q in by_rows)
        verdict = "constant" if constant else "NOT CONSTANT"
        print(f"{backend}: {shown} -> {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40, help="timed requests per search (default 40)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL even if it answers")
    args = parser.parse_args(argv)
    os.environ.setdefault("PORTAL_ENV", "testing")

    results: list[Timing] = []
    built: dict[str, float] = {}
    timings, built["sqlite"] = _sqlite(args.repeat)
    results += timings
    url = None if args.sqlite_only else _pg_url()
    if url:
        timings, built["postgresql"] = _postgres(url, args.repeat)
        results += timings
    else:
        print("PostgreSQL not reachable on 127.0.0.1:5432 (or --sqlite-only): SQLite only.")
    _print(results, built)
    failed = any(len({r.queries for r in results if r.backend == b}) != 1 for b in built)
    return 1 if failed else 0
