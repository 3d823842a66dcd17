"""Benchmark of the progress pages over a region of 90,000 pupils and ~600,000 register entries.

Builds the region (bench/pupils_synthetic.py) in a fresh temporary SQLite database and, when a server answers
on 127.0.0.1:5432, in a fresh PostgreSQL schema; fills the kept totals; signs in a careers lead (a 1,800-pupil
school), the area's coordinator and a provider on the Flask test client; then times each progress page and
counts its SQL statements. Everything is done again at a tenth of the size, to show that the number of
statements per request does not grow with pupils. Nothing is written into the repository. See bench/README.md.
"""
import argparse
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench import pupils_synthetic
from bench.browse import _pg_url
from portal.services import counting

GOAL_MS = 100.0
FULL = {"schools": 50, "pupils": 90_000, "lead_school_pupils": 1_800, "providers": 600, "offers_per_year": 500,
        "sessions": 20_000}
TENTH = {"schools": 5, "pupils": 9_000, "lead_school_pupils": 180, "providers": 60, "offers_per_year": 50,
         "sessions": 2_000}
ANALYSED = ("organisations", "pupils", "pupil_year_counts", "offers", "school_requests", "matches", "session_records",
            "register_entries", "users")
QUICK = {"schools": 12, "pupils": 22_500, "lead_school_pupils": 1_800, "providers": 150, "offers_per_year": 125,
         "sessions": 5_000}


@dataclass(frozen=True)
class Page:
    label: str
    who: str  # "lead", "coordinator" or "provider"
    path: str  # may contain {area_id} and {last_year} (the academic year before this one)
    goal: bool  # a page with the 100 ms goal (median and p95)


PAGES = [
    Page("careers lead: GET /progress", "lead", "/progress", True),
    Page("coordinator: GET /progress/areas/<id>", "coordinator", "/progress/areas/{area_id}", True),
    Page("coordinator: the same, last year", "coordinator", "/progress/areas/{area_id}?year={last_year}", True),
    Page("provider: GET /impact", "provider", "/impact", True),
]


@dataclass
class Timing:
    backend: str
    size: str
    page: Page
    status: int
    queries: int | None = None
    median_ms: float | None = None
    p95_ms: float | None = None
    varied: bool = False


@dataclass
class Load:
    backend: str
    size: str
    region: pupils_synthetic.Region
    build_s: float
    totals_s: float
    totals_by: str
    mismatches: list[str]


def _measure(backend: str, size: str, overrides: dict, params: dict, *, repeat: int,
             profile: bool) -> tuple[list[Timing], Load]:
    from portal import create_app
    from portal.extensions import db
    from portal.models import User

    app = create_app("testing", overrides)
    with app.app_context():
        db.create_all()
        started = time.perf_counter()
        region = pupils_synthetic.build(**params)
        built = time.perf_counter() - started
        started = time.perf_counter()
        totals_by = pupils_synthetic.fill_totals(region.area_id)
        totals = time.perf_counter() - started
        mismatches = pupils_synthetic.check_totals(region)
        if backend == "postgresql":  # as autovacuum would have by the time anyone looks (this schema's tables only)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE " + ", ".join(ANALYSED)))
        cookies = {who: db.session.get(User, user_id).get_id() for who, user_id in
                   (("lead", region.lead_id), ("coordinator", region.coordinator_id),
                    ("provider", region.provider_user_id))}
        engine = db.engine
    load = Load(backend, size, region, built, totals, totals_by, mismatches)

    statements: list[tuple[str, float]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, (time.perf_counter() - conn.info.pop("bench_started")) * 1000))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    clients = {}
    for who, cookie in cookies.items():
        clients[who] = app.test_client()  # no outer app context: each request gets its own session
        with clients[who].session_transaction() as session:
            session["_user_id"] = cookie
            session["_fresh"] = True
    results = []
    try:
        for page in PAGES:
            client = clients[page.who]
            url = page.path.format(area_id=region.area_id,
                                   last_year=counting.current_academic_year() - 1)
            response = client.get(url)
            if response.status_code != 200:
                results.append(Timing(backend, size, page, response.status_code))
                continue
            for _ in range(3):  # warm caches, templates and the connection pool
                client.get(url)
            times, counts = [], set()
            for _ in range(repeat):
                statements.clear()
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                counts.add(len(statements))
                assert response.status_code == 200, f"{url}: {response.status_code}"
            results.append(Timing(backend, size, page, 200, queries=max(counts), median_ms=statistics.median(times),
                                  p95_ms=statistics.quantiles(times, n=20)[18], varied=len(counts) != 1))
            if profile:
                _profile(backend, size, page, client, url, statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return results, load


def _profile(backend: str, size: str, page: Page, client, url: str, statements: list) -> None:
    """Print the statements of one more request, slowest first."""
    statements.clear()
    client.get(url)
    print(f"\n--- {backend} {size}: {page.label}: {len(statements)} statements, "
          f"{sum(ms for _, ms in statements):.1f} ms in SQL")
    for statement, ms in sorted(statements, key=lambda s: -s[1]):
        print(f"{ms:8.2f} ms  {' '.join(statement.split())[:400]}")


def _sqlite(size: str, params: dict, repeat: int, profile: bool) -> tuple[list[Timing], Load]:
    with tempfile.TemporaryDirectory(prefix="encounters-bench-") as folder:
        path = Path(folder) / "bench.db"
        return _measure("sqlite", size, {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}, params, repeat=repeat,
                        profile=profile)


def _postgres(url: str, size: str, params: dict, repeat: int, profile: bool) -> tuple[list[Timing], Load]:
    schema = f"enc_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        options = {"pool_pre_ping": True, "connect_args": {"options": f"-csearch_path={schema}"}}
        return _measure("postgresql", size, {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options},
                        params, repeat=repeat, profile=profile)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _print(results: list[Timing], loads: list[Load]) -> bool:
    """Print the tables; returns True when something is wrong (totals, or query counts vary or grow)."""
    print()
    print("Progress pages: a careers lead's school, the coordinator's area, a provider's impact")
    print(f"{'backend':<11} {'size':<6} {'schools':>7} {'on roll':>8} {'leavers':>7} {'lead school':>11} "
          f"{'sessions':>8} {'entries':>8} {'load s':>6} {'totals s':>8}")
    for load in loads:
        r = load.region
        print(f"{load.backend:<11} {load.size:<6} {r.schools:>7,} {r.pupils_on_roll:>8,} {r.leavers:>7,} "
              f"{r.school_pupils:>11,} {r.sessions:>8,} {r.entries:>8,} {load.build_s:>6.1f} {load.totals_s:>8.2f}")
    wrong = False
    for load in loads:
        print(f"  {load.backend} {load.size}: kept totals filled by {load.totals_by}; ", end="")
        if load.mismatches:
            wrong = True
            print("they DIFFER from the generator's or a fresh count: " + "; ".join(load.mismatches))
        else:
            print("they match the generator's and a fresh count")
    print()
    header = f"{'backend':<11} {'size':<6} {'page':<38} {'queries':>7} {'median ms':>9} {'p95 ms':>7}  goal"
    print(header)
    print("-" * len(header))
    for t in results:
        if t.status != 200:
            print(f"{t.backend:<11} {t.size:<6} {t.page.label:<38} {'':>7} {'':>9} {'':>7}  HTTP {t.status}")
            continue
        goal = ("met" if t.p95_ms < GOAL_MS else "NOT MET (p95)" if t.median_ms < GOAL_MS else "NOT MET") \
            if t.page.goal else "-"
        varied = " (varied!)" if t.varied else ""
        print(f"{t.backend:<11} {t.size:<6} {t.page.label:<38} {t.queries:>7}{varied} {t.median_ms:>9.1f} "
              f"{t.p95_ms:>7.1f}  {goal}")
        wrong |= t.varied
    print()
    backends = sorted({t.backend for t in results})
    for backend in backends:
        for page in PAGES:
            by_size = {t.size: t.queries for t in results if t.backend == backend and t.page == page and t.queries}
            if len(by_size) < 2:
                continue
            same = len(set(by_size.values())) == 1
            wrong |= not same
            shown = ", ".join(f"{q} at {size}" for size, q in by_size.items())
            print(f"{backend}: {page.label}: {shown} -> {'the same' if same else 'NOT THE SAME'}")
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench progress", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page (default 30)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL even if it answers")
    parser.add_argument("--quick", action="store_true",
                        help="a quarter of the region (22,500 pupils; the lead's school still 1,800) and a tenth")
    parser.add_argument("--profile", action="store_true", help="print every page's statements, slowest first")
    args = parser.parse_args(argv)
    args.quick = args.quick or os.environ.get("BENCH_QUICK", "").lower() in {"1", "true", "yes"}
    os.environ.setdefault("PORTAL_ENV", "testing")

    sizes = [("quick", QUICK) if args.quick else ("full", FULL), ("tenth", TENTH)]
    results: list[Timing] = []
    loads: list[Load] = []
    url = None if args.sqlite_only else _pg_url()
    for size, params in sizes:
        timings, load = _sqlite(size, params, args.repeat, args.profile)
        results += timings
        loads.append(load)
        if url:
            timings, load = _postgres(url, size, params, args.repeat, args.profile)
            results += timings
            loads.append(load)
    if not url:
        print("PostgreSQL not reachable on 127.0.0.1:5432 (or --sqlite-only): SQLite only.")
    results.sort(key=lambda t: (t.backend, [s for s, _ in sizes].index(t.size), PAGES.index(t.page)))
    wrong = _print(results, loads)
    missing = [t for t in results if t.status != 200]
    if missing:
        print(f"{len(missing)} page request(s) did not answer 200 (not built yet, or refused): see the table.")
    return 1 if wrong or missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
