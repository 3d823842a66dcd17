"""End-to-end benchmark of matching a region: the database in, proposals stored (portal.services.matching).

The synthetic region of bench/matching_synthetic.py (5 areas, 85 schools and colleges, 2,000 providers, 10,000
offers, 20,000 requests) is written into a fresh database with one bulk insert per table (areas, organisations,
offers, school_requests, school_year_sizes). Then the region is matched as `flask match run --all` does it
(`run_areas`: each area's instance read from the database, the areas solved side by side in one forked worker
process per core, the proposals stored area by area in place of those of the run before, one commit), a few times,
each a day after the one before as nightly runs are (so every proposal made again has its reasons brought up to
date, and some change), median reported: the goal's number; `first` is the first run, into empty tables. `read` is
the time spent reading instances' rows (the solver processes build the instances from them); solving and storing
overlap, so they are not split; `workers` is the CPU the solver processes used. Then, for comparison, the areas
one after another in one process (`run_matching` per area, as coordinators run them), timed in three parts (load =
build_instance, solve, store = the rest of the write transaction). Runs on a temporary SQLite file and, when a
server answers, in a throw-away PostgreSQL schema; each in a child process of its own, so peak memory is its own
(it includes the synthetic instance and the bulk load). See bench/README.md.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path

import sqlalchemy as sa

BACKENDS = ("sqlite", "postgresql")
GOAL_SECONDS = 2.0  # region end to end, from the issue


def _pg_url() -> str | None:
    from bench.browse import _pg_url as browse_pg_url
    return browse_pg_url()


def load(instance) -> list[int]:
    """Write the instance into the (empty, created) database; returns the area ids. Commits once."""
    from sqlalchemy import insert

    from portal.catalogue import OFFER_TYPES
    from portal.extensions import db
    from portal.models import Area, Offer, Organisation, SchoolRequest, SchoolYearSize

    session = db.session
    area_ids = sorted({o.area_id for o in instance.offers} | {r.area_id for r in instance.requests})
    session.execute(insert(Area), [{"id": a, "name": f"Bench area {a}"} for a in area_ids])
    providers: dict[int, tuple] = {}
    for o in instance.offers:
        providers.setdefault(o.provider_id, (o.area_id, o.latitude, o.longitude))
    school_area = {r.school_id: r.area_id for r in instance.requests}
    organisations = [
        {"id": pid, "kind": "provider", "name": f"Provider {pid}", "area_id": area, "status": "verified",
         "latitude": lat, "longitude": lon, "provider_kind": "employer"}
        for pid, (area, lat, lon) in sorted(providers.items())
    ] + [
        {"id": s.id, "kind": "school", "name": f"School {s.id}", "area_id": school_area.get(s.id, area_ids[0]),
         "status": "verified", "latitude": s.latitude, "longitude": s.longitude, "urn": f"{s.id % 1_000_000:06d}",
         "phase": "secondary"}
        for s in instance.schools
    ]
    session.execute(insert(Organisation), organisations)
    session.execute(insert(SchoolYearSize), [
        {"school_id": s.id, "year_group": y.year, "pupils": y.pupils} for s in instance.schools for y in s.years])
    session.execute(insert(Offer), [
        {"id": o.id, "provider_id": o.provider_id, "area_id": o.area_id, "type": o.type, "title": f"Offer {o.id}",
         "sector": o.sector, "delivery": o.delivery, "status": "published", "open_to_all_areas": o.open_to_all_areas,
         "sessions": max(1, o.capacity // o.per_session) if OFFER_TYPES[o.type].unit == "pupils" else 1,
         "per_session": o.per_session, "capacity": o.capacity, "allocated": o.allocated, "starts_on": o.starts_on,
         "ends_on": o.ends_on, "year_mask": o.year_mask, "max_travel_miles": o.max_travel_miles}
        for o in instance.offers
    ])
    session.execute(insert(SchoolRequest), [
        {"id": r.id, "school_id": r.school_id, "area_id": r.area_id, "title": f"Request {r.id}",
         "wanted_types": list(r.wanted_types), "sectors": list(r.sectors), "year_mask": r.year_mask,
         "pupils": r.pupils, "starts_on": r.starts_on, "ends_on": r.ends_on, "deliveries": list(r.deliveries),
         "max_travel_miles": r.max_travel_miles, "keep_together": r.keep_together, "status": "open",
         "created_at": datetime.combine(r.created_on, clock(9))}
        for r in instance.requests
    ])
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        # The statistics autovacuum gathers soon after a bulk load on a real server: without them the planner
        # takes the fresh tables for empty and picks nested loops that cost a run seconds.
        with session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return area_ids


def measure(backend: str, runs: int) -> dict:
    """Runs in the child process: load the region, then match every area `runs` times."""
    from bench import matching_synthetic
    from bench.matching import _peak_mb
    from portal import create_app
    from portal.extensions import db
    from portal.models import Area, Match, MatchEvent
    from portal.services import matching as service

    timings = {"build": 0.0, "solve": 0.0, "read": 0.0}
    real_build, real_solve, real_read = service.build_instance, service.solve, service._read

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[name] += time.perf_counter() - started
        return wrapper

    service.build_instance, service.solve = timed("build", real_build), timed("solve", real_solve)
    service._read = timed("read", real_read)  # the rows of an area's instance (the solver builds it from them)

    with tempfile.TemporaryDirectory(prefix="encounters-bench-") as folder:
        schema = None
        if backend == "sqlite":
            overrides = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(folder) / 'bench.db'}"}
        else:
            url = _pg_url()
            schema = f"enc_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            admin = sa.create_engine(url)
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            overrides = {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": {
                "pool_pre_ping": True, "connect_args": {"options": f"-csearch_path={schema}"}}}
        try:
            app = create_app("testing", overrides)
            with app.app_context():
                db.create_all()
                instance = matching_synthetic.region()
                started = time.perf_counter()
                area_ids = load(instance)
                loaded = time.perf_counter() - started
                del instance
                rounds = []
                # Each run a day after the one before, as a nightly run: every request has waited a day longer,
                # so every proposal made again has new reasons (brought up to date in place) and some change.
                days = iter(range(2 * runs))
                for _ in range(runs):  # the region as `flask match run --all` runs it: areas solved side by side
                    timings.update(build=0.0, solve=0.0, read=0.0)
                    areas = [db.session.get(Area, area_id) for area_id in area_ids]
                    today = matching_synthetic.TODAY + timedelta(days=next(days))
                    started, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
                    outcomes = service.run_areas(areas, today=today)
                    total = time.perf_counter() - started
                    rounds.append({"total": total, "cpu": time.process_time() - cpu,
                                   "workers_cpu": _children_cpu() - children, "read": timings["read"],
                                   "placed": sum(r.totals.units_placed for r, _ in outcomes),
                                   "value": sum(r.totals.total_value for r, _ in outcomes),
                                   "stored": sum(stored for _, stored in outcomes)})
                    db.session.expunge_all()
                one_by_one = []
                for _ in range(runs):  # as coordinators would, one area after another, each solved in process
                    timings.update(build=0.0, solve=0.0)
                    today = matching_synthetic.TODAY + timedelta(days=next(days))
                    started, cpu = time.perf_counter(), time.process_time()
                    for area_id in area_ids:
                        service.run_matching(db.session.get(Area, area_id), today=today)
                    total = time.perf_counter() - started
                    one_by_one.append({"total": total, "cpu": time.process_time() - cpu, "build": timings["build"],
                                       "solve": timings["solve"],
                                       "store": total - timings["build"] - timings["solve"]})
                    db.session.expunge_all()
                matches = db.session.scalar(sa.select(sa.func.count()).select_from(Match))
                events = db.session.scalar(sa.select(sa.func.count()).select_from(MatchEvent))
                db.session.remove()
                db.engine.dispose()
        finally:
            if schema:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    median = {key: statistics.median(r[key] for r in rounds) for key in ("total", "cpu", "workers_cpu", "read")}
    single = {key: statistics.median(r[key] for r in one_by_one) for key in ("total", "cpu", "build", "solve", "store")}
    last = rounds[-1]
    return {"backend": backend, "areas": len(area_ids), "load_seconds": loaded, "runs": runs,
            "first_seconds": rounds[0]["total"], **{f"{k}_seconds": v for k, v in median.items()},
            **{f"one_by_one_{k}_seconds": v for k, v in single.items()},
            "placed": last["placed"], "value": last["value"], "stored": last["stored"], "matches": matches,
            "events": events, "peak_rss_mb": _peak_mb()}


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the solver workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child(backend: str, runs: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.matching_db", "--child", backend, "--runs", str(runs)],
                          capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"{backend} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print(rows: list[dict]) -> None:
    print()
    print("Matching a region end to end (`flask match run --all`: portal.services.matching.run_areas over its 5 "
          "areas, read the database, solve the areas side by side in one worker process per core, store the "
          "proposals); seconds for the whole region, median of the runs")
    print()
    header = (f"{'database':<10} {'runs':>4} {'read':>6} {'total':>6} {'first':>6} {'CPU':>6} {'workers':>7} "
              f"{'peak MB':>7} {'placed':>9} {'stored':>7} {'total value':>13}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['backend']:<10} {r['runs']:>4} {r['read_seconds']:>6.2f} {r['total_seconds']:>6.2f} "
              f"{r['first_seconds']:>6.2f} {r['cpu_seconds']:>6.2f} {r['workers_cpu_seconds']:>7.2f} "
              f"{r['peak_rss_mb']:>7.0f} {r['placed']:>9,} {r['stored']:>7,} {r['value']:>13,.1f}")
    print()
    print("The same areas one after another in one process (run_matching per area, as coordinators run them):")
    print()
    header = f"{'database':<10} {'load':>6} {'solve':>6} {'store':>6} {'total':>6} {'CPU':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['backend']:<10} {r['one_by_one_build_seconds']:>6.2f} {r['one_by_one_solve_seconds']:>6.2f} "
              f"{r['one_by_one_store_seconds']:>6.2f} {r['one_by_one_total_seconds']:>6.2f} "
              f"{r['one_by_one_cpu_seconds']:>6.2f}")
    print()
    for r in rows:
        within = r["total_seconds"] < GOAL_SECONDS
        print(f"{r['backend']}: region written in {r['load_seconds']:.1f} s (bulk inserts, not timed above); "
              f"{r['matches']:,} matches and {r['events']:,} history rows after {2 * r['runs']} runs. Goal: region "
              f"end to end under {GOAL_SECONDS:g} s: {'met' if within else 'NOT MET'}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench matching-db", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs over the whole region (default 3)")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.runs)))
        return 0
    backends = ["sqlite"] + ([] if args.sqlite_only or _pg_url() is None else ["postgresql"])
    rows = [_child(backend, args.runs) for backend in backends]
    _print(rows)  # timing goals are reported, not enforced: this machine may be shared
    return 0


if __name__ == "__main__":
    sys.exit(main())
