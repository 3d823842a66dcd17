"""Benchmark of a roster import: parsing a 5,000-row MIS export and importing it (issue 5: under 2 s).

Writes a messy 5,000-row CSV in memory (UTF-8 BOM, CRLF, quoted names with commas, flags in mixed spellings),
then in a fresh temporary SQLite database (and a fresh PostgreSQL schema when a server answers on 127.0.0.1:5432)
times, each several times on a new school: parsing alone, parsing plus a first import (5,000 new pupils), and a
full-roster re-import of a changed file (500 changed, 250 gone, 250 new). Prints the medians; nothing is written
into the repository. `python -m bench roster [--repeat N] [--sqlite-only]`.
"""
import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from bench.browse import _pg_url

ROWS = 5000
GOAL_SECONDS = 2.0
FORENAMES = ["Zoë", "Amir", "Siobhán", "Jo", "François", "Chloé", "Kwame", "Priya", "Oliver", "Aisha"]
SURNAMES = ["Brontë", "Khan", "O'Neill", "Smith", "Müller", "Dubois", "Mensah", "Patel", "Jones", "Ali"]


def make_csv(rows: int = ROWS, *, seed: int = 5, start: int = 0, changed: int = 0) -> bytes:
    """A SIMS-like export: Adno, "Surname, Forename", Year, Reg, Pupil Premium, SEN Status, RONI."""
    rng = random.Random(seed)
    lines = ["Adno,Name,Year,Reg,Pupil Premium,SEN Status,RONI"]
    for n in range(start, start + rows):
        year = 7 + n % 5
        name = f'"{rng.choice(SURNAMES)}, {rng.choice(FORENAMES)}"'
        form = f"{year}{'ABCDEF'[n % 6]}" if n >= start + changed else f"{year}Z"
        lines.append(f"{n + 1:06d},{name},Year {year} ,{form},{rng.choice(['Y', 'N', ''])},"
                     f"{rng.choice(['N', 'K', 'E', ''])},{rng.choice(['Yes', 'No', '0', '1'])}")
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def _measure(backend: str, overrides: dict, repeat: int) -> dict[str, list[float]]:
    from portal import create_app
    from portal.extensions import db
    from portal.models import Area, Organisation, OrgKind, User
    from portal.services import pupils, roster_import
    from portal.vocab import Role

    first = make_csv()
    mapping = roster_import.guess_mapping(roster_import.read_content(first).headings)
    # The second file: rows 250–5,249 of the same numbering, the first 500 of them in new forms.
    second = make_csv(start=250, changed=500)
    times: dict[str, list[float]] = {"parse 5,000 rows": [], "parse + first import": [],
                                     "parse + full re-import": []}
    app = create_app("testing", overrides)
    with app.app_context():
        db.create_all()
        area = Area(name="Bench")
        db.session.add(area)
        db.session.commit()
        area_id = area.id
        for run in range(repeat):
            school = Organisation(kind=OrgKind.SCHOOL, name=f"Bench School {run}", area_id=area_id,
                                  status="verified", urn=f"{900000 + run}", phase="secondary", names_opt_in=True)
            db.session.add(school)
            db.session.flush()
            lead = User(email=f"lead{run}@bench.example", name="Lead", password_hash="x", role=Role.CAREERS_LEAD,
                        status="active", organisation_id=school.id)
            db.session.add(lead)
            db.session.commit()
            years = pupils.school_years(school)

            started = time.perf_counter()
            result = roster_import.parse(first, mapping, years=years)
            times["parse 5,000 rows"].append(time.perf_counter() - started)
            assert result.ok and len(result.rows) == ROWS, result.problems[:3]

            started = time.perf_counter()
            result = roster_import.parse(first, mapping, years=years)
            summary = pupils.import_roster(school, result.rows, full_roster=True, by=lead)
            times["parse + first import"].append(time.perf_counter() - started)
            assert summary.added == ROWS, summary

            started = time.perf_counter()
            result = roster_import.parse(second, mapping, years=years)
            summary = pupils.import_roster(school, result.rows, full_roster=True, by=lead)
            times["parse + full re-import"].append(time.perf_counter() - started)
            assert (summary.added, summary.left) == (250, 250), summary
            db.session.expunge_all()
        db.session.remove()
        db.engine.dispose()
    return times


def _sqlite(repeat: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="encounters-bench-") as folder:
        return _measure("sqlite", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(folder) / 'bench.db'}"}, repeat)


def _postgres(url: str, repeat: int) -> dict[str, list[float]]:
    schema = f"enc_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        options = {"pool_pre_ping": True, "connect_args": {"options": f"-csearch_path={schema}"}}
        return _measure("postgresql", {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options}, repeat)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench roster", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (default 5)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL even if it answers")
    args = parser.parse_args(argv)
    os.environ.setdefault("PORTAL_ENV", "testing")
    results = {"sqlite": _sqlite(args.repeat)}
    url = None if args.sqlite_only else _pg_url()
    if url:
        results["postgresql"] = _postgres(url, args.repeat)
    else:
        print("PostgreSQL not reachable on 127.0.0.1:5432 (or --sqlite-only): SQLite only.")
    print()
    print(f"Roster import: a {ROWS:,}-row CSV (BOM, CRLF, quoted names), median of {args.repeat} runs; "
          f"goal < {GOAL_SECONDS:g} s")
    header = f"{'backend':<11} {'step':<24} {'median s':>8} {'max s':>7}"
    print(header)
    print("-" * len(header))
    failed = False
    for backend, times in results.items():
        for step, values in times.items():
            median = statistics.median(values)
            failed |= step != "parse 5,000 rows" and median >= GOAL_SECONDS
            print(f"{backend:<11} {step:<24} {median:>8.3f} {max(values):>7.3f}")
    print()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
