"""Load: gunicorn with several workers on loopback, 16 signed-in clients replaying a realistic mix, and a bare endpoint.

Builds a region (bench/pupils_synthetic.py: pupils, offers, four years of sessions and registers; plus proposed
matches for the coordinators' queue and users with known passwords) in a fresh temporary SQLite file and, when a
server answers on 127.0.0.1:5432, in a fresh PostgreSQL schema. Serves it with gunicorn (production settings, except
that the session cookie is not marked Secure on http loopback and the sign-in limit is generous) and drives it with
wrk (bench/load_wrk.py and .lua, when `wrk` is on PATH) or locust (bench/load_locust.py), as `--driver` says:
every client signs in through the real login form (coordinators also with their two-step code), then the bare
endpoint (`GET /healthz`) alone, the mix, and each key page alone. Nothing is written into the repository. See
bench/README.md.
"""
import argparse
import json
import os
import platform
import re
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa

from bench import pupils_synthetic

GOAL_P95_MS = 100.0
GOAL_RATIO = 0.10  # a page alone at least 10% of the bare endpoint's requests/s
CLIENTS = 16
LEADS_IN_MIX = 10  # of the 16 clients; the other 6 are coordinators
PASSWORD = "bench-load-password-0123"
REPO = Path(__file__).resolve().parent.parent
ANALYSED = ("organisations", "pupils", "pupil_year_counts", "offers", "school_requests", "matches", "session_records",
            "register_entries", "users")
# Region sizes: --quick a small one that builds in seconds; the default the quarter region of the progress bench.
QUICK = {"schools": 16, "pupils": 12_000, "lead_school_pupils": 1_800, "providers": 100, "offers_per_year": 150,
         "sessions": 3_000}
DEFAULT = {"schools": 16, "pupils": 22_500, "lead_school_pupils": 1_800, "providers": 150, "offers_per_year": 500,
           "sessions": 6_000}
# --region: the issue's region scale (85 schools and colleges, 90,000 pupils on roll, 2,000 providers, 10,000 offers
# over the four years of history, ~600,000 register entries) and the proposals a matching run of the synthetic
# region leaves (bench/README.md, matching end to end: ~28,000). Building it takes minutes, not seconds.
REGION = {"schools": 85, "pupils": 90_000, "lead_school_pupils": 1_800, "providers": 2_000, "offers_per_year": 2_500,
          "sessions": 20_000}
SIZES = {"quick": QUICK, "default": DEFAULT, "region": REGION}
PROPOSALS = {"quick": 2_000, "default": 5_000, "region": 28_000}
# Seconds per phase: the bare endpoint, the mix, then each key page alone.
PHASES = {"quick": {"bare": 8, "mix": 30, "solo": 4, "max_requests": 20_000},
          "default": {"bare": 15, "mix": 60, "solo": 8, "max_requests": 60_000},
          "region": {"bare": 15, "mix": 60, "solo": 8, "max_requests": 60_000}}

# (label, who) of the key pages: each has the goal. `who` says which of a client's two sessions asks.
PAGES = [
    ("GET /browse/offers", "lead"),
    ("GET /progress", "lead"),
    ("GET /matches/<id>/attendance", "lead"),
    ("POST /matches/<id>/attendance", "lead"),
    ("GET /matches", "coordinator"),
    ("POST /matches/<id>/approve", "coordinator"),
    ("GET /progress/areas/<id>", "coordinator"),
]
BARE = "GET /healthz"
SIGN_IN = "sign in (POST /login)"
TIMEOUT_S = 60  # a request unanswered this long is an error (both drivers)


# --- the app under gunicorn --------------------------------------------------------------------------------------

def wsgi():
    """gunicorn's app factory (`bench.load:wsgi()`): production settings on the bench's database, http loopback."""
    from portal import create_app

    url = os.environ.get("BENCH_LOAD_DATABASE_URL")
    if not url:
        raise RuntimeError("bench.load:wsgi() serves only the load bench's own database (BENCH_LOAD_DATABASE_URL)")
    overrides = {"SQLALCHEMY_DATABASE_URI": url, "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                 "PREFERRED_URL_SCHEME": "http"}
    schema = os.environ.get("BENCH_LOAD_PG_SCHEMA")
    if schema:
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True,
                                                  "connect_args": {"options": f"-csearch_path={schema}"}}
    return create_app("production", overrides)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn on a free loopback port; stopped with SIGTERM (graceful), waited for."""

    def __init__(self, url: str, schema: str | None, workers: int, log: Path):
        self.port = _free_port()
        self.host = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
        env.update({"BENCH_LOAD_DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(48),
                    "PUPIL_ID_KEY": secrets.token_urlsafe(48), "PORTAL_ENV": "production",
                    "LOGIN_RATE_LIMIT": "100000 per minute", "TRUSTED_PROXY_COUNT": "0"})
        if schema:
            env["BENCH_LOAD_PG_SCHEMA"] = schema
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}",
             "--error-logfile", str(log), "--graceful-timeout", "10", "--timeout", "60", "bench.load:wsgi()"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.host + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- the database ------------------------------------------------------------------------------------------------

def _build(overrides: dict, params: dict, proposals: int, backend: str) -> dict:
    """The region, proposals and users; returns what the clients need to know (emails, secrets, ids)."""
    import pyotp

    from portal import create_app
    from portal.extensions import db
    from portal.models import Match, Offer, Organisation, SchoolRequest, User, utcnow
    from portal.models.users import coordinator_areas
    from portal.models.year_groups import to_mask
    from portal.services import counting
    from portal.services.passwords import hash_password

    app = create_app("testing", overrides)
    with app.app_context():
        db.create_all()
        region = pupils_synthetic.build(**params)
        pupils_synthetic.fill_totals(region.area_id)
        session = db.session
        now = utcnow()
        current = counting.current_academic_year()
        first, last = counting.academic_year_bounds(current)
        schools = session.scalars(sa.select(Organisation.id).where(Organisation.kind == "school")
                                  .order_by(Organisation.id)).all()
        offers = session.execute(sa.select(Offer.id, Offer.type).where(Offer.status == "published")
                                 .order_by(Offer.id)).all()
        # Proposed matches, as a matching run leaves them: one open request each, 30 pupils of one year group.
        next_request = session.scalar(sa.select(sa.func.max(SchoolRequest.id))) + 1
        next_match = session.scalar(sa.select(sa.func.max(Match.id))) + 1
        request_rows, match_rows = [], []
        for n in range(proposals):
            offer_id, offer_type = offers[(n * 7) % len(offers)]
            request_rows.append({
                "id": next_request + n, "school_id": schools[n % len(schools)], "area_id": region.area_id,
                "title": f"Load request {n + 1}", "wanted_types": [offer_type], "sectors": [],
                "year_mask": to_mask([7 + n % 5]), "pupils": 30, "starts_on": first, "ends_on": last,
                "deliveries": [], "keep_together": False, "priority": "none", "status": "open",
                "created_at": now, "updated_at": now, "version": 1})
            match_rows.append({
                "id": next_match + n, "offer_id": offer_id, "request_id": next_request + n, "area_id": region.area_id,
                "allocation": 30, "status": "proposed", "origin": "engine", "score": round(100 - (n % 97) * 0.9, 1),
                "reasons": "Wanted type · Year group fits · Near the school", "created_at": now, "updated_at": now})
        session.execute(sa.insert(SchoolRequest), request_rows)
        session.execute(sa.insert(Match), match_rows)
        # Users with a real password: a careers lead per school (round the schools), coordinators with two-step.
        password_hash = hash_password(PASSWORD)
        next_user = session.scalar(sa.select(sa.func.max(User.id))) + 1
        leads, coordinators, user_rows = [], [], []
        for n in range(CLIENTS):
            school_id = schools[n % len(schools)]
            email = f"lead{n + 1}@load.bench.example"
            user_rows.append({"id": next_user + n, "email": email, "name": f"Load Lead {n + 1}",
                              "password_hash": password_hash, "role": "careers_lead", "status": "active",
                              "organisation_id": school_id, "email_confirmed_at": now, "created_at": now})
            recorded = session.scalars(
                sa.select(Match.id).join(SchoolRequest, SchoolRequest.id == Match.request_id)
                .where(SchoolRequest.school_id == school_id, Match.status == "recorded",
                       Match.session_starts_at >= datetime.combine(first, datetime.min.time()))
                .order_by(Match.id).limit(20)).all()
            leads.append({"email": email, "matches": list(recorded)})
        for n in range(CLIENTS):
            secret = pyotp.random_base32()
            email = f"coordinator{n + 1}@load.bench.example"
            user_rows.append({"id": next_user + CLIENTS + n, "email": email, "name": f"Load Coordinator {n + 1}",
                              "password_hash": password_hash, "role": "coordinator", "status": "active",
                              "organisation_id": None, "email_confirmed_at": now, "created_at": now,
                              "totp_secret": secret, "totp_enabled_at": now})
            coordinators.append({"email": email, "secret": secret})
        session.execute(sa.insert(User), user_rows)
        session.execute(sa.insert(coordinator_areas), [{"user_id": next_user + CLIENTS + n, "area_id": region.area_id}
                                                        for n in range(CLIENTS)])
        pupils_synthetic._advance_sequences(session)
        session.commit()
        if backend == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE " + ", ".join(ANALYSED)))
        db.session.remove()
        db.engine.dispose()
    return {"area_id": region.area_id, "leads": leads, "coordinators": coordinators,
            "proposals": [row["id"] for row in match_rows], "password": PASSWORD,
            "size": {"schools": region.schools, "pupils_on_roll": region.pupils_on_roll, "leavers": region.leavers,
                     "offers": region.offers, "sessions": region.sessions, "entries": region.entries,
                     "proposals": proposals}}


# --- what a client sends (both drivers: bench/load_wrk.py, bench/load_locust.py) ----------------------------------

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
TICKED = re.compile(r'<input[^>]*name="attended" value="(\d+)"[^>]*?( checked)?>')
BROWSE_QUERIES = ["", "?type=workplace_visit", "?sort=soonest", "?q=talk", "?page=3", "?year=9", "?within=10"]


def csrf_of(text: str) -> str:
    found = CSRF.search(text or "")
    if not found:
        raise RuntimeError("no csrf_token in the page")
    return found.group(1) or found.group(2)


def attendance_body(token: str, ticked: list[str]) -> str:
    """The attendance form's POST: the register's reflection ticks and the pupils ticked as attended."""
    data = [("csrf_token", token), ("purpose_shared", "y"), ("learning_outcomes", "y"), ("two_way", "y"),
            ("time_to_reflect", "y"), ("reflections", "Went well.")]
    return urlencode(data + [("attended", value) for value in ticked])


# --- one backend -------------------------------------------------------------------------------------------------

def _run(backend: str, url: str, schema: str | None, build_overrides: dict, size: str, workers: int,
         think: float, driver: str) -> dict:
    params = SIZES[size]
    started = time.perf_counter()
    config = _build(build_overrides, params, PROPOSALS[size], backend)
    built = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="encounters-load-") as folder:
        server = Server(url, schema, workers, Path(folder) / "gunicorn.log")
        try:
            config.update(PHASES[size], host=server.host, think=think)
            if driver == "wrk":
                from bench import load_wrk

                result = load_wrk.drive(config)
            else:
                config_file = Path(folder) / "config.json"
                result_file = Path(folder) / "result.json"
                config_file.write_text(json.dumps(config))
                before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
                subprocess.run([sys.executable, "-m", "bench.load", "--drive", str(config_file), str(result_file)],
                               cwd=REPO, check=True)
                after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - started
                used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                print(f"load generator: locust, {used:.1f} s of CPU in {wall:.0f} s ({used / wall:.0%} of a core, "
                      f"signing in included)")
                result = json.loads(result_file.read_text())
        finally:
            server.stop()
    result.update(backend=backend, built_s=built, size=config["size"], workers=workers, think=think, driver=driver)
    return result


def _sqlite(size: str, workers: int, think: float, driver: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="encounters-load-db-") as folder:
        url = f"sqlite:///{Path(folder) / 'load.db'}"
        return _run("sqlite", url, None, {"SQLALCHEMY_DATABASE_URI": url}, size, workers, think, driver)


def _postgres(url: str, size: str, workers: int, think: float, driver: str) -> dict:
    schema = f"enc_load_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        options = {"pool_pre_ping": True, "connect_args": {"options": f"-csearch_path={schema}"}}
        return _run("postgresql", url, schema, {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options},
                    size, workers, think, driver)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --- the report --------------------------------------------------------------------------------------------------

def _stats(times: list[float]) -> tuple[float, float, float]:
    if len(times) < 2:
        return (times[0],) * 3 if times else (0.0, 0.0, 0.0)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return statistics.median(times), cuts[94], cuts[98]


def _report(result: dict) -> bool:
    """Print one backend's table and verdicts; returns True when every goal is met."""
    records, failures, durations = result["records"], result["failures"], result["durations"]
    s = result["size"]
    think = f"{result['think']:g} s between pages" if result["think"] else "no pause between pages"
    print(f"\n{result['backend']}: {result['workers']} gunicorn workers, {CLIENTS} clients ({think} in the mix);\n"
          f"  region of "
          f"{s['schools']} schools, {s['pupils_on_roll']:,} pupils on roll (+{s['leavers']:,} leavers), "
          f"{s['offers']:,} offers, {s['sessions']:,} sessions, {s['entries']:,} register entries, "
          f"{s['proposals']:,} proposals; built in {result['built_s']:.0f} s;\n"
          f"  Python {platform.python_version()} at {sys.executable} (how it was built matters: bench/README.md, "
          f"session 19)")
    bare_times = records.get("bare", {}).get(BARE, [])
    bare_rps = len(bare_times) / durations["bare"]
    bare_errors = failures.get("bare", {}).get(BARE, 0)
    p50, p95, p99 = _stats(bare_times)
    header = (f"{'page':<31} {'mix req':>7} {'mix r/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'errors':>6} "
              f"{'alone r/s':>9} {'alone p95':>9} {'ratio':>6}  goal")
    print(header)
    print("-" * len(header))
    print(f"{BARE + ' (bare, alone)':<31} {'':>7} {'':>7} {p50:>6.1f} {p95:>6.1f} {p99:>6.1f} {bare_errors:>6} "
          f"{bare_rps:>9.1f} {p95:>9.1f} {1:>6.2f}")
    mix = records.get("mix", {})
    ok = bare_errors == 0
    for label, _ in PAGES:
        times = mix.get(label, [])
        errors = failures.get("mix", {}).get(label, 0) + failures.get(label, {}).get(label, 0)
        p50, p95, p99 = _stats(times)
        alone = records.get(label, {}).get(label, [])
        alone_rps = len(alone) / durations[label]
        ratio = alone_rps / bare_rps if bare_rps else 0.0
        misses = [what for what, missed in (("p95", p95 > GOAL_P95_MS), ("r/s", ratio < GOAL_RATIO),
                                            ("errors", errors > 0), ("no requests", not times)) if missed]
        ok &= not misses
        print(f"{label:<31} {len(times):>7} {len(times) / durations['mix']:>7.1f} {p50:>6.1f} {p95:>6.1f} "
              f"{p99:>6.1f} {errors:>6} {alone_rps:>9.1f} {_stats(alone)[1]:>9.1f} {ratio:>6.2f}  "
              f"{'met' if not misses else 'NOT MET (' + ', '.join(misses) + ')'}")
    total = sum(len(times) for times in mix.values())
    other = {name: count for phase, names in failures.items() for name, count in names.items()
             if phase not in {"mix", "bare"} | {label for label, _ in PAGES}}
    print(f"mix: {total:,} requests in {durations['mix']:.0f} s = {total / durations['mix']:.1f} r/s "
          f"({total / durations['mix'] / bare_rps:.2f} of the bare endpoint's); milliseconds; "
          f"'alone': the page by all {CLIENTS} clients for {durations[PAGES[0][0]]:.0f} s")
    if other:
        ok = False
        print(f"errors while signing in: {other}")
    print(f"{result['backend']}: goal (every key page p95 <= {GOAL_P95_MS:.0f} ms in the mix, alone >= "
          f"{GOAL_RATIO:.0%} of the bare endpoint's r/s, no errors): {'MET' if ok else 'NOT MET'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__.splitlines()[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="a small region and short phases (~2 minutes)")
    sizes.add_argument("--region", action="store_true",
                       help="the issue's region scale: 90,000 pupils, 10,000 offers, ~600,000 register entries "
                            "(building it takes a few minutes per database)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL even if it answers")
    # One sync worker per core: the pages are CPU-bound Python, and on this 2-core machine (shared with locust and
    # the database) 2 workers served the mix 15-40% faster than 4 (bench/README.md, session 11).
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="gunicorn workers (default: one per core)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds each client waits between pages in the mix (default 0: no pause)")
    parser.add_argument("--driver", choices=("wrk", "locust"),
                        help="the load generator (default: wrk when it is on PATH and clients do not --think, "
                             "else locust)")
    parser.add_argument("--drive", nargs=2, help=argparse.SUPPRESS)  # the child process that runs locust
    args = parser.parse_args(argv)
    args.driver = args.driver or ("wrk" if shutil.which("wrk") and not args.think else "locust")
    if args.driver == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on PATH (Debian: apt-get install wrk); --driver locust works without it")
    if args.driver == "wrk" and args.think:
        # wrk's pause (its delay()) comes after it has opened the next connection; gunicorn's sync worker accepts
        # it and waits idle for the request through the pause, and after each response it waits for the client to
        # close (up to 2 s), so with 2 workers nearly every request queued behind someone's pause (session 21).
        parser.error("--think needs --driver locust: wrk pauses with the next connection already open, which "
                     "holds a gunicorn sync worker idle")
    if args.drive:
        from bench import load_locust

        result = load_locust.drive(json.loads(Path(args.drive[0]).read_text()))
        Path(args.drive[1]).write_text(json.dumps(result))
        return 0
    quick = args.quick or os.environ.get("BENCH_QUICK", "").lower() in {"1", "true", "yes"}
    size = "region" if args.region else "quick" if quick else "default"
    os.environ.setdefault("PORTAL_ENV", "testing")
    from bench.browse import _pg_url

    url = None if args.sqlite_only else _pg_url()
    results = [_sqlite(size, args.workers, args.think, args.driver)]
    if url:
        results.append(_postgres(url, size, args.workers, args.think, args.driver))
    else:
        print("PostgreSQL not reachable on 127.0.0.1:5432 (or --sqlite-only): SQLite only.")
    verdicts = [_report(result) for result in results]
    errors = sum(count for result in results for names in result["failures"].values() for count in names.values())
    print(f"\nExit status {1 if errors else 0}: 1 only when a request failed (goals: "
          f"{'all met' if all(verdicts) else 'NOT all met'}; a shared machine makes timings noisy).")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
